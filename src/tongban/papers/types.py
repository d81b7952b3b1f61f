"""The kinds of paper a node issues, each with the schema of its subject and facts.

A type is data: a code (in the payload), a short code (in paper numbers), names in zh-CN and en, pydantic
models for what the paper shows about its subject and for its facts, and its validity rule. More types come by
``register_type``. Schemas are checked when a paper is issued; a verifier checks the signature over the bytes
as issued and reads the facts as they are, so an older or newer schema never breaks verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tongban.core.errors import N_, InvalidInput

_DIVISION = r"^[0-9]{6}$"
_ID_NUMBER = r"^[0-9]{17}[0-9X]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Subject(_Strict):
    """What a paper shows about its person: only this, nothing else from the record."""

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(pattern=_ID_NUMBER)


class Relative(_Strict):
    name: str = Field(min_length=1, max_length=64)
    relation: str = Field(min_length=1, max_length=32)  # relation to the subject, e.g. 父亲, 配偶


class KinshipFacts(_Strict):
    """Kinship certificate (亲属关系证明): who is related to the subject, per the registry."""

    relatives: list[Relative] = Field(min_length=1, max_length=20)
    household_number: str = Field(min_length=1, max_length=32)


class CancellationReason(StrEnum):
    DEATH = "death"
    EMIGRATION = "emigration"
    MILITARY_SERVICE = "military-service"
    DUPLICATE = "duplicate"
    OTHER = "other"


class CancellationFacts(_Strict):
    """Certificate of cancellation of registration (注销户口证明)."""

    reason: CancellationReason
    cancelled_on: date
    former_division: str = Field(pattern=_DIVISION)
    former_address: str = Field(min_length=1, max_length=200)


class ItemChangeFacts(_Strict):
    """Certificate of change or correction of a registration item (户口登记项目变更更正证明)."""

    item: str = Field(min_length=1, max_length=32)  # e.g. name, birth_date, ethnicity
    old_value: str = Field(max_length=200)
    new_value: str = Field(max_length=200)
    changed_on: date


class MoveInPermitFacts(_Strict):
    """Move-in permit (准迁证), issued by the destination."""

    matter: str = Field(min_length=1, max_length=32)  # e.g. MIG-JOB
    case_ref: str = Field(min_length=1, max_length=64)
    origin_division: str = Field(pattern=_DIVISION)
    origin_address: str = Field(min_length=1, max_length=200)
    destination_division: str = Field(pattern=_DIVISION)
    destination_address: str = Field(min_length=1, max_length=200)


class MigrationCertificateFacts(_Strict):
    """Migration certificate (迁移证), issued by the origin after the move-out."""

    case_ref: str = Field(min_length=1, max_length=64)
    permit_number: str = Field(min_length=1, max_length=64)
    moved_out_on: date
    origin_division: str = Field(pattern=_DIVISION)
    origin_address: str = Field(min_length=1, max_length=200)
    destination_division: str = Field(pattern=_DIVISION)
    destination_address: str = Field(min_length=1, max_length=200)


@dataclass(frozen=True)
class PaperType:
    code: str  # in the payload, e.g. ``mig.certificate``
    short: str  # in paper numbers, e.g. ``MC``
    name_zh: str
    name_en: str
    facts: type[BaseModel]
    subject: type[BaseModel] = Subject
    max_validity: timedelta | None = None  # longest allowed valid_until - issued_at
    validity_required: bool = False

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def check_subject(self, subject: Any) -> dict[str, Any]:
        return _validated(self.subject, subject, N_("The paper's subject is not valid: {errors}"))

    def check_facts(self, facts: Any) -> dict[str, Any]:
        return _validated(self.facts, facts, N_("The paper's facts are not valid: {errors}"))


def _validated(model: type[BaseModel], value: Any, message: str) -> dict[str, Any]:
    try:
        obj = value if isinstance(value, model) else model.model_validate(value)
    except ValidationError as exc:
        errors = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors())
        raise InvalidInput(message, errors=errors) from exc
    dumped: dict[str, Any] = obj.model_dump(mode="json")
    return dumped


_REGISTRY: dict[str, PaperType] = {}


RESERVED_SHORTS = {"RL"}  # the revocation-list serial counter


def register_type(paper_type: PaperType) -> PaperType:
    if paper_type.short in RESERVED_SHORTS:
        raise ValueError(f"short code {paper_type.short} is reserved")
    if paper_type.code in _REGISTRY or any(t.short == paper_type.short for t in _REGISTRY.values()):
        raise ValueError(f"paper type {paper_type.code} / {paper_type.short} already registered")
    _REGISTRY[paper_type.code] = paper_type
    return paper_type


def paper_type(code: str) -> PaperType:
    try:
        return _REGISTRY[code]
    except KeyError:
        raise InvalidInput(N_("Unknown paper type {type}"), type=code) from None


def find_type(code: str) -> PaperType | None:
    return _REGISTRY.get(code)


def all_types() -> list[PaperType]:
    return sorted(_REGISTRY.values(), key=lambda t: t.code)


CERT_KINSHIP = register_type(
    PaperType("cert.kinship", "QS", "亲属关系证明", "Certificate of kinship", KinshipFacts)
)
CERT_CANCELLATION = register_type(
    PaperType(
        "cert.cancellation",
        "ZX",
        "注销户口证明",
        "Certificate of cancellation of registration",
        CancellationFacts,
    )
)
CERT_ITEM_CHANGE = register_type(
    PaperType(
        "cert.item-change",
        "BG",
        "户口登记项目变更更正证明",
        "Certificate of change of a registration item",
        ItemChangeFacts,
    )
)
MOVE_IN_PERMIT = register_type(
    PaperType(
        "mig.permit",
        "ZQ",
        "准予迁入证明",
        "Move-in permit",
        MoveInPermitFacts,
        validity_required=True,
    )
)
MIGRATION_CERTIFICATE = register_type(
    PaperType(
        "mig.certificate",
        "QY",
        "户口迁移证",
        "Migration certificate",
        MigrationCertificateFacts,
        max_validity=timedelta(days=30),  # national rule since 1995
        validity_required=True,
    )
)
