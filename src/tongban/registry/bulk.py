"""Loading checked records fast: COPY on PostgreSQL, executemany on SQLite, in the caller's transaction.

Rows are built once as tuples in table-column order, dates and times already as the text both backends
read (and SQLite stores), and handed to the backend's fastest path: psycopg's
``cursor.copy`` (``COPY ... FROM STDIN``) or sqlite3's ``executemany``. Surrogate ids are reserved up
front: from the table's sequence on PostgreSQL, above the current maximum on SQLite (whose writing
transaction holds the database exclusively, so nobody else can take them meanwhile).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from queue import Queue
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tongban.core.db import Base
from tongban.registry.domain import RegistrationStatus, Relation, next_status
from tongban.registry.names import keys_of_names, search_keys
from tongban.registry.records import (
    NUMBER_KEY,
    PERSON_KEY,
    HouseholdJournalRec,
    HouseholdRec,
    JournalRec,
    MembershipRec,
    PersonRec,
)
from tongban.registry.store import HOUSEHOLDS, add_counts

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
    "registry_search_keys": ("key", "person_id", "division_code"),
    "registry_household_journal": (
        "household_id", "seq", "event", "on_date", "reason", "case_ref", "detail", "actor", "recorded_at",
    ),
}  # fmt: skip
COUNT_NAMES = {
    "registry_household_journal": "household_journal",
    "registry_persons": "persons",
    "registry_households": "households",
    "registry_memberships": "memberships",
    "registry_journal": "journal",
    "registry_search_keys": "search_keys",
}


class BackgroundKeys:
    """Search keys of the names of a large import, computed in a worker process while it checks and builds.

    Generating search keys (every pinyin reading of every name) is the largest piece of Python work of a
    load and needs no database, so on a machine with a second core it runs there, overlapping the checks.
    Names are sent in chunks as they are read; nothing starts below ``start_at`` names (a small import would
    only pay for starting the process). ``keys()`` waits for the results; ``close()`` ends the worker.
    """

    def __init__(self, *, start_at: int = 20_000, chunk: int = 5_000) -> None:
        self.start_at = start_at
        self.chunk = chunk
        self._pending: list[str] = []
        self._futures: list[tuple[list[str], Future[list[list[str]]]]] = []
        self._pool: ProcessPoolExecutor | None = None
        self._seen = 0

    def add(self, name: str) -> None:
        self._pending.append(name)
        self._seen += 1
        if self._seen >= self.start_at and len(self._pending) >= self.chunk:
            self._submit()

    def _submit(self) -> None:
        if not self._pending:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        names, self._pending = self._pending, []
        self._futures.append((names, self._pool.submit(keys_of_names, names)))

    def take(self) -> dict[str, list[str]]:
        """Keys by name of the names added since the last ``take`` (a chunked import, chunk by chunk)."""
        if self._seen < self.start_at:
            self._pending = []
            return {}
        found = self.keys()
        self._futures = []
        return found

    def keys(self) -> dict[str, list[str]]:
        """Keys by name of every name added (computed here for what was never sent)."""
        if self._seen < self.start_at:
            return {}
        self._submit()
        found: dict[str, list[str]] = {}
        for names, future in self._futures:
            found.update(zip(names, future.result(), strict=True))
        return found

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@dataclass
class Plan:
    households: list[HouseholdRec] = field(default_factory=list)
    persons: list[PersonRec] = field(default_factory=list)
    memberships: list[MembershipRec] = field(default_factory=list)
    journal: dict[str, list[JournalRec]] = field(default_factory=dict)  # by ID number, in order
    household_journal: list[HouseholdJournalRec] = field(default_factory=list)  # by household, in order
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    keys: BackgroundKeys | None = None  # search keys computed elsewhere meanwhile (large imports)
    known_keys: dict[str, list[str]] | None = None  # or already computed, by name (a chunk's)


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


def iter_rows(
    s: Session,
    plan: Plan,
    tally: dict[tuple[str, str], int] | None = None,
    *,
    earlier: dict[str, tuple[int, str]] | None = None,
    reserve: Callable[[str, int], list[int]] | None = None,
    find_persons: Callable[[list[str]], dict[str, int]] | None = None,
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Every row of the plan, ids assigned, table by table in load order (cheap tables first).

    ``tally`` receives the loaded persons per (jurisdiction, status) and households per (division,
    ``store.HOUSEHOLDS``): the deltas of the maintained counts. ``earlier`` (a chunked load): household
    number -> (id, division) of the households loaded by earlier chunks, which this plan's memberships and
    journal may name; this plan's households are added to it. ``reserve(table, n)`` takes the ids (by
    default ``reserve_ids`` on ``s``); ``find_persons(numbers)`` the ids of persons already written (named by
    a household journal entry but not in this plan; by default a query on ``s``)."""
    tally = {} if tally is None else tally
    take = reserve or (lambda table, n: reserve_ids(s, table, n))
    person_ids = dict(
        zip(
            (p.id_number for p in plan.persons),
            take("registry_persons", len(plan.persons)),
            strict=True,
        )
    )
    fresh = take("registry_households", len(plan.households))
    membership_ids = take("registry_memberships", len(plan.memberships))
    if earlier is None:
        household_ids: Any = dict(zip((h.number for h in plan.households), fresh, strict=True))
        divisions: Any = {h.number: h.division for h in plan.households}
    else:
        for hid, h in zip(fresh, plan.households, strict=True):
            earlier[h.number] = (hid, h.division)
        household_ids = _Column(earlier, 0)
        divisions = _Column(earlier, 1)
    for h in plan.households:
        tally[(h.division, HOUSEHOLDS)] = tally.get((h.division, HOUSEHOLDS), 0) + 1
    jurisdictions = {p.id_number: _jurisdiction(plan.journal[p.id_number], divisions) for p in plan.persons}
    yield (
        "registry_persons",
        [
            (
                person_ids[p.id_number],
                p.id_number,
                p.name,
                p.sex,
                _day(p.birth_date),
                p.ethnicity,
                p.birthplace,
            )
            for p in plan.persons
        ],
    )
    heads: dict[str, int] = {}
    current: dict[str, MembershipRec] = {}
    memberships = []
    for mid, m in zip(membership_ids, plan.memberships, strict=True):
        pid = person_ids[m.id_number]
        memberships.append(
            (mid, pid, household_ids[m.household], m.relation.value, _day(m.from_date), _day(m.to_date))
        )
        if m.to_date is None:
            current[m.id_number] = m
            if m.relation is Relation.HEAD:
                heads[m.household] = pid
    yield (
        "registry_households",
        [
            (
                household_ids[h.number],
                h.number,
                h.kind.value,
                h.address,
                h.division,
                heads.get(h.number),
                _day(h.created_on),
            )
            for h in plan.households
        ],
    )
    yield "registry_memberships", memberships
    known = (
        plan.known_keys
        if plan.known_keys is not None
        else (plan.keys.keys() if plan.keys is not None else {})
    )
    yield (
        "registry_search_keys",
        [
            (k, person_ids[p.id_number], jurisdictions[p.id_number])
            for p in plan.persons
            for k in (known.get(p.name) or search_keys(p.name))
        ],
    )
    states: list[tuple[Any, ...]] = []
    journal: list[tuple[Any, ...]] = []
    default_at = _instant(plan.recorded_at)
    for p in plan.persons:
        pid = person_ids[p.id_number]
        status: RegistrationStatus | None = None
        since = p.birth_date
        entries = plan.journal[p.id_number]
        for seq, j in enumerate(entries, start=1):
            after = next_status(status, j.event)
            if after is not status:
                since = j.on_date
            status = after
            journal.append(
                (
                    pid,
                    seq,
                    j.event.value,
                    _day(j.on_date),
                    after.value,
                    j.division,
                    household_ids[j.household] if j.household is not None else None,
                    j.relation.value if j.relation is not None else None,
                    j.reason,
                    j.case_ref,
                    json.dumps(j.detail, ensure_ascii=False) if j.detail is not None else None,
                    j.actor,
                    default_at
                    if j.recorded_at is None or j.recorded_at is plan.recorded_at
                    else _instant(j.recorded_at),
                )
            )
        assert status is not None
        key = (jurisdictions[p.id_number] or "", status.value)
        tally[key] = tally.get(key, 0) + 1
        here = current.get(p.id_number) if status is RegistrationStatus.ACTIVE else None
        states.append(
            (
                pid,
                status.value,
                household_ids[here.household] if here else None,
                divisions[here.household] if here else None,
                _day(since),
                len(entries),
            )
        )
    yield "registry_person_state", states
    yield "registry_journal", journal
    if plan.household_journal:
        named = {n for e in plan.household_journal for n in e.persons()}
        missing = [n for n in named if n not in person_ids]
        found = (find_persons or (lambda numbers: person_ids_of(s, numbers)))(missing) if missing else {}
        yield (
            "registry_household_journal",
            [
                (
                    household_ids[e.household],
                    seq,
                    e.event.value,
                    _day(e.on_date),
                    e.reason,
                    e.case_ref,
                    json.dumps(stored_detail(e.detail, {**found, **person_ids}), ensure_ascii=False)
                    if e.detail is not None
                    else None,
                    e.actor,
                    default_at
                    if e.recorded_at is None or e.recorded_at is plan.recorded_at
                    else _instant(e.recorded_at),
                )
                for seq, e in _numbered(plan.household_journal)
            ],
        )


def _numbered(entries: list[HouseholdJournalRec]) -> Iterator[tuple[int, HouseholdJournalRec]]:
    """Each entry with its seq (1, 2, 3, ... per household, in the plan's order)."""
    last: dict[str, int] = {}
    for e in entries:
        last[e.household] = last.get(e.household, 0) + 1
        yield last[e.household], e


def stored_detail(detail: dict[str, Any], person_ids: dict[str, int]) -> dict[str, Any]:
    """A household journal detail as stored: persons by surrogate id (``X_person_id``) instead of by ID
    number (``X_id_number``, the file's form)."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if key.endswith(NUMBER_KEY):
            out[key[: -len(NUMBER_KEY)] + PERSON_KEY] = person_ids[value] if value is not None else None
        else:
            out[key] = value
    return out


def person_ids_of(s: Session, numbers: Sequence[str]) -> dict[str, int]:
    """ID number -> surrogate id of the persons of the node among ``numbers``."""
    found: dict[str, int] = {}
    for i in range(0, len(numbers), 1000):
        rows = s.execute(
            sa.text("SELECT id_number, id FROM registry_persons WHERE id_number IN :numbers").bindparams(
                sa.bindparam("numbers", expanding=True)
            ),
            {"numbers": list(numbers[i : i + 1000])},
        )
        found.update({n: pid for n, pid in rows})
    return found


class _Column:
    """One field of a mapping's tuple values, read as a mapping (``[key]`` and ``get``)."""

    def __init__(self, mapping: dict[str, tuple[int, str]], index: int) -> None:
        self.mapping = mapping
        self.index = index

    def __getitem__(self, key: str) -> Any:
        return self.mapping[key][self.index]

    def get(self, key: str, default: Any = None) -> Any:
        found = self.mapping.get(key)
        return found[self.index] if found is not None else default


def _jurisdiction(entries: Sequence[JournalRec], divisions: dict[str, str]) -> str | None:
    """The division of the person's latest journal entry that names one (or names a household)."""
    for j in reversed(entries):
        division = j.division or (divisions.get(j.household) if j.household is not None else None)
        if division is not None:
            return division
    return None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: datetime) -> str:
    """The text both backends read as this instant (and SQLite stores, as ``UTCDateTime`` does)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def write_rows(
    s: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    advance: Callable[[int], None],
) -> None:
    """Write ``rows`` into ``table`` with the backend's fast path, in the session's transaction."""
    raw = s.connection().connection.driver_connection
    cols = ", ".join(columns)
    chunk = 10_000
    if s.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for i in range(0, len(rows), chunk):
                for row in rows[i : i + chunk]:
                    copy.write_row(row)
                advance(len(rows[i : i + chunk]))
        return
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in columns)})"
    for i in range(0, len(rows), chunk):
        raw.executemany(sql, rows[i : i + chunk])  # type: ignore[union-attr]
        advance(len(rows[i : i + chunk]))


def seed_counters(s: Session, person_range: tuple[int, int]) -> None:
    """Raise the ID counters past every number loaded with a surrogate id in ``person_range`` (inclusive),
    so that none is ever issued again."""
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
        {"lo": person_range[0], "hi": person_range[1]},
    )


def secondary_indexes() -> list[sa.Index]:
    """The non-unique indexes of the loaded tables: what a load into an empty node builds once at the end.

    Unique indexes stay: they are the node's guard against a number loaded twice."""
    tables = [Base.metadata.tables[name] for name in COLUMNS]
    return sorted((ix for t in tables for ix in t.indexes if not ix.unique), key=lambda ix: str(ix.name))


def foreign_keys() -> list[sa.ForeignKeyConstraint]:
    """The foreign keys of the loaded tables."""
    tables = [Base.metadata.tables[name] for name in COLUMNS]
    return sorted((fk for t in tables for fk in t.foreign_key_constraints), key=lambda fk: str(fk.name))


class Loader:
    """One load, in the session's transaction, fed plan by plan (a chunked import adds one plan per chunk).

    A writer thread sends each table of each plan to the database while the next one is built (and the next
    chunk read and checked), so the server's work (COPY, index and foreign-key maintenance) overlaps the
    work in Python. The session's connection is shared under ``lock``: the writer holds it per table, the
    caller takes it (``with loader.lock``) for anything else it runs on the session meanwhile.

    ``build_indexes_after`` (a load into an empty node): the secondary indexes (and on PostgreSQL the foreign
    keys among these tables) are dropped first and built (checked) once over all the rows by ``finish``, in
    the same transaction, instead of being maintained row by row.
    """

    def __init__(
        self,
        s: Session,
        *,
        progress: Callable[[int], None] | None = None,
        build_indexes_after: bool = False,
        chunked: bool = False,
    ) -> None:
        self.s = s
        self.pg = s.get_bind().dialect.name == "postgresql"
        if chunked and self.pg:
            # Between two parts the transaction waits while the next part is read and checked, longer than the
            # node's idle-in-transaction guard on a busy machine: this transaction gets a longer one.
            s.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = '30min'"))
        self.indexes = secondary_indexes() if build_indexes_after else []
        # On PostgreSQL the foreign keys among the loaded tables are checked once, as a whole, when they are
        # added back at the end, instead of by a trigger per row. (SQLite cannot drop a constraint in place.)
        self.keys = foreign_keys() if self.indexes and self.pg else []
        for fk in self.keys:
            s.execute(sa.schema.DropConstraint(fk))
        for ix in self.indexes:
            ix.drop(s.connection())
        self.advance = progress or (lambda _n: None)
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.tally: dict[tuple[str, str], int] = {}
        self.person_range: tuple[int, int] | None = None
        # household number -> (id, division) of everything loaded so far: later chunks may name them
        self.households: dict[str, tuple[int, str]] | None = {} if chunked else None
        self.failure: list[BaseException] = []
        self._queue: Queue[tuple[str, list[tuple[Any, ...]]] | None] = Queue(maxsize=2)
        s.connection()  # the transaction's connection, opened here, not in the writer
        self._thread = threading.Thread(target=self._write, name="registry-bulk-writer", daemon=True)
        self._thread.start()
        self._open = True

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            if not self.failure:
                try:
                    with self.lock:
                        write_rows(self.s, item[0], COLUMNS[item[0]], item[1], advance=self.advance)
                except BaseException as exc:
                    self.failure.append(exc)

    def _reserve(self, table: str, n: int) -> list[int]:
        with self.lock:
            return reserve_ids(self.s, table, n)

    def _find_persons(self, numbers: list[str]) -> dict[str, int]:
        with self.lock:
            return person_ids_of(self.s, numbers)

    def add(self, plan: Plan) -> None:
        """Build the plan's rows and queue them for the writer (raises what the writer met, if anything)."""
        for table, rows in iter_rows(
            self.s, plan, self.tally, earlier=self.households, reserve=self._reserve
        ):
            if self.failure:
                break
            self.counts[table] = self.counts.get(table, 0) + len(rows)
            if table == "registry_persons" and rows:
                lo, hi = rows[0][0], rows[-1][0]
                if self.person_range is not None:
                    lo, hi = min(lo, self.person_range[0]), max(hi, self.person_range[1])
                self.person_range = (lo, hi)
            self._queue.put((table, rows))
        if self.failure:
            self.close()
            raise self.failure[0]

    def close(self) -> None:
        """Stop the writer (after what is queued); idempotent."""
        if self._open:
            self._open = False
            self._queue.put(None)
            self._thread.join()

    def finish(self) -> dict[str, int]:
        """Wait for the writer, build the indexes and foreign keys, raise the ID counters past the loaded
        numbers and add the maintained counts; returns the rows written per kind."""
        self.close()
        if self.failure:
            raise self.failure[0]
        s = self.s
        if self.indexes and self.pg:
            s.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
        for ix in self.indexes:
            ix.create(s.connection())
        for fk in self.keys:
            s.execute(sa.schema.AddConstraint(fk))
        if self.person_range is not None:
            seed_counters(s, self.person_range)
        add_counts(s, self.tally)
        return {name: self.counts.get(table, 0) for table, name in COUNT_NAMES.items()}


def load(
    s: Session,
    plan: Plan,
    *,
    progress: Callable[[int], None] | None = None,
    build_indexes_after: bool = False,
) -> dict[str, int]:
    """Build and write every row of the plan, then raise the ID counters past the loaded numbers
    (a ``Loader`` fed this one plan)."""
    loader = Loader(s, progress=progress, build_indexes_after=build_indexes_after)
    try:
        loader.add(plan)
    finally:
        loader.close()
    return loader.finish()
