"""Who hears of registration changes: a listener other capabilities install on a node.

The registry knows nothing of the exchange. A capability that must learn of every registration change (the
exchange, which reports it to the national locator) keeps a ``RegistrationListener`` in
``node.services[REGISTRATION_LISTENER]``; the registry calls it in the transaction of every change (register,
move within the node, cancel, in transit, restore, moved out), so the report commits or rolls back with the
change. Without a listener (a node with no exchange) nothing is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.registry.domain import RegistrationStatus

REGISTRATION_LISTENER = "registry.registration_listener"


@dataclass(frozen=True)
class RegistrationChange:
    """A person's registration changed at ``changed_at``; ``cancelled``: this node no longer registers them;
    ``in_transit``: moved out for a migration owned by case ``case_ref`` (the destination's case number), not
    yet moved in anywhere (``cancelled`` is then true too: this node no longer registers them)."""

    id_number: str
    changed_at: datetime
    cancelled: bool
    in_transit: bool = False
    case_ref: str | None = None
    moved_out: bool = False  # the origin confirming a migration's move-out: registered elsewhere now


RegistrationListener = Callable[[Session, Sequence[RegistrationChange]], None]


def listener_of(node: NodeContext) -> RegistrationListener | None:
    found = node.services.get(REGISTRATION_LISTENER)
    return found if callable(found) else None


def change_of(
    id_number: str, status: RegistrationStatus, at: datetime, *, case_ref: str | None = None
) -> RegistrationChange:
    transit = status is RegistrationStatus.IN_TRANSIT
    return RegistrationChange(
        id_number,
        at,
        cancelled=status is not RegistrationStatus.ACTIVE,
        in_transit=transit,
        case_ref=case_ref if transit else None,
        moved_out=status is RegistrationStatus.MOVED_OUT,
    )


def notify(s: Session, node: NodeContext, changes: Sequence[RegistrationChange]) -> None:
    """Tell the node's listener (if any) of ``changes``, in the session's transaction."""
    listener = listener_of(node)
    if listener is not None and changes:
        listener(s, changes)
