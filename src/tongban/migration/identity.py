"""Identity checks through the national locator: "in transit" is visible anywhere.

``ask`` sends a signed question to the locator (in its own transaction); ``answer`` reads the answer once it
arrived. A person moved out for a migration and not yet moved in is "temporarily invalid: moved out, not yet
moved in", with the owning case (the destination's case number; its first six digits name the node that owns
it). No name and no ID number is stored on the way: the locator keeps a keyed digest.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tongban.audit.service import record_audit
from tongban.core.i18n import N_, gettext
from tongban.core.node import NodeContext
from tongban.exchange.locator import answer_for, ask_locator

IDENTITY_TEXTS = {
    "registered": N_("valid: registered at node {node}"),
    "in_transit": N_("temporarily invalid: moved out, not yet moved in (case {case})"),
    "cancelled": N_("invalid: the registration is cancelled"),
    "unknown": N_("unknown: no registration is known"),
}


@dataclass(frozen=True)
class IdentityStatus:
    status: str  # registered | in_transit | cancelled | unknown
    node: str | None  # the node that registers the person (in transit: the origin)
    case_ref: str | None  # in transit: the owning case (the destination's case number)

    @property
    def valid(self) -> bool:
        return self.status == "registered"

    def text(self, locale: str) -> str:
        return gettext(locale, IDENTITY_TEXTS[self.status], node=self.node or "", case=self.case_ref or "")


def ask(node: NodeContext, *, id_number: str, actor: str | None = None) -> uuid.UUID:
    """Ask the locator about a person; returns the question's id (for ``answer``). A question asked for a
    user is audited in the same transaction, under the question's id (never the ID number)."""
    with node.db.transaction() as s:
        question = ask_locator(s, node=node, id_number=id_number)
        if actor is not None:
            record_audit(
                s,
                actor=actor,
                action="migration.identity.check",
                object_type="locator-question",
                object_id=str(question),
                change=None,
                at=node.clock.now(),
            )
        return question


def answer(node: NodeContext, question: uuid.UUID) -> IdentityStatus | None:
    """The locator's answer to ``question``, or None while it has not arrived."""
    with node.db.session() as s:
        row = answer_for(s, question)
        if row is None:
            return None
        return IdentityStatus(status=row.status, node=row.node, case_ref=row.case_ref)


def check(
    node: NodeContext, *, id_number: str, timeout_s: float = 5.0, actor: str | None = None
) -> IdentityStatus | None:
    """Ask and wait (up to ``timeout_s``) for the answer; None when it did not come in time."""
    question = ask(node, id_number=id_number, actor=actor)
    deadline = time.monotonic() + timeout_s
    while True:
        found = answer(node, question)
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)
