"""Use cases of the synthetic nation's own data: recording and reading residents from other provinces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tongban.core.node import NodeContext
from tongban.nation import store
from tongban.nation.domain import Person


@dataclass(frozen=True)
class ResidentView:
    id_number: str
    name: str
    sex: str
    birth_date: date
    hukou_province: str
    division_code: str
    address: str
    since: date
    has_permit: bool


def record_residents(node: NodeContext, /, *, residents: list[tuple[str, Person]]) -> int:
    """Record people who live in ``node``'s province: ``(hukou province code, person)`` pairs, one transaction."""
    rows: list[dict[str, object]] = []
    for hukou, p in residents:
        r = p.residence
        if r is None or r.province_code != node.code:
            raise ValueError("a resident must live in the node's province")
        rows.append(
            {
                "id_number": p.id_number,
                "name": p.name,
                "sex": p.sex,
                "birth_date": p.birth_date,
                "hukou_province": hukou,
                "division_code": r.division_code,
                "address": r.address,
                "since": r.since,
                "has_permit": r.has_permit,
            }
        )
    with node.db.transaction() as s:
        store.add_residents(s, rows)
    return len(rows)


def count_residents(node: NodeContext, /) -> int | None:
    """How many residents from other provinces the node records (None: its schema has no such table yet)."""
    with node.db.session() as s:
        if not store.has_table(s):
            return None
        return store.count_residents(s)


def residents(node: NodeContext, /) -> list[ResidentView]:
    with node.db.session() as s:
        return [
            ResidentView(
                id_number=r.id_number,
                name=r.name,
                sex=r.sex,
                birth_date=r.birth_date,
                hukou_province=r.hukou_province,
                division_code=r.division_code,
                address=r.address,
                since=r.since,
                has_permit=r.has_permit,
            )
            for r in store.all_residents(s)
        ]
