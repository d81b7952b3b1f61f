"""The registry's invariant checks (``tongban check``): every person the nation knows is active in exactly one
place, or in transit, or cancelled with a reason (DESIGN.md, invariant 1); and each node's current-state table
agrees with its journal.

Set-based: a handful of queries per node, whatever the population; the nation-wide comparison by ID number
happens in memory. Findings name persons by internal id (``person:<node>:<id>``), never by ID number or name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from tongban.core.checks import Check, Finding, NationView, check
from tongban.registry.domain import JournalEvent, RegistrationStatus
from tongban.registry.tables import JournalEntry, Membership, Person, PersonState

ACTIVE = RegistrationStatus.ACTIVE.value
IN_TRANSIT = RegistrationStatus.IN_TRANSIT.value
CANCELLED = RegistrationStatus.CANCELLED.value
DECEASED = RegistrationStatus.DECEASED.value


class Standing(NamedTuple):
    """A person's standing at one node (a tuple: there are as many as people)."""

    node: str
    person_id: int
    status: str | None  # None: a person row without a current state

    @property
    def ref(self) -> str:
        return f"person:{self.node}:{self.person_id}"


@dataclass(frozen=True)
class LastEntry:
    """The newest journal entry of a person who is not active (what put them where they are)."""

    event: str
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None


def standings(view: NationView) -> dict[str, list[Standing]]:
    """Every person of every node by ID number (one query per node; memoised on the view)."""
    memo = view.memo.get("registry.standings")
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    by_number: dict[str, list[Standing]] = defaultdict(list)
    for code in sorted(view.nodes):
        if not view.has_table(code, Person.__tablename__):
            continue
        with view.session(code) as s:
            rows = s.connection().execute(  # Core rows: no ORM processing of a whole population
                select(Person.id_number, Person.id, PersonState.status).outerjoin(
                    PersonState, PersonState.person_id == Person.id
                )
            )
            for number, pid, status in rows:
                by_number[number].append(Standing(code, pid, status))
    view.memo["registry.standings"] = by_number
    return by_number


def last_entries(view: NationView, code: str, statuses: Iterable[str]) -> dict[int, LastEntry]:
    """The newest journal entry of the persons of node ``code`` whose status is one of ``statuses``."""
    with view.session(code) as s:
        rows = s.execute(
            select(
                PersonState.person_id,
                JournalEntry.event,
                JournalEntry.reason,
                JournalEntry.case_ref,
                JournalEntry.detail,
            )
            .join(
                JournalEntry,
                and_(
                    JournalEntry.person_id == PersonState.person_id, JournalEntry.seq == PersonState.last_seq
                ),
            )
            .where(PersonState.status.in_(list(statuses)))
        )
        return {
            int(pid): LastEntry(event, reason, case_ref, detail)
            for pid, event, reason, case_ref, detail in rows
        }


def _cancelled_with_reason(entry: LastEntry | None) -> bool:
    if entry is None:
        return False
    if entry.event == JournalEvent.DECEASED.value:
        return True  # death is the reason
    reason = (entry.detail or {}).get("cancel_reason") if isinstance(entry.detail, dict) else None
    return bool(reason or (entry.reason and entry.reason.strip()))


@check(
    "person.active-in-several",
    "person.in-transit-in-several",
    "person.active-and-in-transit",
    "person.unplaced",
)
def persons_placed_once(view: NationView) -> Iterator[Finding]:
    """Across the nation: active in exactly one place, or in transit at one, or cancelled with a reason."""
    by_number = standings(view)
    ended: dict[str, dict[int, LastEntry]] = {
        code: last_entries(view, code, (CANCELLED, DECEASED)) for code in view.nodes if code_has(view, code)
    }
    for rows in by_number.values():
        if len(rows) == 1 and rows[0].status == ACTIVE:
            continue  # the common case: one node, active there
        active = [r for r in rows if r.status == ACTIVE]
        transit = [r for r in rows if r.status == IN_TRANSIT]
        if len(active) > 1:
            yield Finding(
                "person.active-in-several",
                active[0].node,
                active[0].ref,
                "active at " + ", ".join(f"{r.node} ({r.ref})" for r in active),
            )
        if len(transit) > 1:
            yield Finding(
                "person.in-transit-in-several",
                transit[0].node,
                transit[0].ref,
                "in transit at " + ", ".join(f"{r.node} ({r.ref})" for r in transit),
            )
        if active and transit:
            yield Finding(
                "person.active-and-in-transit",
                transit[0].node,
                transit[0].ref,
                f"in transit at {transit[0].node} while active at {active[0].node} ({active[0].ref})",
            )
        if active or transit:
            continue
        if any(
            r.status in (CANCELLED, DECEASED)
            and _cancelled_with_reason(ended.get(r.node, {}).get(r.person_id))
            for r in rows
        ):
            continue
        first = rows[0]
        yield Finding(
            "person.unplaced",
            first.node,
            first.ref,
            "active nowhere, not in transit, not cancelled with a reason: "
            + ", ".join(f"{r.status or 'no state'} at {r.node} ({r.ref})" for r in rows),
        )


def code_has(view: NationView, code: str) -> bool:
    return view.has_table(code, Person.__tablename__)


@check(
    "registry.state-without-journal",
    "registry.state-disagrees-with-journal",
    "registry.journal-without-state",
    "registry.membership-disagrees-with-state",
)
def state_agrees_with_journal(view: NationView) -> Iterator[Finding]:
    """Inside each node: the current-state row is the newest journal entry's, and only active persons have
    an open household membership. Correlated EXISTS on the primary keys: no per-person aggregate."""
    for code in sorted(view.nodes):
        if not code_has(view, code):
            continue
        with view.session(code) as s:
            newer = aliased(JournalEntry)
            later = (
                select(newer.seq)
                .where(newer.person_id == PersonState.person_id, newer.seq > PersonState.last_seq)
                .correlate(PersonState)
                .exists()
            )
            rows = s.execute(
                select(PersonState.person_id, PersonState.status, JournalEntry.status_after)
                .outerjoin(
                    JournalEntry,
                    and_(
                        JournalEntry.person_id == PersonState.person_id,
                        JournalEntry.seq == PersonState.last_seq,
                    ),
                )
                .where(
                    or_(
                        JournalEntry.person_id.is_(None),
                        JournalEntry.status_after != PersonState.status,
                        later,
                    )
                )
            )
            for pid, status, after_status in rows:
                ref = f"person:{code}:{pid}"
                after: str | None = after_status  # None: the outer join found no entry
                if after is None:
                    yield Finding(
                        "registry.state-without-journal", code, ref, "current state names no journal entry"
                    )
                elif after != status:
                    yield Finding(
                        "registry.state-disagrees-with-journal",
                        code,
                        ref,
                        f"current state says {status}, the journal entry it names says {after}",
                    )
                else:
                    yield Finding(
                        "registry.state-disagrees-with-journal",
                        code,
                        ref,
                        "current state is not at the newest journal entry",
                    )
            orphans = s.scalars(
                select(JournalEntry.person_id)
                .outerjoin(PersonState, PersonState.person_id == JournalEntry.person_id)
                .where(PersonState.person_id.is_(None))
                .distinct()
            )
            for pid in orphans:
                yield Finding(
                    "registry.journal-without-state",
                    code,
                    f"person:{code}:{pid}",
                    "journal but no current state",
                )
            member = (
                select(Membership.id)
                .where(Membership.person_id == PersonState.person_id, Membership.to_date.is_(None))
                .exists()
            )
            mismatched = s.execute(
                select(PersonState.person_id, PersonState.status).where(
                    or_(
                        and_(PersonState.status == ACTIVE, ~member),
                        and_(PersonState.status != ACTIVE, member),
                    )
                )
            )
            for pid, status in mismatched:
                yield Finding(
                    "registry.membership-disagrees-with-state",
                    code,
                    f"person:{code}:{pid}",
                    "active without an open household membership"
                    if status == ACTIVE
                    else f"{status} but still an open household member",
                )


CHECKS: list[Check] = [persons_placed_once, state_agrees_with_journal]
