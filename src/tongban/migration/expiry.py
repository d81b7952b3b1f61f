"""The migration certificates nearing their end, surfaced to the destination's staff.

A step of the cases' deadline sweep (``cases.jobs.register_step``, run by ``tongban serve``'s sweeper and by
``tongban case sweep``): every case whose certificate ends within ``MigrationSettings.reissue_within_days``
and whose move-in is not registered gets an in-app notification (a task in the staff's notifications) for each
member of staff who may take its next step (``cases.case.update`` of the accepting office, or for an online
application ``cases.case.decide`` in its county: register the move-in, ask for a reissue, abandon), once per
certificate and phase (nearing its end, then expired), and the alert is audited
(``migration.certificate.expiring``). The case page shows the same alert while it lasts (``alert_of``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.access.domain import Allow, Principal, PrincipalKind, Role, Target, decide
from tongban.access.tables import User
from tongban.cases import notify
from tongban.cases import store as cases_store
from tongban.cases.jobs import SWEEP_ACTOR, register_step
from tongban.cases.tables import CaseWindowRow
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.migration import store
from tongban.migration.common import audit, settings_of, update_action
from tongban.migration.domain import DestState

STEP = "migration.certificates_expiring"
MIG_CERT_ENDING = N_(
    "Case {number}: the migration certificate {paper} ends on {until}: register the move-in, ask the origin "
    "for a reissue, or abandon."
)
MIG_CERT_EXPIRED = N_(
    "Case {number}: the migration certificate {paper} expired on {until}: it cannot be used to move in; ask "
    "the origin for a reissue, or abandon."
)


def alert_of(
    node: NodeContext, *, state: str, valid_until: datetime | None, now: datetime
) -> tuple[str, str] | None:
    """``("ending" | "expired", message)`` while a received certificate is within the alert window."""
    if state != DestState.CERTIFICATE_RECEIVED.value or valid_until is None:
        return None
    if valid_until <= now:
        return "expired", MIG_CERT_EXPIRED
    if valid_until <= now + timedelta(days=settings_of(node).reissue_within_days):
        return "ending", MIG_CERT_ENDING
    return None


def staff_to_alert(
    s: Session, node: NodeContext, *, office: str, division: str | None, matter: str
) -> list[int]:
    """The active staff of this node who may take the case's next step (the access model decides)."""
    action = update_action(office)
    target = Target(division_code=division, office_code=office, matter=matter)
    found = []
    rows = s.execute(
        select(User.id, User.role, User.division_code, User.office_code).where(
            User.kind == PrincipalKind.STAFF.value, User.disabled_at.is_(None)
        )
    ).all()
    for uid, role, user_division, user_office in rows:
        principal = Principal(
            id=str(uid),
            kind=PrincipalKind.STAFF,
            role=Role(role),
            display_name="",
            node=node.code,
            division_code=user_division,
            office_code=user_office,
        )
        if isinstance(decide(principal, action, target), Allow):
            found.append(int(uid))
    return found


def surface_expiring(node: NodeContext, now: datetime) -> list[str]:
    """The sweep step: alert the staff of each certificate nearing its end (or expired) not yet alerted."""
    before = now + timedelta(days=settings_of(node).reissue_within_days)
    with node.db.session() as s:
        rows = [
            (r.case_number, r.certificate_number, r.certificate_valid_until, r.state)
            for r in store.certificates_ending(s, before=before)
        ]
    surfaced = []
    for number, paper, until, state in rows:
        alert = alert_of(node, state=state, valid_until=until, now=now)
        if alert is None or paper is None or until is None:
            continue
        phase, message = alert
        with node.db.transaction() as s:
            loaded = cases_store.load_case(s, number)
            case = loaded.obj
            w = s.get(CaseWindowRow, loaded.id)
            prefix = f"case:{number}:mig:{phase}:{paper}:user:"
            alerted = 0
            for uid in staff_to_alert(
                s,
                node,
                office=case.accepting_office,
                division=w.division_code if w is not None else None,
                matter=case.matter,
            ):
                # ``notify`` records a key once and says whether this call recorded it.
                alerted += notify.notify(
                    s,
                    key=f"{prefix}{uid}",
                    channel=notify.APP,
                    recipient=f"user:{uid}",
                    locale=node.settings.default_locale,
                    message=message,
                    params={"number": number, "paper": paper, "until": until.date().isoformat()},
                    now=now,
                    case_number=number,
                )
            if alerted:
                audit(
                    s,
                    actor=SWEEP_ACTOR,
                    action="migration.certificate.expiring",
                    number=number,
                    change={"certificate": paper, "phase": phase, "alerted": alerted},
                    now=now,
                )
                surfaced.append(number)
    return surfaced


register_step(STEP, surface_expiring)
