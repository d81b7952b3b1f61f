"""A generated province as records of the registry's exchange format (``docs/registry-format.md``).

One JSON-ready object per record, households first, then persons, memberships and journal entries, in a
fixed order, so the same nation always gives the same records. Memberships follow from the journal: a
person joins a household when born into it or moved into it, and leaves it when moving out or dying.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from tongban.nation.domain import Person, ProvinceNation

Record = dict[str, Any]
#: Who the journal names as the author of generated entries.
ACTOR = "nation-generator"


def household_records(nation: ProvinceNation) -> Iterator[Record]:
    for h in nation.households:
        yield {
            "type": "household",
            "number": h.number,
            "kind": h.kind,
            "address": h.address,
            "division": h.division_code,
            "created_on": h.created_on.isoformat(),
        }


def person_record(p: Person) -> Record:
    return {
        "type": "person",
        "id_number": p.id_number,
        "name": p.name,
        "sex": p.sex,
        "birth_date": p.birth_date.isoformat(),
        "ethnicity": p.ethnicity,
        "birthplace": p.birthplace,
    }


def membership_records(p: Person) -> Iterator[Record]:
    open_in: tuple[str, str, date] | None = None
    for e in p.events:
        if e.event in ("born", "moved_in") and e.household is not None:
            open_in = (e.household, e.relation or "other_relative", e.on)
        elif e.event in ("moved_out", "deceased") and open_in is not None:
            household, relation, start = open_in
            yield _membership(p, household, relation, start, e.on)
            open_in = None
    if open_in is not None:
        household, relation, start = open_in
        yield _membership(p, household, relation, start, None)


def _membership(p: Person, household: str, relation: str, start: date, end: date | None) -> Record:
    rec: Record = {
        "type": "membership",
        "household": household,
        "id_number": p.id_number,
        "relation": relation,
        "from": start.isoformat(),
    }
    if end is not None:
        rec["to"] = end.isoformat()
    return rec


def journal_records(p: Person) -> Iterator[Record]:
    for seq, e in enumerate(p.events, start=1):
        rec: Record = {
            "type": "journal",
            "id_number": p.id_number,
            "seq": seq,
            "event": e.event,
            "date": e.on.isoformat(),
            "actor": ACTOR,
            # Recorded on the day it happened (09:00 China time), so the same seed gives the same journal.
            "recorded_at": f"{e.on.isoformat()}T09:00:00+08:00",
        }
        if e.household is not None:
            rec["household"] = e.household
        if e.division_code is not None:
            rec["division"] = e.division_code
        if e.relation is not None and e.event in ("born", "moved_in"):
            rec["relation"] = e.relation
        if e.reason is not None:
            rec["reason"] = e.reason
        yield rec


def province_records(nation: ProvinceNation) -> Iterator[Record]:
    """Every record of one province's registry: households, then each person with their memberships and journal."""
    yield from household_records(nation)
    for p in nation.persons:
        yield person_record(p)
    for p in nation.persons:
        yield from membership_records(p)
    for p in nation.persons:
        yield from journal_records(p)
