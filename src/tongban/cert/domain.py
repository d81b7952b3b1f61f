"""The CERT exchange messages and refusal reasons (plain Python: no storage, no web)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tongban.core.i18n import N_, gettext

REQUEST_TYPE = "cert.request.v1"
RESULT_TYPE = "cert.result.v1"
MATTER = "CERT"


class CertKind(StrEnum):
    KINSHIP = "kinship"
    CANCELLATION = "cancellation"
    ITEM_CHANGE = "item_change"

    @property
    def paper_type(self) -> str:
        return {
            "kinship": "cert.kinship",
            "cancellation": "cert.cancellation",
            "item_change": "cert.item-change",
        }[self.value]


class Refusal(StrEnum):
    """Why a hukou node refuses a certificate (codes travel; texts are translated where they are shown)."""

    NO_KINSHIP = "no-kinship"
    NOT_REGISTERED = "not-registered"
    CONSENT_MISSING = "consent-missing"
    NOT_CANCELLED = "not-cancelled"
    NO_ITEM_CHANGE = "no-item-change"
    # Decided at the accepting node on the locator's answer (they never travel in a result):
    NOT_LOCATED = "not-located"
    REGISTRATION_CANCELLED = "registration-cancelled"
    REGISTERED_HERE = "registered-here"
    NO_NODE = "no-node"

    @property
    def text(self) -> str:
        return REFUSAL_TEXTS[self]

    def translated(self, locale: str) -> str:
        return gettext(locale, REFUSAL_TEXTS[self])


REFUSAL_TEXTS: dict[Refusal, str] = {
    Refusal.NO_KINSHIP: N_("no such kinship is recorded in the household register"),
    Refusal.NOT_REGISTERED: N_("the person is not registered at the hukou locality"),
    Refusal.CONSENT_MISSING: N_("the applicant's consent is missing"),
    Refusal.NOT_CANCELLED: N_("no cancellation of this registration is recorded"),
    Refusal.NO_ITEM_CHANGE: N_("no change of this registration item is recorded"),
    Refusal.NOT_LOCATED: N_("the person is not registered in any province"),
    Refusal.REGISTRATION_CANCELLED: N_(
        "the person's registration is cancelled: no province registers them now"
    ),
    Refusal.REGISTERED_HERE: N_(
        "the person is registered in this province: the certificate is issued by the local registry"
    ),
    Refusal.NO_NODE: N_("no node serves the person's hukou locality"),
}

# Reasons the accepting node decides on the locator's answer; a reviewer at the hukou node gives the others.
ACCEPTING_REFUSALS = frozenset(
    {Refusal.NOT_LOCATED, Refusal.REGISTRATION_CANCELLED, Refusal.REGISTERED_HERE, Refusal.NO_NODE}
)
REVIEW_REFUSALS = tuple(r for r in Refusal if r not in ACCEPTING_REFUSALS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestedFacts(_Strict):
    """What the applicant asks to be certified (each kind reads its own fields)."""

    relative_id_number: str | None = Field(default=None, pattern=r"^[0-9]{17}[0-9X]$")  # kinship
    item: str | None = Field(default=None, max_length=32)  # item_change: e.g. name, birth_date


class CertRequest(_Strict):
    """``cert.request.v1``, accepting node -> hukou node; travels encrypted (it carries an ID number)."""

    case_ref: str = Field(min_length=1, max_length=64)
    kind: CertKind
    id_number: str = Field(pattern=r"^[0-9]{17}[0-9X]$")
    consent_ref: str | None = Field(default=None, max_length=64)
    purpose: str = Field(min_length=1, max_length=100)
    facts: RequestedFacts = RequestedFacts()


class CertResult(_Strict):
    """``cert.result.v1``, hukou node -> accepting node: the issued paper (signed JSON form) or a refusal.
    ``request_hash`` repeats the envelope's ``in_reply_to`` (the hash of the request's bytes)."""

    case_ref: str = Field(min_length=1, max_length=64)
    request_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    outcome: Literal["issued", "refused"]
    paper: str | None = Field(default=None, max_length=64_000)
    reason: Refusal | None = None
