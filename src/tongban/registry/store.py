"""The registry's queries: the only module of the registry that speaks SQL.

Rows that a use case reads and then changes are locked (``FOR UPDATE`` on PostgreSQL; on SQLite the writing
transaction already holds the database with ``BEGIN IMMEDIATE``, and SQLAlchemy leaves the clause out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.registry.domain import JournalEvent, RegistrationStatus, next_status
from tongban.registry.names import normalize_query, prefix_upper_bound, search_keys
from tongban.registry.tables import (
    Household,
    HouseholdJournalEntry,
    IdCounter,
    JournalEntry,
    Membership,
    Person,
    PersonState,
    RegistryCount,
    SearchKey,
)

HOUSEHOLDS = "household"  # the ``status`` under which ``registry_counts`` counts households


# The per-person reads of every registry change, built once with bound values: building a statement costs
# about as much as running it on SQLite (its construction and cache key are then done once, not per call).
_V: sa.BindParameter[Any] = sa.bindparam("v")
_PERSON_BY_ID_NUMBER = sa.select(Person).where(Person.id_number == _V)
_STATE = sa.select(PersonState).where(PersonState.person_id == _V)
_STATE_LOCKED = _STATE.with_for_update()
_HOUSEHOLD_BY_NUMBER = sa.select(Household).where(Household.number == _V)
_HOUSEHOLD_BY_NUMBER_LOCKED = _HOUSEHOLD_BY_NUMBER.with_for_update()
_LOCK_HOUSEHOLD = sa.select(Household.id).where(Household.id == _V).with_for_update()
_OPEN_MEMBERSHIP = sa.select(Membership).where(Membership.person_id == _V, Membership.to_date.is_(None))
_COUNT_OPEN = (
    sa.select(sa.func.count())
    .select_from(Membership)
    .where(Membership.household_id == _V, Membership.to_date.is_(None))
)
_COUNT_OPEN_EXCLUDING = _COUNT_OPEN.where(Membership.person_id != sa.bindparam("excluding"))
_LAST_DIVISION = (
    sa.select(JournalEntry.division_code)
    .where(JournalEntry.person_id == _V, JournalEntry.division_code.is_not(None))
    .order_by(JournalEntry.seq.desc())
    .limit(1)
)


def person_by_id_number(s: Session, id_number: str) -> Person | None:
    return s.scalars(_PERSON_BY_ID_NUMBER, {"v": id_number}).one_or_none()


def person_by_id(s: Session, person_id: int) -> Person | None:
    return s.get(Person, person_id)


def state_of(s: Session, person_id: int, *, lock: bool = False) -> PersonState | None:
    return s.scalars(_STATE_LOCKED if lock else _STATE, {"v": person_id}).one_or_none()


def persons_by_id_number(s: Session, id_numbers: Sequence[str]) -> dict[str, Person]:
    """The persons of ``id_numbers`` that are known here, by ID number."""
    return {p.id_number: p for p in s.scalars(sa.select(Person).where(Person.id_number.in_(id_numbers)))}


def states_of(s: Session, person_ids: Sequence[int], *, lock: bool = False) -> dict[int, PersonState]:
    """The current states of the persons, by person id (read, and locked with ``lock``, in id order)."""
    q = sa.select(PersonState).where(PersonState.person_id.in_(sorted(set(person_ids))))
    q = q.order_by(PersonState.person_id)
    return {st.person_id: st for st in s.scalars(q.with_for_update() if lock else q)}


def household_by_number(s: Session, number: str, *, lock: bool = False) -> Household | None:
    return s.scalars(
        _HOUSEHOLD_BY_NUMBER_LOCKED if lock else _HOUSEHOLD_BY_NUMBER, {"v": number}
    ).one_or_none()


def households_by_number(s: Session, numbers: Sequence[str], *, lock: bool = False) -> list[Household]:
    """The households of ``numbers`` that exist, in id order (locked in that order with ``lock``, as
    ``lock_households`` does, so that two batches cannot deadlock)."""
    q = sa.select(Household).where(Household.number.in_(numbers)).order_by(Household.id)
    return list(s.scalars(q.with_for_update() if lock else q))


def known_id_numbers(s: Session, id_numbers: Sequence[str]) -> set[str]:
    """Which of ``id_numbers`` belong to persons of this node."""
    return set(s.scalars(sa.select(Person.id_number).where(Person.id_number.in_(id_numbers))))


def household_by_id(s: Session, household_id: int) -> Household | None:
    return s.get(Household, household_id)


def lock_households(s: Session, ids: Iterable[int]) -> None:
    """Lock households in id order, so that two moves between the same households cannot deadlock."""
    for hid in sorted(set(ids)):
        s.execute(_LOCK_HOUSEHOLD, {"v": hid})


def open_membership(s: Session, person_id: int) -> Membership | None:
    return s.scalars(_OPEN_MEMBERSHIP, {"v": person_id}).one_or_none()


def open_members(s: Session, household_id: int) -> list[tuple[Membership, Person, PersonState]]:
    """Current members: the head first, then by the date they joined and ID number."""
    rows = s.execute(
        sa.select(Membership, Person, PersonState)
        .join(Person, Person.id == Membership.person_id)
        .join(PersonState, PersonState.person_id == Person.id)
        .where(Membership.household_id == household_id, Membership.to_date.is_(None))
        .order_by(
            sa.case((Membership.relation == "head", 0), else_=1), Membership.from_date, Person.id_number
        )
    ).all()
    return [(m, p, st) for m, p, st in rows]


def count_open_members(s: Session, household_id: int, *, excluding: int | None = None) -> int:
    """Current members of the household (``excluding`` one person, by their id)."""
    if excluding is None:
        return int(s.execute(_COUNT_OPEN, {"v": household_id}).scalar_one())
    return int(s.execute(_COUNT_OPEN_EXCLUDING, {"v": household_id, "excluding": excluding}).scalar_one())


def count_open_members_of(s: Session, household_ids: Sequence[int]) -> dict[int, int]:
    """Current members of each of the households (those with none are left out)."""
    q = (
        sa.select(Membership.household_id, sa.func.count())
        .where(Membership.household_id.in_(household_ids), Membership.to_date.is_(None))
        .group_by(Membership.household_id)
    )
    return {int(h): int(n) for h, n in s.execute(q)}


def append_journal(
    s: Session,
    *,
    person_id: int,
    state: PersonState | None,
    event: JournalEvent,
    on_date: date,
    actor: str,
    at: datetime,
    household_id: int | None = None,
    division_code: str | None = None,
    relation: str | None = None,
    reason: str | None = None,
    case_ref: str | None = None,
    detail: dict[str, Any] | None = None,
    keep_place: bool = False,
    keys_placed: bool = False,
    last_division_known: str | None = None,
) -> PersonState:
    """Append one journal entry and bring the person's current state along, in the caller's transaction.

    The status after the entry comes from the domain's transition table (``Conflict`` when illegal).
    ``keep_place`` keeps the current household and division (corrections). ``keys_placed``: the person's
    search keys were just written with ``division_code`` (``add_search_keys``), so they are not updated.
    ``last_division_known``: ``last_division`` of the person, when the caller read it already (batches).
    """
    before = RegistrationStatus(state.status) if state is not None else None
    after = next_status(before, event)
    seq = (state.last_seq if state is not None else 0) + 1
    if state is None:
        add_count(s, division_code or "", after.value, 1)
    elif after is not before or (division_code is not None and division_code != state.division_code):
        # The person's count moves from (jurisdiction, status) before to after. The jurisdiction of a
        # person not active here is the division of their latest entry naming one (read before adding).
        old = state.division_code or last_division_known or last_division(s, person_id) or ""
        new = division_code or old
        if (old, state.status) != (new, after.value):
            add_count(s, old, state.status, -1)
            add_count(s, new, after.value, 1)
    s.add(
        JournalEntry(
            person_id=person_id,
            seq=seq,
            event=event.value,
            on_date=on_date,
            status_after=after.value,
            division_code=division_code,
            household_id=household_id,
            relation=relation,
            reason=reason,
            case_ref=case_ref,
            detail=detail,
            actor=actor,
            recorded_at=at,
        )
    )
    if state is None:
        state = PersonState(person_id=person_id, status=after.value, since=on_date, last_seq=seq)
        s.add(state)
    else:
        state.last_seq = seq
        if after.value != state.status:
            state.status = after.value
            state.since = on_date
    if division_code is not None and not keys_placed:
        # The search keys carry the person's jurisdiction: the division of their latest event here.
        s.execute(
            sa.update(SearchKey)
            .where(SearchKey.person_id == person_id)
            .where(sa.or_(SearchKey.division_code.is_(None), SearchKey.division_code != division_code))
            .values(division_code=division_code)
        )
    if not keep_place:
        if after is RegistrationStatus.ACTIVE:
            state.household_id = household_id
            state.division_code = division_code
        else:
            state.household_id = None
            state.division_code = None
    return state


def last_division(s: Session, person_id: int) -> str | None:
    """The division of the person's latest journal entry that names one: their jurisdiction here."""
    return s.execute(_LAST_DIVISION, {"v": person_id}).scalar_one_or_none()


_COUNT_DELTAS = "tongban.registry.count_deltas"


def add_count(s: Session, division_code: str, status: str, delta: int) -> None:
    """Add ``delta`` to the maintained count of (division, status) when the caller's transaction commits.

    The deltas of a transaction are summed and written just before it commits, in key order: every writer
    locks counter rows last and in the same order, so two moves in opposite directions cannot deadlock on
    them, and a move within one county writes nothing."""
    deltas: dict[tuple[str, str], int] = s.info.setdefault(_COUNT_DELTAS, {})
    deltas[(division_code, status)] = deltas.get((division_code, status), 0) + delta


@event.listens_for(Session, "before_commit")
def _write_count_deltas(s: Session) -> None:
    deltas = s.info.pop(_COUNT_DELTAS, None)
    if deltas:
        add_counts(s, deltas)


@event.listens_for(Session, "after_rollback")
def _drop_count_deltas(s: Session) -> None:
    s.info.pop(_COUNT_DELTAS, None)


def add_counts(s: Session, deltas: dict[tuple[str, str], int]) -> None:
    """Add each delta to its maintained count: one upsert per row, in key order (no deadlocks)."""
    rows = [{"division_code": d, "status": st, "total": n} for (d, st), n in sorted(deltas.items()) if n != 0]
    if not rows:
        return
    ins = insert_for(s)(RegistryCount)
    s.execute(
        ins.on_conflict_do_update(
            index_elements=[RegistryCount.division_code, RegistryCount.status],
            set_={"total": RegistryCount.total + ins.excluded.total},
        ),
        rows,
    )


def starts_with(column: sa.ColumnElement[str] | Any, prefix: str) -> list[sa.ColumnElement[bool]]:
    """``column LIKE 'prefix%'`` as a range an ordinary B-tree index answers (``names.prefix_upper_bound``)."""
    upper = prefix_upper_bound(prefix)
    return [column >= prefix] if upper is None else [column >= prefix, column < upper]


def counts(s: Session, division_prefix: str = "") -> list[tuple[str, str, int]]:
    """The maintained counts ``(division, status, total)`` of divisions starting with ``division_prefix``."""
    q = sa.select(RegistryCount.division_code, RegistryCount.status, RegistryCount.total).where(
        RegistryCount.total != 0
    )
    if division_prefix:
        q = q.where(*starts_with(RegistryCount.division_code, division_prefix))
    return [
        (d, st, n) for d, st, n in s.execute(q.order_by(RegistryCount.division_code, RegistryCount.status))
    ]


def recount(s: Session) -> dict[tuple[str, str], int]:
    """The counts computed from the current state (set-based, a full scan): what ``counts`` must equal."""
    jurisdiction = sa.func.coalesce(
        PersonState.division_code,
        sa.select(JournalEntry.division_code)
        .where(JournalEntry.person_id == PersonState.person_id, JournalEntry.division_code.is_not(None))
        .order_by(JournalEntry.seq.desc())
        .limit(1)
        .scalar_subquery(),
        "",
    )
    found: dict[tuple[str, str], int] = {}
    for d, st, n in s.execute(
        sa.select(jurisdiction, PersonState.status, sa.func.count()).group_by(
            jurisdiction, PersonState.status
        )
    ):
        found[(d, st)] = n
    for d, n in s.execute(
        sa.select(Household.division_code, sa.func.count()).group_by(Household.division_code)
    ):
        found[(d, HOUSEHOLDS)] = n
    return found


def append_household_journal(
    s: Session,
    *,
    household_id: int,
    event: str,
    on_date: date,
    actor: str,
    at: datetime,
    reason: str | None,
    case_ref: str | None,
    detail: dict[str, Any],
) -> None:
    """Append one entry to the household's journal (the household row is locked by the caller)."""
    last = s.execute(
        sa.select(sa.func.max(HouseholdJournalEntry.seq)).where(
            HouseholdJournalEntry.household_id == household_id
        )
    ).scalar_one()
    s.add(
        HouseholdJournalEntry(
            household_id=household_id,
            seq=(last or 0) + 1,
            event=event,
            on_date=on_date,
            reason=reason,
            case_ref=case_ref,
            detail=detail,
            actor=actor,
            recorded_at=at,
        )
    )


def household_journal_of(s: Session, household_id: int) -> Sequence[HouseholdJournalEntry]:
    return s.scalars(
        sa.select(HouseholdJournalEntry)
        .where(HouseholdJournalEntry.household_id == household_id)
        .order_by(HouseholdJournalEntry.seq)
    ).all()


_LAST_JOURNAL_DATE = sa.select(sa.func.max(JournalEntry.on_date)).where(JournalEntry.person_id == _V)
_LAST_PLACED = (
    sa.select(JournalEntry)
    .where(JournalEntry.person_id == _V, JournalEntry.household_id.is_not(None))
    .order_by(JournalEntry.seq.desc())
    .limit(1)
)


def last_journal_date(s: Session, person_id: int) -> date | None:
    return s.execute(_LAST_JOURNAL_DATE, {"v": person_id}).scalar_one()


def last_journal_dates(s: Session, person_ids: Sequence[int]) -> dict[int, date]:
    """``last_journal_date`` of many persons in one statement (those with no entry are left out)."""
    q = (
        sa.select(JournalEntry.person_id, sa.func.max(JournalEntry.on_date))
        .where(JournalEntry.person_id.in_(person_ids))
        .group_by(JournalEntry.person_id)
    )
    return {int(pid): d for pid, d in s.execute(q) if d is not None}


def open_memberships_of(s: Session, person_ids: Sequence[int]) -> dict[int, Membership]:
    """The open membership of each of the persons (those with none are left out)."""
    q = sa.select(Membership).where(Membership.person_id.in_(person_ids), Membership.to_date.is_(None))
    return {m.person_id: m for m in s.scalars(q)}


def households_by_id(s: Session, ids: Sequence[int], *, lock: bool = False) -> dict[int, Household]:
    """The households of ``ids``, read (and locked with ``lock``) in id order, as ``lock_households``."""
    q = sa.select(Household).where(Household.id.in_(sorted(set(ids)))).order_by(Household.id)
    return {h.id: h for h in s.scalars(q.with_for_update() if lock else q)}


def place_search_keys(s: Session, person_ids: Sequence[int], division_code: str) -> None:
    """The search keys of the persons carry ``division_code`` (their jurisdiction): one statement."""
    s.execute(
        sa.update(SearchKey)
        .where(SearchKey.person_id.in_(person_ids))
        .where(sa.or_(SearchKey.division_code.is_(None), SearchKey.division_code != division_code))
        .values(division_code=division_code)
    )


def last_divisions(s: Session, person_ids: Sequence[int]) -> dict[int, str]:
    """``last_division`` of many persons in one statement (those with none are left out)."""
    newest = (
        sa.select(JournalEntry.person_id, sa.func.max(JournalEntry.seq).label("seq"))
        .where(JournalEntry.person_id.in_(person_ids), JournalEntry.division_code.is_not(None))
        .group_by(JournalEntry.person_id)
        .subquery()
    )
    q = sa.select(JournalEntry.person_id, JournalEntry.division_code).join(
        newest, sa.and_(JournalEntry.person_id == newest.c.person_id, JournalEntry.seq == newest.c.seq)
    )
    return {int(pid): str(d) for pid, d in s.execute(q)}


def last_placed_entry(s: Session, person_id: int) -> JournalEntry | None:
    """The newest journal entry that names a household (where a person in transit came from)."""
    return s.scalars(_LAST_PLACED, {"v": person_id}).first()


def journal_of(s: Session, person_id: int) -> Sequence[JournalEntry]:
    return s.scalars(
        sa.select(JournalEntry).where(JournalEntry.person_id == person_id).order_by(JournalEntry.seq)
    ).all()


def entry_on(s: Session, person_id: int, on_date: date) -> JournalEntry | None:
    """The journal entry in force on ``on_date``: the last one dated on or before it."""
    return s.scalars(
        sa.select(JournalEntry)
        .where(
            JournalEntry.person_id == person_id,
            JournalEntry.on_date <= on_date,
            JournalEntry.event != JournalEvent.CORRECTED.value,
        )
        .order_by(JournalEntry.on_date.desc(), JournalEntry.seq.desc())
        .limit(1)
    ).first()


def add_search_keys(s: Session, person_id: int, name: str, division_code: str | None) -> None:
    """The keys of a person new to this node, in the jurisdiction of their first entry here."""
    s.execute(
        sa.insert(SearchKey),
        [{"key": k, "person_id": person_id, "division_code": division_code} for k in search_keys(name)],
    )


def add_search_keys_of(s: Session, people: Sequence[tuple[int, str, str | None]]) -> None:
    """``add_search_keys`` for many persons (id, name, division) in one statement."""
    rows = [
        {"key": k, "person_id": pid, "division_code": d} for pid, name, d in people for k in search_keys(name)
    ]
    if rows:
        s.execute(sa.insert(SearchKey), rows)


def replace_search_keys(s: Session, person_id: int, name: str) -> None:
    """The keys of the person's (new) name, in the jurisdiction their keys had."""
    division = s.execute(
        sa.select(SearchKey.division_code).where(SearchKey.person_id == person_id).limit(1)
    ).scalar_one_or_none()
    s.execute(sa.delete(SearchKey).where(SearchKey.person_id == person_id))
    s.execute(
        sa.insert(SearchKey),
        [{"key": k, "person_id": person_id, "division_code": division} for k in search_keys(name)],
    )


def search(
    s: Session, query: str, *, limit: int, division_prefix: str = ""
) -> list[tuple[Person, PersonState, str | None]]:
    """Persons with a search key starting with ``query``, in key order; at most ``limit``.

    The prefix test is a range on the key (``key >= q AND key < next(q)``): exactly ``key LIKE 'q%'`` in
    code-point order, answered by the B-tree primary key on both backends, reading only the first keys in
    index order (a person has several keys, so a few more than ``limit`` are read and repeats dropped).
    """
    q = normalize_query(query)
    if not q:
        return []
    keys = sa.select(SearchKey.person_id).where(*starts_with(SearchKey.key, q))
    if len(division_prefix) == 6:
        # A county clerk: one range of the (division_code, key) index.
        keys = keys.where(SearchKey.division_code == division_prefix)
    elif division_prefix:
        keys = keys.where(*starts_with(SearchKey.division_code, division_prefix))
    keys = keys.order_by(SearchKey.key, SearchKey.person_id).limit(limit * 4)
    ids = s.scalars(keys).all()
    wanted = list(dict.fromkeys(ids))[:limit]
    if not wanted:
        return []
    rows = s.execute(
        sa.select(Person, PersonState, Household.number)
        .join(PersonState, PersonState.person_id == Person.id)
        .outerjoin(Household, Household.id == PersonState.household_id)
        .where(Person.id.in_(wanted))
    ).all()
    order = {pid: i for i, pid in enumerate(wanted)}
    found = sorted(rows, key=lambda r: order[r[0].id])
    return [(p, st, number) for p, st, number in found]


def insert_for(s: Session) -> Any:
    """The dialect's ``insert`` with ``on_conflict_do_update`` (both backends support the clause)."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def advance_counter(s: Session, *, area: str, birth_date: date, sex_first: int) -> int:
    """Advance the (area, birth date, sex) counter by one number of that sex; returns the new sequence.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: concurrent callers serialise on the counter row
    and each gets its own number. Male sequences are odd (1, 3, ...), female even (2, 4, ...).
    """
    sex = "male" if sex_first % 2 else "female"
    ins = insert_for(s)(IdCounter).values(area=area, birth_date=birth_date, sex=sex, last_sequence=sex_first)
    stmt = ins.on_conflict_do_update(
        index_elements=[IdCounter.area, IdCounter.birth_date, IdCounter.sex],
        set_={"last_sequence": IdCounter.last_sequence + 2},
    ).returning(IdCounter.last_sequence)
    return int(s.execute(stmt).scalar_one())


def id_number_exists(s: Session, id_number: str) -> bool:
    return s.execute(sa.select(Person.id).where(Person.id_number == id_number)).first() is not None


def existing_id_numbers(s: Session, id_numbers: Sequence[str], chunk: int = 900) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(id_numbers), chunk):
        part = id_numbers[i : i + chunk]
        found.update(s.scalars(sa.select(Person.id_number).where(Person.id_number.in_(part))).all())
    return found


def existing_household_numbers(s: Session, numbers: Sequence[str], chunk: int = 900) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(numbers), chunk):
        part = numbers[i : i + chunk]
        found.update(s.scalars(sa.select(Household.number).where(Household.number.in_(part))).all())
    return found


def is_empty(s: Session) -> bool:
    return (
        s.execute(sa.select(Person.id).limit(1)).first() is None
        and s.execute(sa.select(Household.id).limit(1)).first() is None
    )
