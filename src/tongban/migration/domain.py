"""The one-stop migration saga: its messages, states, transitions and reasons (plain Python: no storage).

The destination (迁入地) owns the case and alone decides to settle or to abandon; the origin (迁出地) owns a task
linked to the case by reference. Messages (all versioned, personal data encrypted to the recipient):

- ``mig.permit.v1`` destination -> origin: the signed move-in permit, the case number, the person's ID number;
- ``mig.certificate.v1`` origin -> destination: the signed migration certificate and the register record the
  move-in needs (name, sex, birth date, ethnicity, birthplace); also the answer to a reissue request;
- ``mig.refused.v1`` origin -> destination: the origin refuses, with a reason code;
- ``mig.settled.v1`` destination -> origin: the move-in is registered (the origin records the move-out);
- ``mig.abandon.v1`` destination -> origin: the signed abandon (withdrawal after the permit, or the
  destination gives up): before the move-out the origin cancels its task, after it restores the person;
- ``mig.reissue.v1`` destination -> origin: the certificate nears its end; the origin issues a new one.

Contracts with the rest of the platform: both papers carry ``subject_ref`` = the destination case number, and a
person in transit has the registry journal entry ``case_ref`` = the destination case number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tongban.core.errors import Conflict
from tongban.core.i18n import N_, gettext

PERMIT_TYPE = "mig.permit.v1"
CERTIFICATE_TYPE = "mig.certificate.v1"
REFUSED_TYPE = "mig.refused.v1"
SETTLED_TYPE = "mig.settled.v1"
ABANDON_TYPE = "mig.abandon.v1"
REISSUE_TYPE = "mig.reissue.v1"

MATTERS = ("MIG-JOB", "MIG-STU", "MIG-GRAD", "MIG-SPOUSE", "MIG-PARENT")
PERMIT_PAPER = "mig.permit"
CERTIFICATE_PAPER = "mig.certificate"

_ID = r"^[0-9]{17}[0-9X]$"
_DIVISION = r"^[0-9]{6}$"
_CASE = r"^[0-9]{6}-[0-9]{8}-[0-9]{6}$"
_HASH = r"^[0-9a-f]{64}$"


class Refusal(StrEnum):
    """Why a migration ends without a move-in (codes travel; texts are translated where they are shown)."""

    NOT_REGISTERED = "not-registered"  # the origin does not register the person (actively)
    IN_ANOTHER_MIGRATION = "in-another-migration"  # another migration of the person is open
    ORIGIN_REFUSED = "origin-refused"  # the origin's clerk refused the move-out
    PERMIT_INVALID = "permit-invalid"  # the permit does not verify, or is not for this person or case
    NOT_ELIGIBLE = "not-eligible"  # the destination's local policy is not met
    DESTINATION_REFUSED = "destination-refused"  # the destination's reviewer refused
    ABANDONED = "abandoned"  # the destination gave up after the permit (e.g. the certificate ran out)

    def translated(self, locale: str) -> str:
        return gettext(locale, REFUSAL_TEXTS[self])


REFUSAL_TEXTS: Mapping[Refusal, str] = {
    Refusal.NOT_REGISTERED: N_("the person is not registered at the origin"),
    Refusal.IN_ANOTHER_MIGRATION: N_("another migration of this person is open"),
    Refusal.ORIGIN_REFUSED: N_("the origin refused the move-out"),
    Refusal.PERMIT_INVALID: N_("the move-in permit does not verify"),
    Refusal.NOT_ELIGIBLE: N_("the local settlement policy is not met"),
    Refusal.DESTINATION_REFUSED: N_("the destination refused the move-in"),
    Refusal.ABANDONED: N_("the destination abandoned the migration"),
}


# -- the states and their transitions --------------------------------------------------------------------


class DestState(StrEnum):
    """The saga at the destination (it owns the case)."""

    ACCEPTED = "accepted"  # case accepted, policy decided, not approved yet
    PERMIT_SENT = "permit_sent"  # approved: the permit is on its way (or at the origin)
    CERTIFICATE_RECEIVED = "certificate_received"  # the origin moved the person out: in transit
    SETTLED = "settled"  # moved in here (terminal)
    REFUSED = "refused"  # refused here or by the origin (terminal)
    WITHDRAWN = "withdrawn"  # the applicant withdrew (terminal; after the permit: abandon sent)
    ABANDONED = "abandoned"  # the destination gave up after the permit (terminal; abandon sent)


class DestAction(StrEnum):
    APPROVE = "approve"
    RECEIVE_CERTIFICATE = "receive_certificate"
    MOVE_IN = "move_in"
    REFUSE = "refuse"
    ORIGIN_REFUSED = "origin_refused"
    WITHDRAW = "withdraw"
    ABANDON = "abandon"
    REQUEST_REISSUE = "request_reissue"


_D = DestState
DEST_TRANSITIONS: Mapping[tuple[DestState, DestAction], DestState] = {
    (_D.ACCEPTED, DestAction.APPROVE): _D.PERMIT_SENT,
    (_D.ACCEPTED, DestAction.REFUSE): _D.REFUSED,
    (_D.ACCEPTED, DestAction.WITHDRAW): _D.WITHDRAWN,  # before the permit: a cancel
    (_D.PERMIT_SENT, DestAction.RECEIVE_CERTIFICATE): _D.CERTIFICATE_RECEIVED,
    (_D.PERMIT_SENT, DestAction.ORIGIN_REFUSED): _D.REFUSED,
    (_D.PERMIT_SENT, DestAction.WITHDRAW): _D.WITHDRAWN,  # after the permit: compensation (abandon)
    (_D.PERMIT_SENT, DestAction.ABANDON): _D.ABANDONED,
    (_D.CERTIFICATE_RECEIVED, DestAction.RECEIVE_CERTIFICATE): _D.CERTIFICATE_RECEIVED,  # a reissue
    (_D.CERTIFICATE_RECEIVED, DestAction.REQUEST_REISSUE): _D.CERTIFICATE_RECEIVED,
    (_D.CERTIFICATE_RECEIVED, DestAction.MOVE_IN): _D.SETTLED,
    (_D.CERTIFICATE_RECEIVED, DestAction.WITHDRAW): _D.WITHDRAWN,
    (_D.CERTIFICATE_RECEIVED, DestAction.ABANDON): _D.ABANDONED,
}


class OriginState(StrEnum):
    """The origin's task of a migration (linked to the destination's case)."""

    RECEIVED = "received"  # permit received and verified; the move-out awaits a clerk
    MOVED_OUT = "moved_out"  # in transit, certificate sent
    SETTLED = "settled"  # the destination registered the move-in; move-out confirmed (terminal)
    RESTORED = "restored"  # abandoned after the move-out: the person is registered here again (terminal)
    REFUSED = "refused"  # refused (terminal)
    CANCELLED = "cancelled"  # abandoned before the move-out, or before the permit arrived (terminal)


class OriginAction(StrEnum):
    MOVE_OUT = "move_out"
    REFUSE = "refuse"
    SETTLED = "settled"
    ABANDON = "abandon"
    REISSUE = "reissue"


_O = OriginState
ORIGIN_TRANSITIONS: Mapping[tuple[OriginState, OriginAction], OriginState] = {
    (_O.RECEIVED, OriginAction.MOVE_OUT): _O.MOVED_OUT,
    (_O.RECEIVED, OriginAction.REFUSE): _O.REFUSED,
    (_O.RECEIVED, OriginAction.ABANDON): _O.CANCELLED,
    (_O.MOVED_OUT, OriginAction.SETTLED): _O.SETTLED,
    (_O.MOVED_OUT, OriginAction.ABANDON): _O.RESTORED,
    (_O.MOVED_OUT, OriginAction.REISSUE): _O.MOVED_OUT,
}

DEST_OPEN = frozenset({_D.ACCEPTED, _D.PERMIT_SENT, _D.CERTIFICATE_RECEIVED})
ORIGIN_OPEN = frozenset({_O.RECEIVED, _O.MOVED_OUT})


def next_dest(state: DestState, action: DestAction, *, number: str) -> DestState:
    """The next state, or ``Conflict`` (nothing changed) when ``action`` is not allowed in ``state``."""
    target = DEST_TRANSITIONS.get((state, action))
    if target is None:
        raise Conflict(
            N_("Migration {number} is {state}: {action} is not allowed"),
            number=number,
            state=state.value,
            action=action.value,
        )
    return target


def next_origin(state: OriginState, action: OriginAction, *, number: str) -> OriginState:
    target = ORIGIN_TRANSITIONS.get((state, action))
    if target is None:
        raise Conflict(
            N_("Migration {number} is {state}: {action} is not allowed"),
            number=number,
            state=state.value,
            action=action.value,
        )
    return target


def same_city(a: str, b: str) -> bool:
    """Two divisions of one city: the same prefecture-level code (the first four digits)."""
    return a[:4] == b[:4] and a[:2] != "00"


# -- the messages ----------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PermitMessage(_Strict):
    """``mig.permit.v1``: the signed move-in permit (its JSON form), for the person and case it names."""

    case_ref: str = Field(pattern=_CASE)
    matter: str = Field(min_length=1, max_length=32)
    id_number: str = Field(pattern=_ID)
    permit: str = Field(min_length=1, max_length=64_000)


class PersonRecord(_Strict):
    """What the destination's move-in needs of the origin's register record (nothing more)."""

    name: str = Field(min_length=1, max_length=64)
    sex: Literal["male", "female"]
    birth_date: date
    ethnicity: str = Field(min_length=2, max_length=2)
    birthplace: str = Field(pattern=_DIVISION)


class CertificateMessage(_Strict):
    """``mig.certificate.v1``: the signed migration certificate, with the record the move-in needs.
    ``reissue_of`` names the certificate a reissue replaces. ``permit_hash`` names the permit it answers
    (the SHA-256 of the permit envelope's bytes, as the envelope's ``in_reply_to``)."""

    case_ref: str = Field(pattern=_CASE)
    permit_hash: str = Field(pattern=_HASH)
    certificate: str = Field(min_length=1, max_length=64_000)
    record: PersonRecord
    reissue_of: str | None = Field(default=None, max_length=64)


class RefusedMessage(_Strict):
    """``mig.refused.v1``: the origin refuses; ``note`` is the clerk's words, if any; ``permit_hash`` names
    the permit refused (as in ``CertificateMessage``)."""

    case_ref: str = Field(pattern=_CASE)
    permit_hash: str = Field(pattern=_HASH)
    reason: Refusal
    note: str | None = Field(default=None, max_length=200)


class SettledMessage(_Strict):
    """``mig.settled.v1``: the destination registered the move-in on ``moved_in_on``."""

    case_ref: str = Field(pattern=_CASE)
    certificate_number: str = Field(min_length=1, max_length=64)
    moved_in_on: date


class AbandonMessage(_Strict):
    """``mig.abandon.v1``: the destination's signed abandon; the origin cancels or restores."""

    case_ref: str = Field(pattern=_CASE)
    reason: Literal["withdrawn", "abandoned"]
    note: str | None = Field(default=None, max_length=200)


class ReissueMessage(_Strict):
    """``mig.reissue.v1``: the certificate ``certificate_number`` nears its end; issue a new one."""

    case_ref: str = Field(pattern=_CASE)
    certificate_number: str = Field(min_length=1, max_length=64)
