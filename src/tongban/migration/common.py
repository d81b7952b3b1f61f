"""What both ends of the saga share: settings, the papers' verification, notifications and the audit call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.cases import notify
from tongban.cases.tables import CaseWindowRow
from tongban.core.node import NodeContext
from tongban.exchange.service import exchange_of
from tongban.papers import forms
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import PaperView, Status, verify_paper

SETTINGS_SERVICE = "migration"
AUTOMATIC_ACTOR = "system:mig-auto"
# The accepting office of a migration a citizen applies for online (as CERT's online requests); its case lies
# in the destination household's division, so the county's reviewers reach it (docs/migration.md).
ONLINE_OFFICE = "online"
CASE_UPDATE = "cases.case.update"
CASE_DECIDE = "cases.case.decide"


def update_action(accepting_office: str | None) -> str:
    """The rule a destination's update step (withdraw, reissue, move-in) is checked against on the case: an
    online application belongs to no office, so its update steps fall to those who decide it in its county
    (``cases.case.decide``); a case accepted at a window stays with its office (``cases.case.update``)."""
    return CASE_DECIDE if accepting_office == ONLINE_OFFICE else CASE_UPDATE


@dataclass(frozen=True)
class MigrationSettings:
    """Per node. ``automatic_move_out``: the origin moves a person out without a clerk where the matter's
    catalog allows automatic steps and the register answers unambiguously (the person is actively registered,
    no other migration is open, the move leaves no household without its head)."""

    automatic_move_out: bool = False
    reissue_within_days: int = 5  # a certificate ending within this many days is "nearing expiry"
    locator_wait_s: float = 3.0  # how long an acceptance without a given origin waits for the locator


def settings_of(node: NodeContext) -> MigrationSettings:
    found = node.services.get(SETTINGS_SERVICE)
    return found if isinstance(found, MigrationSettings) else MigrationSettings()


def verified(node: NodeContext, text: str, now: datetime) -> PaperView | None:
    """The paper in ``text`` (signed JSON form) if it verifies as valid against the directory, else None."""
    try:
        signed = forms.from_json_bytes(text.encode("utf-8"))
    except Exception:
        return None
    verdict = verify_paper(signed, DirectoryKeyResolver(exchange_of(node).directory), None, now)
    if verdict.status is not Status.VALID or verdict.paper is None:
        return None
    return verdict.paper


def audit(s: Session, *, actor: str, action: str, number: str, change: dict[str, Any], now: datetime) -> None:
    record_audit(s, actor=actor, action=action, object_type="case", object_id=number, change=change, at=now)


def notify_applicant(
    s: Session, *, case_id: int, number: str, key: str, message: str, params: dict[str, Any], now: datetime
) -> None:
    """The applicant's message in their language (SMS/e-mail as given at the window); once per ``key``."""
    record = s.get(CaseWindowRow, case_id)
    if record is None:
        return
    notify.notify_applicant(
        s,
        key=f"case:{number}:mig:{key}",
        case_number=number,
        phone=record.phone,
        email=record.email,
        locale=record.locale,
        message=message,
        params=params,
        now=now,
    )
