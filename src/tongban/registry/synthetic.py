"""Synthetic registry records for tests, benchmarks and demonstrations: never real people.

``synthetic_records(n, node_code=...)`` yields records of the import format for about ``n`` persons in
family households (head, spouse, children, sometimes a parent) and a few collective ones, in counties of the
node's province in use today, with valid ID numbers (unique per area, birth date and sex), names drawn from
common surnames and given-name characters (polyphonic ones included), some middle-dot minority names and a
few characters outside the BMP. The same seed gives the same records.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from tongban.divisions.domain import get_catalog
from tongban.idnum.domain import make_id_number

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单乐查"
)
DOUBLE_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕飞鹏辉俊浩宇轩子涵欣怡梓晨雨思佳"
    "乐行长重朝藏曾单和好都传解率薄角会调朴仇翟区"
)
RARE = ("𠮷", "𡒄", "𨚕")
UYGHUR_GIVEN = ("阿依古丽", "买买提", "热依拉", "艾力", "古丽娜尔", "阿不都", "努尔", "帕提古丽")
UYGHUR_FATHER = ("买买提", "吐尔逊", "艾买提", "阿不都热依木", "依明", "库尔班")
ROADS = ("人民", "解放", "建设", "和平", "中山", "光明", "长安", "幸福", "朝阳", "胜利")


class _Ids:
    """Sequence numbers per (area, birth date, sex), so that generated ID numbers never repeat."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, date, int], int] = defaultdict(int)

    def new(self, area: str, born: date, male: bool) -> str | None:
        key = (area, born, int(male))
        seq = self.last[key] + 2 if self.last[key] else (1 if male else 2)
        if seq > 999:
            return None
        self.last[key] = seq
        return make_id_number(area, born, seq)


def _name(rng: random.Random) -> tuple[str, str]:
    """(name, ethnicity code)."""
    roll = rng.random()
    if roll < 0.02:
        return f"{rng.choice(UYGHUR_GIVEN)}·{rng.choice(UYGHUR_FATHER)}", "05"
    surname = rng.choice(DOUBLE_SURNAMES) if roll < 0.03 else rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    if roll > 0.999:
        given = rng.choice(RARE) + given[:1]
    ethnicity = "01" if rng.random() < 0.91 else rng.choice(("02", "03", "04", "06", "08", "10", "11", "15"))
    return surname + given, ethnicity


def _day(rng: random.Random, start: date, end: date) -> date:
    span = (end - start).days
    return start + timedelta(days=rng.randrange(max(span, 1)))


def synthetic_records(
    people: int, *, node_code: str, seed: int = 0, today: date | None = None, journal: bool = True
) -> Iterator[dict[str, Any]]:
    """Records for about ``people`` persons (exactly ``people``; the last household may be smaller)."""
    rng = random.Random(seed)
    today = today or date(2026, 1, 1)
    counties = [d.code for d in get_catalog().counties_of(node_code)]
    if not counties:
        raise ValueError(f"no counties in use for node {node_code}")
    names = {d: (get_catalog().get(d).name if get_catalog().get(d) else d) for d in counties}  # type: ignore[union-attr]
    ids = _Ids()
    made = 0
    serial = 0
    while made < people:
        serial += 1
        area = rng.choice(counties)
        number = f"{area}{seed % 100:02d}{serial:08d}"
        collective = rng.random() < 0.01
        head_born = _day(rng, date(1935, 1, 1), date(2000, 1, 1))
        created = _day(rng, max(head_born + timedelta(days=18 * 366), date(1985, 1, 1)), today)
        members: list[tuple[str, date]] = [("head", head_born)]
        if collective:
            members += [
                ("collective_member", _day(rng, date(1960, 1, 1), date(2006, 1, 1)))
                for _ in range(rng.randrange(3, 20))
            ]
        else:
            if rng.random() < 0.7:
                members.append(("spouse", head_born + timedelta(days=rng.randrange(-1500, 1500))))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                members.append(
                    (
                        "child",
                        _day(
                            rng,
                            head_born + timedelta(days=20 * 366),
                            min(today, head_born + timedelta(days=45 * 366)),
                        ),
                    )
                )
            if rng.random() < 0.1:
                members.append(("parent", head_born - timedelta(days=rng.randrange(20 * 366, 40 * 366))))
        household = {
            "type": "household",
            "number": number,
            "kind": "collective" if collective else "family",
            "address": f"{names[area]}{rng.choice(ROADS)}路{rng.randrange(1, 999)}号",
            "division": area,
            "created_on": created.isoformat(),
        }
        batch: list[dict[str, Any]] = []
        for relation, born in members[: people - made]:
            if born > today or born < date(1900, 1, 1):
                continue
            male = rng.random() < 0.5 if relation != "head" else rng.random() < 0.6
            id_number = ids.new(area if relation == "child" else rng.choice(counties), born, male)
            if id_number is None:
                if relation == "head":
                    break
                continue
            name, ethnicity = _name(rng)
            batch.append(
                {
                    "type": "person",
                    "id_number": id_number,
                    "name": name,
                    "sex": "male" if male else "female",
                    "birth_date": born.isoformat(),
                    "ethnicity": ethnicity,
                    "birthplace": id_number[:6],
                }
            )
            born_here = relation == "child" and born >= created
            joined = born if born_here else max(created, born)
            batch.append(
                {
                    "type": "membership",
                    "household": number,
                    "id_number": id_number,
                    "relation": relation,
                    "from": joined.isoformat(),
                    "to": None,
                }
            )
            if journal:
                batch.append(
                    {
                        "type": "journal",
                        "id_number": id_number,
                        "seq": 1,
                        "event": "born" if born_here else "moved_in",
                        "date": joined.isoformat(),
                        "household": number,
                        "division": area,
                        "relation": relation,
                        "actor": "synthetic",
                        "recorded_at": f"{joined.isoformat()}T09:00:00+08:00",
                    }
                )
            made += 1
        if batch:
            yield household
            yield from batch
