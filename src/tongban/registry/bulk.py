"""Loading checked records fast: COPY on PostgreSQL, executemany on SQLite, in the caller's transaction.

Rows are built once as tuples in table-column order and handed to the backend's fastest path: psycopg's
``cursor.copy`` (``COPY ... FROM STDIN``) or sqlite3's ``executemany``. Surrogate ids are reserved up
front: from the table's sequence on PostgreSQL, above the current maximum on SQLite (whose writing
transaction holds the database exclusively, so nobody else can take them meanwhile).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tongban.registry.domain import RegistrationStatus, Relation, next_status
from tongban.registry.names import search_keys
from tongban.registry.records import HouseholdRec, JournalRec, MembershipRec, PersonRec

# Tables in load order (foreign keys point backwards), with the columns rows are built in.
COLUMNS: dict[str, tuple[str, ...]] = {
    "registry_persons": ("id", "id_number", "name", "sex", "birth_date", "ethnicity", "birthplace"),
    "registry_households": (
        "id", "number", "kind", "address", "division_code", "head_person_id", "created_on",
    ),
    "registry_memberships": ("id", "person_id", "household_id", "relation", "from_date", "to_date"),
    "registry_person_state": ("person_id", "status", "household_id", "division_code", "since", "last_seq"),
    "registry_journal": (
        "person_id", "seq", "event", "on_date", "status_after", "division_code", "household_id",
        "relation", "reason", "case_ref", "detail", "actor", "recorded_at",
    ),
    "registry_search_keys": ("key", "person_id"),
}  # fmt: skip
COUNT_NAMES = {
    "registry_persons": "persons",
    "registry_households": "households",
    "registry_memberships": "memberships",
    "registry_journal": "journal",
    "registry_search_keys": "search_keys",
}

Rows = dict[str, list[tuple[Any, ...]]]


@dataclass
class Plan:
    households: list[HouseholdRec] = field(default_factory=list)
    persons: list[PersonRec] = field(default_factory=list)
    memberships: list[MembershipRec] = field(default_factory=list)
    journal: dict[str, list[JournalRec]] = field(default_factory=dict)  # by ID number, in order
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def reserve_ids(s: Session, table: str, n: int) -> list[int]:
    """``n`` fresh surrogate ids for ``table``."""
    if n == 0:
        return []
    if s.get_bind().dialect.name == "postgresql":
        return list(
            s.execute(
                sa.text(
                    f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"
                ),
                {"n": n},
            ).scalars()
        )
    top = s.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return list(range(top + 1, top + 1 + n))


def build_rows(s: Session, plan: Plan) -> Rows:
    """Every row of the plan, ids assigned, per table (nothing written yet)."""
    person_ids = dict(
        zip(
            (p.id_number for p in plan.persons),
            reserve_ids(s, "registry_persons", len(plan.persons)),
            strict=True,
        )
    )
    household_ids = dict(
        zip(
            (h.number for h in plan.households),
            reserve_ids(s, "registry_households", len(plan.households)),
            strict=True,
        )
    )
    membership_ids = reserve_ids(s, "registry_memberships", len(plan.memberships))
    rows: Rows = {t: [] for t in COLUMNS}
    divisions = {h.number: h.division for h in plan.households}
    heads: dict[str, int] = {}
    current: dict[str, MembershipRec] = {}
    for mid, m in zip(membership_ids, plan.memberships, strict=True):
        pid = person_ids[m.id_number]
        rows["registry_memberships"].append(
            (mid, pid, household_ids[m.household], m.relation.value, m.from_date, m.to_date)
        )
        if m.to_date is None:
            current[m.id_number] = m
            if m.relation is Relation.HEAD:
                heads[m.household] = pid
    for p in plan.persons:
        pid = person_ids[p.id_number]
        rows["registry_persons"].append(
            (pid, p.id_number, p.name, p.sex, p.birth_date, p.ethnicity, p.birthplace)
        )
        rows["registry_search_keys"].extend((k, pid) for k in search_keys(p.name))
        status: RegistrationStatus | None = None
        since = p.birth_date
        entries = plan.journal[p.id_number]
        for seq, j in enumerate(entries, start=1):
            after = next_status(status, j.event)
            if after is not status:
                since = j.on_date
            status = after
            rows["registry_journal"].append(
                (
                    pid,
                    seq,
                    j.event.value,
                    j.on_date,
                    after.value,
                    j.division,
                    household_ids[j.household] if j.household is not None else None,
                    j.relation.value if j.relation is not None else None,
                    j.reason,
                    j.case_ref,
                    json.dumps(j.detail, ensure_ascii=False) if j.detail is not None else None,
                    j.actor,
                    j.recorded_at or plan.recorded_at,
                )
            )
        assert status is not None
        here = current.get(p.id_number)
        active = status is RegistrationStatus.ACTIVE and here is not None
        rows["registry_person_state"].append(
            (
                pid,
                status.value,
                household_ids[here.household] if active and here else None,
                divisions[here.household] if active and here else None,
                since,
                len(entries),
            )
        )
    for h in plan.households:
        rows["registry_households"].append(
            (
                household_ids[h.number],
                h.number,
                h.kind.value,
                h.address,
                h.division,
                heads.get(h.number),
                h.created_on,
            )
        )
    return rows


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_rows(
    s: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    advance: Callable[[int], None],
) -> None:
    """Write ``rows`` into ``table`` with the backend's fast path, in the session's transaction."""
    raw = s.connection().connection.driver_connection
    cols = ", ".join(columns)
    chunk = 10_000
    if s.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            n = 0
            for row in rows:
                copy.write_row(row)
                n += 1
                if n % chunk == 0:
                    advance(chunk)
            advance(n % chunk)
        return
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})"
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(v) for v in row))
        if len(batch) == chunk:
            raw.executemany(sql, batch)  # type: ignore[union-attr]
            advance(len(batch))
            batch = []
    if batch:
        raw.executemany(sql, batch)  # type: ignore[union-attr]
        advance(len(batch))


def write_tables(s: Session, rows: Rows, *, progress: Callable[[int], None] | None = None) -> None:
    advance = progress or (lambda _n: None)
    for table, columns in COLUMNS.items():
        if rows.get(table):
            write_rows(s, table, columns, rows[table], advance=advance)


def seed_counters(s: Session, person_ids: Sequence[int]) -> None:
    """Raise the ID counters past every loaded number, so that none is ever issued again."""
    if not person_ids:
        return
    pg = s.get_bind().dialect.name == "postgresql"
    bigger = (
        "GREATEST(registry_id_counters.last_sequence, excluded.last_sequence)"
        if pg
        else ("max(registry_id_counters.last_sequence, excluded.last_sequence)")
    )
    s.execute(
        sa.text(
            "INSERT INTO registry_id_counters (area, birth_date, sex, last_sequence) "
            "SELECT substr(id_number, 1, 6), birth_date, sex, max(CAST(substr(id_number, 15, 3) AS INTEGER)) "
            "FROM registry_persons WHERE id BETWEEN :lo AND :hi GROUP BY 1, 2, 3 "
            f"ON CONFLICT (area, birth_date, sex) DO UPDATE SET last_sequence = {bigger}"
        ),
        {"lo": min(person_ids), "hi": max(person_ids)},
    )


def load(s: Session, plan: Plan, *, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    rows = build_rows(s, plan)
    write_tables(s, rows, progress=progress)
    seed_counters(s, [r[0] for r in rows["registry_persons"]])
    return {name: len(rows[table]) for table, name in COUNT_NAMES.items()}


def total_rows(rows: Rows) -> int:
    return sum(len(v) for v in rows.values())
