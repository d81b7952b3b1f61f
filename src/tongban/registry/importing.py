"""Import of a node's records: check the whole file first, then load it in one transaction, fast.

``import_records`` checks every record alone (``records.RecordReader``) and then all together: duplicate
households and persons (in the file and in the node), memberships and journal entries that point at
nothing, a person in two households, a family household without a head (or with two), journals that break
the transition table or disagree with the memberships. Any bad record and nothing is imported; with
``skip_invalid`` the bad records are rejected together with every record that depends on them (a rejected
head takes their household, and so its members, along), and the rest is imported.

The load itself uses each backend's fast path (``bulk``): COPY on PostgreSQL, executemany on SQLite.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tongban.audit.service import record_batch
from tongban.core.clock import Clock, SystemClock
from tongban.core.db import Database
from tongban.core.errors import Conflict
from tongban.core.i18n import N_, gettext
from tongban.divisions.domain import get_catalog
from tongban.registry import bulk, store
from tongban.registry.domain import (
    HOUSEHOLD_EVENTS,
    HouseholdKind,
    JournalEvent,
    RegistrationStatus,
    Relation,
    next_status,
)
from tongban.registry.hooks import RegistrationChange, RegistrationListener, change_of
from tongban.registry.records import (
    HouseholdJournalRec,
    HouseholdRec,
    JournalRec,
    MembershipRec,
    PersonRec,
    Record,
    RecordError,
    RecordReader,
)
from tongban.registry.service import CHINA

Reason = tuple[str, dict[str, Any]]  # an English msgid and its parameters


def _r(message: str, /, **params: Any) -> Reason:
    return message, params


@dataclass(frozen=True)
class RowError:
    """A bad record: its line, and why (an English msgid with parameters, shown in the user's language)."""

    line: int
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.message.format(**self.params)

    def text(self, locale: str) -> str:
        return gettext(locale, self.message, **self.params)


@dataclass
class ImportReport:
    households: int = 0
    persons: int = 0
    memberships: int = 0
    journal: int = 0
    search_keys: int = 0
    household_journal: int = 0
    errors: list[RowError] = field(default_factory=list)  # every bad record, by line
    rejected_lines: list[int] = field(default_factory=list)  # with skip_invalid: every line not imported
    seconds: dict[str, float] = field(default_factory=dict)


class ImportRefused(Exception):
    """The file has bad records and ``skip_invalid`` was not asked for: nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} bad record(s); nothing was imported")
        self.errors = errors


def read_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed object) for each non-empty line; a line that is not JSON yields its error."""
    with path.open(encoding="utf-8") as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield n, json.loads(text)
            except json.JSONDecodeError:
                yield n, RecordError(N_("Not valid JSON."))


class _Checker:
    """Cross-record checks, repeated until no more entities fall (``skip_invalid``) or run once."""

    def __init__(
        self,
        *,
        cascade: bool,
        earlier_households: Mapping[str, object] | None = None,
        bad_households: set[str] | None = None,
    ) -> None:
        self.cascade = cascade
        # a chunked import: households of earlier chunks (which memberships and journal entries may name),
        # and the set of every rejected household so far (shared from chunk to chunk)
        self.earlier: Mapping[str, object] = earlier_households or {}
        self.households: dict[str, HouseholdRec] = {}
        self.persons: dict[str, PersonRec] = {}
        self.memberships: dict[str, list[MembershipRec]] = defaultdict(list)  # by id number
        self.journal: dict[str, list[JournalRec]] = defaultdict(list)
        self.household_journal: dict[str, list[HouseholdJournalRec]] = defaultdict(list)  # by household
        self.earlier_persons: Callable[[str], bool] = lambda _number: False  # chunked: in an earlier part
        self.errors: dict[int, Reason] = {}
        self.bad_households: set[str] = set() if bad_households is None else bad_households
        self.bad_persons: set[str] = set()
        self.orphan_lines: list[int] = []  # records whose person or household is not in the file at all

    def fail(self, line: int, message: str, /, **params: Any) -> None:
        self.errors.setdefault(line, (message, params))

    def fail_dependent(self, line: int, message: str, /, **params: Any) -> None:
        """A record refused only because one it depends on is bad: named when skipping, else left out."""
        if self.cascade:
            self.fail(line, message, **params)

    def add(self, rec: Record) -> None:
        if isinstance(rec, HouseholdRec):
            first = self.households.get(rec.number)
            if first is not None:
                self.fail(rec.line, N_("Duplicate household number (first on line {line})."), line=first.line)
                self.bad_households.add(rec.number)
            else:
                self.households[rec.number] = rec
        elif isinstance(rec, PersonRec):
            first_p = self.persons.get(rec.id_number)
            if first_p is not None:
                self.fail(rec.line, N_("Duplicate ID number (first on line {line})."), line=first_p.line)
                self.bad_persons.add(rec.id_number)
            else:
                self.persons[rec.id_number] = rec
        elif isinstance(rec, MembershipRec):
            self.memberships[rec.id_number].append(rec)
        elif isinstance(rec, HouseholdJournalRec):
            self.household_journal[rec.household].append(rec)
        else:
            self.journal[rec.id_number].append(rec)

    def check_references(self) -> None:
        for number, ms in self.memberships.items():
            for m in ms:
                if number in self.bad_persons:
                    self.fail_dependent(m.line, N_("The person's record is rejected."))
                elif number not in self.persons:
                    self.fail(m.line, N_("A membership of a person not in the file."))
                    self.orphan_lines.append(m.line)
                elif m.household in self.bad_households:
                    self.fail_dependent(m.line, N_("Household {number} is rejected."), number=m.household)
                    self.bad_persons.add(number)
                elif m.household not in self.households and m.household not in self.earlier:
                    self.fail(m.line, N_("A membership of unknown household {number}."), number=m.household)
                    self.bad_persons.add(number)
                elif m.to_date is None and m.household not in self.households:
                    self.fail(m.line, N_(HOUSEHOLD_EARLIER), number=m.household)
                    self.bad_persons.add(number)
        for number, js in self.journal.items():
            for j in js:
                if number in self.bad_persons:
                    self.fail_dependent(j.line, N_("The person's record is rejected."))
                elif number not in self.persons:
                    self.fail(j.line, N_("A journal entry of a person not in the file."))
                    self.orphan_lines.append(j.line)
                elif j.household is not None and j.household in self.bad_households:
                    self.fail_dependent(j.line, N_("Household {number} is rejected."), number=j.household)
                    self.bad_persons.add(number)
                elif (
                    j.household is not None
                    and j.household not in self.households
                    and j.household not in self.earlier
                ):
                    self.fail(
                        j.line, N_("A journal entry names unknown household {number}."), number=j.household
                    )
                    self.bad_persons.add(number)

        for household, entries in self.household_journal.items():
            if household not in self.households and household not in self.earlier:
                for e in entries:
                    self.fail(e.line, N_("A household journal entry of unknown household {number}."),
                              number=household)  # fmt: skip
                    self.orphan_lines.append(e.line)
                continue
            if household not in self.households:
                for e in entries:
                    self.fail(e.line, N_(HOUSEHOLD_EARLIER), number=household)
                    self.orphan_lines.append(e.line)
                continue
            problem = self._household_journal_problem(entries)
            if problem is not None:
                self.fail(problem[0], problem[1][0], **problem[1][1])
                self.bad_households.add(household)

    def _household_journal_problem(self, entries: list[HouseholdJournalRec]) -> tuple[int, Reason] | None:
        seqs = [e.seq for e in entries]
        if any(q is None for q in seqs) and any(q is not None for q in seqs):
            return entries[0].line, _r(N_("Give seq on all of a household's journal entries or on none."))
        ordered = sorted(entries, key=lambda e: e.seq or 0) if seqs[0] is not None else entries
        last: date | None = None
        for i, e in enumerate(ordered, start=1):
            if e.seq is not None and e.seq != i:
                return e.line, _r(N_("Journal sequence numbers must run 1, 2, 3, ... (expected {n})."), n=i)
            if last is not None and e.on_date < last:
                return e.line, _r(N_("Journal dates go backwards."))
            for number in e.persons():
                if number not in self.persons and not self.earlier_persons(number):
                    return e.line, _r(N_("The entry names a person not in the file."))
            last = e.on_date
        return None

    def check_people(self) -> None:
        for number, p in self.persons.items():
            if number in self.bad_persons:
                continue
            problem = self._person_problem(p)
            if problem is not None:
                line, (message, params), dependent = problem
                (self.fail_dependent if dependent else self.fail)(line, message, **params)
                self.bad_persons.add(number)

    def _person_problem(self, p: PersonRec) -> tuple[int, Reason, bool] | None:
        """(line, reason, whether it only follows from another rejection) of what is wrong with ``p``."""
        ms = self.memberships.get(p.id_number, [])
        for m in ms:
            if m.household in self.bad_households:
                return m.line, _r(N_("Household {number} is rejected."), number=m.household), True
            if m.from_date < p.birth_date:
                return m.line, _r(N_("The membership starts before the person's birth.")), False
        open_ms = [m for m in ms if m.to_date is None]
        if len(open_ms) > 1:
            return (
                open_ms[1].line,
                _r(N_("A person in two households (also line {line})."), line=open_ms[0].line),
                False,
            )
        entries = self.journal.get(p.id_number)
        if not entries:
            if not open_ms:
                return p.line, _r(N_("A person with neither a current household nor a journal.")), False
            return None
        seqs = [j.seq for j in entries]
        if any(s is None for s in seqs) and any(s is not None for s in seqs):
            return entries[0].line, _r(N_("Give seq on all of a person's journal entries or on none.")), False
        ordered = sorted(entries, key=lambda j: j.seq or 0) if seqs[0] is not None else entries
        status: RegistrationStatus | None = None
        last: date | None = None
        for i, j in enumerate(ordered, start=1):
            if j.seq is not None and j.seq != i:
                return (
                    j.line,
                    _r(N_("Journal sequence numbers must run 1, 2, 3, ... (expected {n})."), n=i),
                    False,
                )
            if last is not None and j.on_date < last:
                return j.line, _r(N_("Journal dates go backwards.")), False
            if j.household in self.bad_households:
                return j.line, _r(N_("Household {number} is rejected."), number=j.household), True
            try:
                status = next_status(status, j.event)
            except Conflict:
                before = status.value if status else "unregistered"
                return (
                    j.line,
                    _r(N_("Illegal transition: {status} -> {event}."), status=before, event=j.event.value),
                    False,
                )
            if j.event in HOUSEHOLD_EVENTS and j.household is None:
                return j.line, _r(N_("A {event} entry must name its household."), event=j.event.value), False
            last = j.on_date
        if (status is RegistrationStatus.ACTIVE) != bool(open_ms):
            ends = status.value if status else "unregistered"
            return (
                p.line,
                _r(
                    N_("The journal ends {status} but the person has a current household.")
                    if open_ms
                    else N_("The journal ends {status} but the person has no current household."),
                    status=ends,
                ),
                False,
            )
        placed = [j for j in ordered if j.event in HOUSEHOLD_EVENTS]
        if open_ms and placed and placed[-1].household != open_ms[0].household:
            return p.line, _r(N_("The journal and the memberships disagree on the current household.")), False
        return None

    def check_households(self) -> None:
        members: dict[str, list[MembershipRec]] = defaultdict(list)
        for number, ms in self.memberships.items():
            if number not in self.persons or (self.cascade and number in self.bad_persons):
                continue
            for m in ms:
                if m.to_date is None:
                    members[m.household].append(m)
        for number, h in self.households.items():
            if number in self.bad_households:
                continue
            current = members.get(number, [])
            heads = [m for m in current if m.relation is Relation.HEAD]
            problem: tuple[int, Reason] | None = None
            fallen = [
                e for e in self.household_journal.get(number, []) if set(e.persons()) & self.bad_persons
            ]
            if fallen:
                self.fail_dependent(fallen[0].line, N_("The entry names a rejected person."))
                self.bad_households.add(number)
                continue
            if len(heads) > 1:
                problem = (
                    heads[1].line,
                    _r(N_("A second head of the household (also line {line})."), line=heads[0].line),
                )
            elif h.kind is HouseholdKind.FAMILY and current and not heads:
                problem = h.line, _r(N_("A household without a head."))
            else:
                for m in current:
                    fits = (
                        m.relation in (Relation.HEAD, Relation.COLLECTIVE_MEMBER)
                        if h.kind is HouseholdKind.COLLECTIVE
                        else m.relation is not Relation.COLLECTIVE_MEMBER
                    )
                    if not fits:
                        problem = (
                            m.line,
                            _r(
                                N_("Relation {relation} does not fit a {kind} household."),
                                relation=m.relation.value,
                                kind=h.kind.value,
                            ),
                        )
                        break
            if problem is not None:
                self.fail(problem[0], problem[1][0], **problem[1][1])
                self.bad_households.add(number)

    def run(self) -> None:
        self.check_references()
        while True:
            before = (len(self.bad_households), len(self.bad_persons))
            self.check_people()
            self.check_households()
            if not self.cascade or (len(self.bad_households), len(self.bad_persons)) == before:
                return

    def rejected_lines(self) -> set[int]:
        out = set(self.errors) | set(self.orphan_lines)
        for number in self.bad_households:
            if number in self.households:
                out.add(self.households[number].line)
        for number in self.bad_persons:
            if number in self.persons:
                out.add(self.persons[number].line)
            out.update(m.line for m in self.memberships.get(number, []))
            out.update(j.line for j in self.journal.get(number, []))
        for number in self.bad_households:
            out.update(e.line for e in self.household_journal.get(number, []))
        return out


# A chunked import checks and loads a file in parts of whole households (see ``import_records``).
HOUSEHOLD_EARLIER = (
    "Household {number} and its current members must come in the same part of the file: put a household's "
    "current members after it, before the next households."
)
PERSON_EARLIER = (
    "The person's record came earlier, in another part of the file: keep a person's records together, after "
    "the person's record and before the next households."
)
DEFAULT_CHUNK = 50_000


def import_records(
    db: Database,
    records: Iterable[object] | Iterable[tuple[int, object]],
    *,
    node_code: str,
    actor: str = "system:import",
    skip_invalid: bool = False,
    numbered: bool = False,
    clock: Clock | None = None,
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
    batch_id: str | None = None,
    listener: RegistrationListener | None = None,
    parallel_keys_from: int = 20_000,
    chunk: int | None = None,
) -> ImportReport:
    """Check ``records`` as a whole and load them into the node's database in one transaction.

    ``records`` are parsed JSON objects of the format (``numbered``: ``(line, object)`` pairs, as
    ``read_jsonl`` yields; otherwise the n-th record is line n). Raises ``ImportRefused`` listing every
    bad record when any is bad and ``skip_invalid`` is false; then nothing is written. The import is
    audited as one batch (``source``: the file's name, ``batch_id``: given or generated). From
    ``parallel_keys_from`` persons on, their search keys are computed in a worker process meanwhile.

    ``chunk`` (persons): read, check and load the records in parts of whole households, so that memory
    stays bounded whatever the size of the file: a part closes at a household record once it holds
    ``chunk`` persons or more. Everything is still one transaction: every part is checked (and every bad
    record named) before it commits, and any bad record rolls the whole import back, so nothing is
    imported. Across parts, the ID numbers and household numbers seen so far are kept (compactly) and
    checked; a person's records, and a household's current members, must come in the same part as the
    person (the household): files written in the order of ``synthetic_records`` (each household followed by
    its members' records) or of ``tongban registry export`` (everything one part) qualify.
    """
    clock = clock or SystemClock()
    now = clock.now()
    today = now.astimezone(CHINA).date()
    catalog = get_catalog()
    reader = RecordReader(node_code=node_code, today=today, ever_existed=catalog.ever_existed)
    checker = _Checker(cascade=skip_invalid)
    report = ImportReport()
    t0 = time.perf_counter()
    pairs: Iterable[tuple[int, object]] = (
        records if numbered else enumerate(records, start=1)  # type: ignore[assignment]
    )
    with contextlib.closing(bulk.BackgroundKeys(start_at=parallel_keys_from)) as keys:
        if chunk is not None:
            return _import_chunked(
                db, pairs, keys, chunk=chunk, reader=reader, report=report, t0=t0, skip_invalid=skip_invalid,
                actor=actor, now=now, progress=progress, listener=listener, batch_id=batch_id, source=source,
            )  # fmt: skip
        return _import_checked(
            db, pairs, keys, reader=reader, checker=checker, report=report, t0=t0, skip_invalid=skip_invalid,
            actor=actor, now=now, progress=progress, listener=listener, batch_id=batch_id, source=source,
        )  # fmt: skip


def _audit_import(
    s: Session, *, actor: str, count: int, now: datetime, batch_id: str | None, source: str | None
) -> None:
    """The import's one audit row (a batch: its id, size and file name)."""
    record_batch(
        s,
        actor=actor,
        action="registry.import.run",
        object_type="registry",
        batch_id=batch_id or uuid.uuid4().hex,
        count=count,
        at=now,
        source=source,
    )


def _counted(report: ImportReport, counts: Mapping[str, int]) -> ImportReport:
    """``report`` with the loader's row counts."""
    report.households = counts["households"]
    report.persons = counts["persons"]
    report.memberships = counts["memberships"]
    report.journal = counts["journal"]
    report.search_keys = counts["search_keys"]
    report.household_journal = counts["household_journal"]
    return report


def _parts(pairs: Iterable[tuple[int, object]], chunk: int) -> Iterator[list[tuple[int, object]]]:
    """The records in parts of whole households: a part closes before a household record once it holds
    ``chunk`` persons or more."""
    part: list[tuple[int, object]] = []
    persons = 0
    for line, raw in pairs:
        kind = raw.get("type") if isinstance(raw, Mapping) else None
        if kind == "household" and persons >= chunk:
            yield part
            part, persons = [], 0
        elif kind == "person":
            persons += 1
        part.append((line, raw))
    if part:
        yield part


def _id_key(number: str) -> int:
    """An ID number as a compact integer (its 17 digits, the check character as a last digit, X as 10)."""
    last = number[-1]
    return int(number[:-1]) * 11 + (10 if last in "Xx" else int(last))


def _import_chunked(
    db: Database,
    pairs: Iterable[tuple[int, object]],
    keys: bulk.BackgroundKeys,
    *,
    chunk: int,
    reader: RecordReader,
    report: ImportReport,
    t0: float,
    skip_invalid: bool,
    actor: str,
    now: datetime,
    progress: Callable[[int], None] | None,
    listener: RegistrationListener | None,
    batch_id: str | None,
    source: str | None,
) -> ImportReport:
    """``import_records`` part by part in one transaction: check a part, load it (while the next part is
    read and checked), and at the end either build the indexes and commit, or, if any record was bad (and
    ``skip_invalid`` is false), roll everything back and name every bad record of the whole file."""
    checking = 0.0
    errors: list[RowError] = []
    rejected_all: list[int] = []
    person_lines: dict[int, int] = {}  # compact ID number -> line, of every person seen
    household_lines: dict[str, int] = {}  # household number -> line, of every household seen
    bad_households: set[str] = set()
    with _race_as_conflict(), db.transaction() as s:
        empty = store.is_empty(s)
        loader = bulk.Loader(s, progress=progress, build_indexes_after=empty, chunked=True)
        try:
            for part in _parts(pairs, chunk):
                started = time.perf_counter()
                checker = _Checker(
                    cascade=skip_invalid,
                    earlier_households=household_lines,
                    bad_households=bad_households,
                )
                checker.earlier_persons = lambda n: _id_key(n) in person_lines
                _read_part(part, reader, checker, keys)
                _check_part(checker, person_lines, household_lines)
                if not empty:
                    with loader.lock:
                        _check_node(s, checker)
                checker.run()
                part_errors = [RowError(ln, m, p) for ln, (m, p) in sorted(checker.errors.items())]
                errors.extend(part_errors)
                rejected = checker.rejected_lines()
                rejected_all.extend(rejected)
                for number, h in checker.households.items():
                    household_lines.setdefault(number, h.line)
                for number, p in checker.persons.items():
                    person_lines.setdefault(_id_key(number), p.line)
                found = keys.take()
                checking += time.perf_counter() - started
                if errors and not skip_invalid:
                    continue  # nothing will be imported: check the rest, to name every bad record
                plan = _plan(checker, rejected, actor=actor, now=now)
                plan.known_keys = found
                loader.add(plan)
                if listener is not None:
                    with loader.lock:
                        listener(s, _changes(plan, now))
        finally:
            loader.close()
        report.seconds["check"] = checking
        report.errors = errors
        if errors and not skip_invalid:
            raise ImportRefused(errors)
        report.rejected_lines = sorted(rejected_all)
        counts = loader.finish()
        _audit_import(s, actor=actor, count=counts["persons"], now=now, batch_id=batch_id, source=source)
    report.seconds["load"] = time.perf_counter() - t0 - checking
    return _counted(report, counts)


def _read_part(
    part: list[tuple[int, object]], reader: RecordReader, checker: _Checker, keys: bulk.BackgroundKeys
) -> None:
    for line, raw in part:
        if isinstance(raw, RecordError):
            checker.fail(line, raw.message, **raw.params)
            continue
        try:
            rec = reader.read(line, raw)
            checker.add(rec)
            if isinstance(rec, PersonRec):
                keys.add(rec.name)
        except RecordError as exc:
            checker.fail(line, exc.message, **exc.params)
            owner = raw.get("id_number") if isinstance(raw, Mapping) else None
            if isinstance(raw, Mapping) and raw.get("type") == "household":
                checker.bad_households.add(str(raw.get("number")))
            elif isinstance(owner, str):
                checker.bad_persons.add(owner)


def _check_part(checker: _Checker, person_lines: dict[int, int], household_lines: dict[str, int]) -> None:
    """What a part's records may clash with in the earlier parts: numbers seen before, and records of a
    person from an earlier part."""
    for number, h in checker.households.items():
        first = household_lines.get(number)
        if first is not None:
            checker.fail(h.line, N_("Duplicate household number (first on line {line})."), line=first)
            checker.bad_households.add(number)
    for number, p in checker.persons.items():
        first = person_lines.get(_id_key(number))
        if first is not None:
            checker.fail(p.line, N_("Duplicate ID number (first on line {line})."), line=first)
            checker.bad_persons.add(number)
    for number in [*checker.memberships, *checker.journal]:
        if number not in checker.persons and _id_key(number) in person_lines:
            recs: list[MembershipRec | JournalRec] = [
                *checker.memberships.get(number, []),
                *checker.journal.get(number, []),
            ]
            for rec in recs:
                checker.fail(rec.line, N_(PERSON_EARLIER))
            checker.memberships.pop(number, None)
            checker.journal.pop(number, None)


def _check_node(s: Session, checker: _Checker) -> None:
    """Numbers of the records already in the node (loaded before this import)."""
    for number in store.existing_household_numbers(s, list(checker.households)):
        checker.fail(checker.households[number].line, N_("The household number is already in this node."))
        checker.bad_households.add(number)
    for number in store.existing_id_numbers(s, list(checker.persons)):
        checker.fail(checker.persons[number].line, N_("The person is already registered in this node."))
        checker.bad_persons.add(number)


def _import_checked(
    db: Database,
    pairs: Iterable[tuple[int, object]],
    keys: bulk.BackgroundKeys,
    *,
    reader: RecordReader,
    checker: _Checker,
    report: ImportReport,
    t0: float,
    skip_invalid: bool,
    actor: str,
    now: datetime,
    progress: Callable[[int], None] | None,
    listener: RegistrationListener | None,
    batch_id: str | None,
    source: str | None,
) -> ImportReport:
    """The body of ``import_records``: read and check every record, then load the good ones."""
    for line, raw in pairs:
        if isinstance(raw, RecordError):
            checker.fail(line, raw.message, **raw.params)
            continue
        try:
            rec = reader.read(line, raw)
            checker.add(rec)
            if isinstance(rec, PersonRec):
                keys.add(rec.name)
        except RecordError as exc:
            checker.fail(line, exc.message, **exc.params)
            owner = raw.get("id_number") if isinstance(raw, Mapping) else None
            if isinstance(raw, Mapping) and raw.get("type") == "household":
                checker.bad_households.add(str(raw.get("number")))
            elif isinstance(owner, str):
                checker.bad_persons.add(owner)
    # A concurrent load into an empty node rebuilds the tables' indexes: on PostgreSQL this read can then be
    # the victim of a deadlock with it, which is the same lost race as in the load below.
    with _race_as_conflict(), db.session() as s:
        if not store.is_empty(s):
            _check_node(s, checker)
    checker.run()
    report.errors = [RowError(line, m, p) for line, (m, p) in sorted(checker.errors.items())]
    report.seconds["check"] = time.perf_counter() - t0
    if report.errors and not skip_invalid:
        raise ImportRefused(report.errors)
    rejected = checker.rejected_lines()
    report.rejected_lines = sorted(rejected)
    plan = _plan(checker, rejected, actor=actor, now=now)
    plan.keys = keys
    t1 = time.perf_counter()
    with _race_as_conflict(), db.transaction() as s:
        empty = _check_still_free(s, plan)
        counts = bulk.load(s, plan, progress=progress, build_indexes_after=empty)
        if listener is not None:
            # One call for the whole import: the exchange batches it into a few envelopes.
            listener(s, _changes(plan, now))
        _audit_import(s, actor=actor, count=counts["persons"], now=now, batch_id=batch_id, source=source)
    report.seconds["load"] = time.perf_counter() - t1
    return _counted(report, counts)


RACE = N_(
    "Some of these ID numbers or household numbers were registered by someone else while the file was "
    "being imported: nothing was imported. Import the file again to see which records are affected."
)
# SQLSTATEs of a load that lost to a concurrent writer: unique violation, deadlock, serialization failure.
_RACE_STATES = frozenset({"23505", "40P01", "40001"})


def _check_still_free(s: Session, plan: bulk.Plan) -> bool:
    """Inside the load's transaction, the numbers checked before must still be free.

    On SQLite the writing transaction holds the database, so this check is final. On PostgreSQL a
    concurrent transaction not yet committed is invisible here: its unique keys make the COPY wait for it
    and then fail, which ``_lost_race`` turns into the same ``Conflict``. Returns whether the node is empty.
    """
    if store.is_empty(s):
        return True
    if store.existing_household_numbers(s, [h.number for h in plan.households]) or store.existing_id_numbers(
        s, [p.id_number for p in plan.persons]
    ):
        raise Conflict(RACE)
    return False


@contextlib.contextmanager
def _race_as_conflict() -> Iterator[None]:
    """Turn a lost race with a concurrent writer (``_lost_race``) into ``Conflict(RACE)``: a concurrent import
    or registration took one of these numbers, or deadlocked with this import, while it ran."""
    try:
        yield
    except (ImportRefused, Conflict):
        raise
    except Exception as exc:
        if not _lost_race(exc):
            raise
        raise Conflict(RACE) from None


def _lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` (from SQLAlchemy or straight from the driver, as COPY raises) is a unique key taken by
    a concurrent writer, or a deadlock or serialization failure with one."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    if isinstance(exc, DBAPIError):
        if isinstance(exc.orig, sqlite3.IntegrityError):
            return "UNIQUE" in str(exc.orig)
        return getattr(exc.orig, "sqlstate", None) in _RACE_STATES
    return getattr(exc, "sqlstate", None) in _RACE_STATES


def _changes(plan: bulk.Plan, now: datetime) -> list[RegistrationChange]:
    """Each imported person's resulting status, as registration changes at the import's time."""
    changes = []
    for p in plan.persons:
        status: RegistrationStatus | None = None
        for j in plan.journal[p.id_number]:
            status = next_status(status, j.event)
        assert status is not None
        changes.append(change_of(p.id_number, status, now))
    return changes


def _plan(checker: _Checker, rejected: set[int], *, actor: str, now: datetime) -> bulk.Plan:
    """The records to load, in file order, each person with their journal (given or one move-in)."""
    plan = bulk.Plan()
    for h in checker.households.values():
        if h.line not in rejected:
            plan.households.append(h)
            household_entries = checker.household_journal.get(h.number)
            if household_entries:
                if household_entries[0].seq is not None:
                    household_entries = sorted(household_entries, key=lambda e: e.seq or 0)
                plan.household_journal.extend(household_entries)
    for number, p in checker.persons.items():
        if p.line in rejected:
            continue
        plan.persons.append(p)
        ms = [m for m in checker.memberships.get(number, []) if m.line not in rejected]
        plan.memberships.extend(ms)
        entries = checker.journal.get(number)
        if entries:
            if entries[0].seq is not None:
                entries = sorted(entries, key=lambda j: j.seq or 0)
            plan.journal[number] = entries
        else:
            current = next(m for m in ms if m.to_date is None)
            division = checker.households[current.household].division
            plan.journal[number] = [
                JournalRec(
                    line=p.line,
                    id_number=number,
                    seq=1,
                    event=JournalEvent.MOVED_IN,
                    on_date=current.from_date,
                    household=current.household,
                    division=division,
                    relation=current.relation,
                    reason="initial import",
                    case_ref=None,
                    detail=None,
                    actor=actor,
                    recorded_at=now,
                )
            ]
    plan.recorded_at = now
    return plan


def write_rejects(path: Path, source: Path, lines: Iterable[int]) -> int:
    """Copy the rejected lines of ``source`` verbatim to ``path`` (fix them, then import that file)."""
    wanted = set(lines)
    written = 0
    with source.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as out:
        for n, text in enumerate(src, start=1):
            if n in wanted:
                out.write(text if text.endswith("\n") else text + "\n")
                written += 1
    return written
