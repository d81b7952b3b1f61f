"""New ID numbers come from a counter per (area, birth date, sex), never from residents."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tongban.core.db import Database
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.node import NodeContext
from tongban.idnum.domain import parse_id
from tongban.registry import service
from tongban.registry.tables import IdCounter

from .registry_helpers import ACTOR, NOW, household, new_id, person

BORN = date(2026, 5, 1)


def test_numbers_alternate_by_sex_and_are_valid(node: NodeContext) -> None:
    males = [
        service.allocate_id_number(node, actor=ACTOR, area="110105", birth_date=BORN, sex="male")
        for _ in range(3)
    ]
    female = service.allocate_id_number(node, actor=ACTOR, area="110105", birth_date=BORN, sex="female")
    assert [parse_id(m).sequence for m in males] == [1, 3, 5]
    assert parse_id(female).sequence == 2 and parse_id(female).sex.value == "female"


def test_numbers_of_people_who_left_are_never_reissued(node: NodeContext) -> None:
    hh = household(node)
    p = person(node, hh, born=BORN, seq=1, on=date(2026, 5, 10))
    service.cancel_registration(node, actor=ACTOR, id_number=p.id_number, reason="death")
    # The counter never saw p (registered with an existing number): the allocator skips it anyway.
    assert service.allocate_id_number(
        node, actor=ACTOR, area="110105", birth_date=BORN, sex="male"
    ) == new_id(born=BORN, seq=3)


def test_exhaustion_is_a_clear_error(node: NodeContext) -> None:
    with node.db.transaction() as s:
        s.add(IdCounter(area="110105", birth_date=BORN, sex="male", last_sequence=999))
        s.add(IdCounter(area="110105", birth_date=BORN, sex="female", last_sequence=996))
    assert (
        parse_id(
            service.allocate_id_number(node, actor=ACTOR, area="110105", birth_date=BORN, sex="female")
        ).sequence
        == 998
    )
    for sex in ("male", "female"):
        with pytest.raises(Conflict) as err:
            service.allocate_id_number(node, actor=ACTOR, area="110105", birth_date=BORN, sex=sex)
        assert "No " + sex in err.value.render()
    with node.db.session() as s:  # the refused allocations changed nothing
        assert (
            s.execute(sa.select(IdCounter.last_sequence).where(IdCounter.sex == "male")).scalar_one() == 999
        )


def test_only_areas_of_this_node_in_use_today(node: NodeContext) -> None:
    for area in ("110103", "310101", "999999"):  # abolished in 2010; Shanghai; unknown
        with pytest.raises(InvalidInput):
            service.allocate_id_number(node, actor=ACTOR, area=area, birth_date=BORN, sex="male")


def test_concurrent_allocation_on_postgresql_gives_no_duplicates(pg_url: str, tmp_path: Path) -> None:
    from tongban.core.clock import FixedClock
    from tongban.core.node import NodeContext
    from tongban.core.settings import Settings

    settings = Settings(data_dir=tmp_path, db_pool_size=8)
    db = Database(pg_url, settings)
    node = NodeContext(code="110000", name="北京市", db=db, settings=settings, clock=FixedClock(NOW))
    got: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(sex: str) -> None:
        try:
            for _ in range(25):
                n = service.allocate_id_number(node, actor=ACTOR, area="110105", birth_date=BORN, sex=sex)
                with lock:
                    got.append(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=("male" if i % 2 else "female",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    assert not errors
    assert len(got) == 200 and len(set(got)) == 200
    seqs = sorted(parse_id(n).sequence for n in got)
    assert seqs == sorted([*range(1, 201, 2), *range(2, 201, 2)])
