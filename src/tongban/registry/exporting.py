"""Export of a node's registry in the import format (``docs/registry-format.md``).

Records are written households first, then persons, memberships, journal entries and household journal
entries, each in the order of their natural keys, so that exporting the same registry twice gives the same bytes, and exporting a
node that was loaded from an export reproduces that export exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from tongban.core.db import Database
from tongban.registry.records import NUMBER_KEY, PERSON_KEY
from tongban.registry.tables import Household, HouseholdJournalEntry, JournalEntry, Membership, Person

BATCH = 5000


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: datetime) -> str:
    return value.isoformat()


def export_records(db: Database) -> Iterator[dict[str, Any]]:
    """Every record of the node's registry, in export order."""
    with db.session() as s:
        numbers: dict[int, str] = dict(s.execute(sa.select(Household.id, Household.number)).all())
        for h in s.scalars(
            sa.select(Household).order_by(Household.number).execution_options(yield_per=BATCH)
        ):
            yield {
                "type": "household",
                "number": h.number,
                "kind": h.kind,
                "address": h.address,
                "division": h.division_code,
                "created_on": _day(h.created_on),
            }
        for p in s.scalars(sa.select(Person).order_by(Person.id_number).execution_options(yield_per=BATCH)):
            yield {
                "type": "person",
                "id_number": p.id_number,
                "name": p.name,
                "sex": p.sex,
                "birth_date": _day(p.birth_date),
                "ethnicity": p.ethnicity,
                "birthplace": p.birthplace,
            }
        memberships = (
            sa.select(Membership, Person.id_number)
            .join(Person, Person.id == Membership.person_id)
            .order_by(Person.id_number, Membership.from_date, Membership.id)
            .execution_options(yield_per=BATCH)
        )
        for m, id_number in s.execute(memberships):
            yield {
                "type": "membership",
                "household": numbers[m.household_id],
                "id_number": id_number,
                "relation": m.relation,
                "from": _day(m.from_date),
                "to": _day(m.to_date),
            }
        entries = (
            sa.select(JournalEntry, Person.id_number)
            .join(Person, Person.id == JournalEntry.person_id)
            .order_by(Person.id_number, JournalEntry.seq)
            .execution_options(yield_per=BATCH)
        )
        for j, id_number in s.execute(entries):
            yield {
                "type": "journal",
                "id_number": id_number,
                "seq": j.seq,
                "event": j.event,
                "date": _day(j.on_date),
                "household": numbers[j.household_id] if j.household_id is not None else None,
                "division": j.division_code,
                "relation": j.relation,
                "reason": j.reason,
                "case_ref": j.case_ref,
                "detail": j.detail,
                "actor": j.actor,
                "recorded_at": _time(j.recorded_at),
            }
        household_entries = s.execute(
            sa.select(HouseholdJournalEntry, Household.number)
            .join(Household, Household.id == HouseholdJournalEntry.household_id)
            .order_by(Household.number, HouseholdJournalEntry.seq)
        ).all()  # a few per corrected household: small beside the rest
        named = {
            v
            for e, _ in household_entries
            for k, v in (e.detail or {}).items()
            if k.endswith(PERSON_KEY) and isinstance(v, int)
        }
        persons: dict[int, str] = {}
        ids = sorted(named)
        for i in range(0, len(ids), 1000):
            persons.update(
                {
                    pid: n
                    for pid, n in s.execute(
                        sa.select(Person.id, Person.id_number).where(Person.id.in_(ids[i : i + 1000]))
                    )
                }
            )
        for e, number in household_entries:
            yield {
                "type": "household_journal",
                "household": number,
                "seq": e.seq,
                "event": e.event,
                "date": _day(e.on_date),
                "reason": e.reason,
                "case_ref": e.case_ref,
                "detail": _file_detail(e.detail, persons) if e.detail is not None else None,
                "actor": e.actor,
                "recorded_at": _time(e.recorded_at),
            }


def _file_detail(detail: dict[str, Any], numbers: dict[int, str]) -> dict[str, Any]:
    """A stored household journal detail in the file's form: persons by ID number, not by surrogate id."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if key.endswith(PERSON_KEY):
            out[key[: -len(PERSON_KEY)] + NUMBER_KEY] = numbers[value] if value is not None else None
        else:
            out[key] = value
    return out


def dump_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_export(db: Database, out: IO[str]) -> int:
    n = 0
    for record in export_records(db):
        out.write(dump_line(record))
        n += 1
    return n


def export_to_file(db: Database, path: Path) -> int:
    """Write the node's registry to ``path`` (JSON Lines, UTF-8); returns the number of records."""
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as out:
        n = write_export(db, out)
    tmp.replace(path)
    return n
