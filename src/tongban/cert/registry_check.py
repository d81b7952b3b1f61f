"""What the hukou node's registry says about a certificate request: the paper's subject and facts, or the
reason for a refusal. Reads only; runs in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tongban.cert.domain import CertKind, Refusal, RequestedFacts
from tongban.registry import store as registry
from tongban.registry.domain import JournalEvent, RegistrationStatus
from tongban.registry.tables import Person, PersonState

# Relation to the head of household, as a kinship paper names it (zh-CN, the register's language).
RELATION_NAMES = {
    "head": "户主",
    "spouse": "配偶",
    "child": "子女",
    "child_in_law": "子女配偶",
    "grandchild": "孙子女",
    "parent": "父母",
    "parent_in_law": "配偶父母",
    "grandparent": "祖父母",
    "sibling": "兄弟姐妹",
    "other_relative": "其他亲属",
    "non_relative": "非亲属",
    "collective_member": "集体户成员",
}
# Seen from a member who is not the head, what the head is to them (where the register allows saying it).
INVERSE_OF_HEAD = {"spouse": "配偶", "child": "父母", "parent": "子女", "sibling": "兄弟姐妹"}
CANCEL_REASONS = {
    "death": "death",
    "emigration": "emigration",
    "military_service": "military-service",
    "duplicate": "duplicate",
    "other": "other",
}


@dataclass(frozen=True)
class Check:
    person_id: int | None  # set whenever the person's record was read (the read is logged)
    division_code: str | None = None
    refusal: Refusal | None = None
    subject: dict[str, str] | None = None
    facts: dict[str, Any] | None = None


def _relation(subject_relation: str, other_relation: str) -> str:
    if subject_relation == "head":
        return RELATION_NAMES.get(other_relation, "同户成员")
    if other_relation == "head":
        return INVERSE_OF_HEAD.get(subject_relation, "户主")
    return f"同户成员（与户主关系：{RELATION_NAMES.get(other_relation, other_relation)}）"


def _kinship(s: Session, person: Person, state: PersonState, facts: RequestedFacts) -> Check:
    assert state.household_id is not None
    household = registry.household_by_id(s, state.household_id)
    assert household is not None
    members = registry.open_members(s, household.id)
    mine = next((m for m, p, _ in members if p.id == person.id), None)
    others = [(m, p) for m, p, _ in members if p.id != person.id]
    if facts.relative_id_number is not None:
        others = [(m, p) for m, p in others if p.id_number == facts.relative_id_number]
    if mine is None or not others:
        return Check(person.id, state.division_code, Refusal.NO_KINSHIP)
    relatives = [{"name": p.name, "relation": _relation(mine.relation, m.relation)} for m, p in others]
    return Check(
        person.id,
        household.division_code,
        subject=_subject(person),
        facts={"relatives": relatives, "household_number": household.number},
    )


def _cancellation(s: Session, person: Person, state: PersonState) -> Check:
    status = RegistrationStatus(state.status)
    if status not in (RegistrationStatus.CANCELLED, RegistrationStatus.DECEASED):
        return Check(person.id, state.division_code, Refusal.NOT_CANCELLED)
    entries = [
        e
        for e in registry.journal_of(s, person.id)
        if e.event in (JournalEvent.CANCELLED.value, JournalEvent.DECEASED.value)
    ]
    if not entries or entries[-1].division_code is None or entries[-1].household_id is None:
        return Check(person.id, state.division_code, Refusal.NOT_CANCELLED)
    entry = entries[-1]
    assert entry.household_id is not None
    household = registry.household_by_id(s, entry.household_id)
    assert household is not None
    why = (entry.detail or {}).get("cancel_reason", "death" if entry.event == "deceased" else "other")
    return Check(
        person.id,
        entry.division_code,
        subject=_subject(person),
        facts={
            "reason": CANCEL_REASONS.get(str(why), "other"),
            "cancelled_on": entry.on_date.isoformat(),
            "former_division": entry.division_code,
            "former_address": household.address,
        },
    )


def _item_change(s: Session, person: Person, state: PersonState, facts: RequestedFacts) -> Check:
    changes = [
        e
        for e in registry.journal_of(s, person.id)
        if e.event == JournalEvent.CORRECTED.value
        and e.detail is not None
        and (facts.item is None or e.detail.get("field") == facts.item)
    ]
    if not changes:
        return Check(person.id, state.division_code, Refusal.NO_ITEM_CHANGE)
    entry = changes[-1]
    detail = entry.detail or {}
    return Check(
        person.id,
        state.division_code,
        subject=_subject(person),
        facts={
            "item": str(detail.get("field")),
            "old_value": str(detail.get("old", ""))[:200],
            "new_value": str(detail.get("new", ""))[:200],
            "changed_on": entry.on_date.isoformat(),
        },
    )


def _subject(person: Person) -> dict[str, str]:
    return {"name": person.name, "id_number": person.id_number}


def check_registry(s: Session, *, kind: CertKind, id_number: str, facts: RequestedFacts) -> Check:
    """The registry's answer to a certificate request (never raises for what the registry lacks)."""
    person = registry.person_by_id_number(s, id_number)
    if person is None:
        return Check(None, refusal=Refusal.NOT_REGISTERED)
    state = registry.state_of(s, person.id)
    if state is None:
        return Check(person.id, refusal=Refusal.NOT_REGISTERED)
    if kind is CertKind.CANCELLATION:
        return _cancellation(s, person, state)
    if state.status != RegistrationStatus.ACTIVE.value or state.household_id is None:
        return Check(person.id, state.division_code, Refusal.NOT_REGISTERED)
    if kind is CertKind.KINSHIP:
        return _kinship(s, person, state, facts)
    return _item_change(s, person, state, facts)
