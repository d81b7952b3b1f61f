"""Papers: canonical payloads, signatures, revocation lists and the verification rule (no storage, no web).

A paper is its payload bytes (canonical JSON, see ``canonical``) and a signature block (algorithm, key id,
signature) made with the issuer's paper key. Verification checks the signature over the bytes exactly as
issued, then reads them; it never re-serialises or normalises. Keys come through two small protocols,
``PaperSigner`` (issuing) and ``PaperKeyResolver`` (verifying), so the source of keys (key files, the national
directory, an HSM later) is one adapter away.

Key rule (as for the directory): a signature made within its key's validity stays valid later, unless the key
was revoked for compromise (nothing it signed is trusted), or revoked for another reason before the signature.
The signing time is the paper's ``issued_at``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tongban.core.errors import N_
from tongban.papers.canonical import CanonicalError, canonical_json, parse_json
from tongban.papers.types import find_type

PAYLOAD_FORMAT = "tongban.paper.v1"
REVOCATIONS_FORMAT = "tongban.paper-revocations.v1"
ALG_ED25519 = "Ed25519"
COMPROMISE = "compromise"
# How far in the future a paper's issued_at may lie (clock skew between issuer and verifier).
CLOCK_SKEW = timedelta(minutes=5)


# -- times -------------------------------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """Times in payloads: UTC, seconds, ``Z`` (``2026-11-27T14:05:00Z``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: times must carry their zone")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) != 20 or value[10] != "T" or value[19] != "Z":
        raise ValueError(f"bad time {value!r}")
    parsed = datetime.fromisoformat(value)  # C-fast; the shape check above keeps it to one format
    if parsed.tzinfo != UTC:
        raise ValueError(f"bad time {value!r}")
    return parsed


# -- keys ----------------------------------------------------------------------------------------------------


class PaperSigner(Protocol):
    """An issuer's current paper key, able to sign (the private key may live in a file or an HSM)."""

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PaperKey:
    """A public paper key of an issuer, with its validity, as the directory lists it."""

    issuer: str
    key_id: str
    public_key: bytes
    not_before: datetime
    not_after: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    algorithm: str = ALG_ED25519

    def refusal_at(self, signed_at: datetime) -> str | None:
        """None when a signature made at ``signed_at`` is trusted; else a reason slug."""
        if self.revoked_at is not None:
            if self.revocation_reason == COMPROMISE:
                return "key-compromised"
            if signed_at >= self.revoked_at:
                return "key-revoked"
        if signed_at < self.not_before or (self.not_after is not None and signed_at >= self.not_after):
            return "key-not-valid"
        return None


class PaperKeyResolver(Protocol):
    def paper_key(self, issuer: str, key_id: str) -> PaperKey | None:
        """The issuer's paper key ``key_id``, or None when the issuer or key is unknown."""
        ...


@functools.lru_cache(maxsize=4096)
def _ed25519_public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def _verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _ed25519_public(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# Algorithm id -> verify(public key, message, signature). SM2/SM3 is added here when it comes.
VERIFIERS: dict[str, Callable[[bytes, bytes, bytes], bool]] = {ALG_ED25519: _verify_ed25519}


# -- signed objects --------------------------------------------------------------------------------------------


# Signed papers, their views and verdicts are named tuples: immutable like frozen dataclasses, and made several
# times faster, which bulk verification (several per paper) notices.
class SignatureBlock(NamedTuple):
    alg: str
    key_id: str
    value: bytes


class SignedPaper(NamedTuple):
    """Payload bytes exactly as signed, and the signature block."""

    payload: bytes
    signature: SignatureBlock


def sign_bytes(payload: bytes, signer: PaperSigner) -> SignedPaper:
    return SignedPaper(payload, SignatureBlock(signer.algorithm, signer.key_id, signer.sign(payload)))


def build_payload(
    *,
    type: str,
    number: str,
    issuer: str,
    subject: Mapping[str, Any],
    facts: Mapping[str, Any],
    issued_at: datetime,
    valid_until: datetime | None,
    purpose: str,
    reissue_of: str | None = None,
) -> bytes:
    """The canonical payload bytes of a paper (the caller has checked subject and facts against the type)."""
    return canonical_json(
        {
            "format": PAYLOAD_FORMAT,
            "type": type,
            "number": number,
            "issuer": issuer,
            "subject": dict(subject),
            "facts": dict(facts),
            "issued_at": format_time(issued_at),
            "valid_until": None if valid_until is None else format_time(valid_until),
            "purpose": purpose,
            "reissue_of": reissue_of,
        }
    )


class PaperView(NamedTuple):
    """What a paper itself says (read from the verified payload), and nothing else."""

    type: str
    number: str
    issuer: str
    subject: dict[str, Any]
    facts: dict[str, Any]
    issued_at: datetime
    valid_until: datetime | None
    purpose: str
    reissue_of: str | None

    def type_name(self, locale: str) -> str:
        known = find_type(self.type)
        return known.name(locale) if known else self.type

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "number": self.number,
            "issuer": self.issuer,
            "subject": self.subject,
            "facts": self.facts,
            "issued_at": format_time(self.issued_at),
            "valid_until": None if self.valid_until is None else format_time(self.valid_until),
            "purpose": self.purpose,
            "reissue_of": self.reissue_of,
        }


class MalformedPaper(ValueError):
    pass


def read_payload(payload: bytes) -> PaperView:
    """Parse payload bytes into their fields (raises ``MalformedPaper``). Does not check the signature."""
    try:
        raw = parse_json(payload)
    except CanonicalError as exc:
        raise MalformedPaper(str(exc)) from exc
    # The strict parser gives plain dicts and strs, so exact type checks say the same as isinstance here.
    if type(raw) is not dict or raw.get("format") != PAYLOAD_FORMAT:
        raise MalformedPaper("not a tongban paper payload")
    get = raw.get
    kind, number, issuer, purpose = get("type"), get("number"), get("issuer"), get("purpose")
    subject, facts, valid_until, reissue_of = (
        get("subject"),
        get("facts"),
        get("valid_until"),
        get("reissue_of"),
    )
    if not (type(kind) is str and kind and type(number) is str and number and type(issuer) is str and issuer):
        raise MalformedPaper("type, number and issuer must be non-empty strings")
    if type(purpose) is not str:
        raise MalformedPaper("purpose must be a string")
    if type(subject) is not dict or type(facts) is not dict:
        raise MalformedPaper("subject and facts must be objects")
    if reissue_of is not None and (type(reissue_of) is not str or not reissue_of):
        raise MalformedPaper("reissue_of must be a string")
    try:
        issued_at = parse_time(get("issued_at"))
        until = None if valid_until is None else parse_time(valid_until)
    except ValueError as exc:
        raise MalformedPaper(str(exc)) from exc
    return PaperView(kind, number, issuer, subject, facts, issued_at, until, purpose, reissue_of)


def _str(raw: Mapping[str, Any], name: str, *, empty: bool = False) -> str:
    value = raw[name]
    if not isinstance(value, str) or (not value and not empty):
        raise ValueError(f"{name} must be a string")
    return value


def _dict(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw[name]
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


# -- revocation lists --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokedPaper:
    number: str
    reason: str
    revoked_at: datetime


@dataclass(frozen=True)
class RevocationList:
    """An issuer's verified list of revoked papers; ``serial`` only increases."""

    issuer: str
    serial: int
    issued_at: datetime
    revoked: Mapping[str, RevokedPaper]
    signed: SignedPaper


def build_revocation_payload(
    *, issuer: str, serial: int, issued_at: datetime, revoked: Iterable[RevokedPaper]
) -> bytes:
    return canonical_json(
        {
            "format": REVOCATIONS_FORMAT,
            "issuer": issuer,
            "serial": serial,
            "issued_at": format_time(issued_at),
            "revoked": [
                {"number": r.number, "reason": r.reason, "revoked_at": format_time(r.revoked_at)}
                for r in sorted(revoked, key=lambda r: r.number)
            ],
        }
    )


class RevocationListRefused(ValueError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def verify_revocation_list(
    signed: SignedPaper, resolver: PaperKeyResolver, *, issuer: str | None = None
) -> RevocationList:
    """Check a revocation list's signature against the issuer's paper key and parse it."""
    try:
        raw = parse_json(signed.payload)
        if not isinstance(raw, dict) or raw.get("format") != REVOCATIONS_FORMAT:
            raise RevocationListRefused("malformed")
        list_issuer = _str(raw, "issuer")
        serial = raw["serial"]
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise RevocationListRefused("malformed")
        issued_at = parse_time(raw["issued_at"])
        entries = {}
        for item in raw["revoked"]:
            entry = RevokedPaper(_str(item, "number"), _str(item, "reason"), parse_time(item["revoked_at"]))
            entries[entry.number] = entry
    except (CanonicalError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, RevocationListRefused):
            raise
        raise RevocationListRefused("malformed") from exc
    if issuer is not None and list_issuer != issuer:
        raise RevocationListRefused("wrong-issuer")
    key = resolver.paper_key(list_issuer, signed.signature.key_id)
    if key is None:
        raise RevocationListRefused("unknown-key")
    refusal = key.refusal_at(issued_at)
    if refusal is not None:
        raise RevocationListRefused(refusal)
    verifier = VERIFIERS.get(signed.signature.alg)
    if (
        verifier is None
        or key.algorithm != signed.signature.alg
        or not verifier(key.public_key, signed.payload, signed.signature.value)
    ):
        raise RevocationListRefused("bad-signature")
    return RevocationList(list_issuer, serial, issued_at, entries, signed)


@dataclass
class Revocations:
    """The newest verified revocation list of each issuer a verifier knows (change it through ``add``)."""

    lists: dict[str, RevocationList] = field(default_factory=dict)
    # When each held list was last known to be the issuer's newest (fetched, pushed or confirmed); without
    # an entry, the list's own ``issued_at``.
    checked: dict[str, datetime] = field(default_factory=dict)
    # The freshness reason of each issuer's list, made once per change (bulk verification reads it per paper).
    _freshness: dict[str, tuple[Reason, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def add(self, rl: RevocationList, *, checked_at: datetime | None = None) -> bool:
        """Keep ``rl`` if it is newer than the one held; True when it was kept. ``checked_at``: when it was
        known to be the newest (recorded also when it equals the one held)."""
        held = self.lists.get(rl.issuer)
        if held is not None and held.serial > rl.serial:
            return False
        self._freshness.pop(rl.issuer, None)
        if checked_at is not None and (held is None or held.serial <= rl.serial):
            self.checked[rl.issuer] = max(checked_at, self.checked.get(rl.issuer, checked_at))
        if held is not None and held.serial == rl.serial:
            return False
        self.lists[rl.issuer] = rl
        return True

    def as_of(self, issuer: str) -> datetime | None:
        """How fresh the issuer's held list is: when it was last known to be the newest."""
        rl = self.lists.get(issuer)
        if rl is None:
            return None
        return max(self.checked.get(issuer, rl.issued_at), rl.issued_at)

    def knows(self, issuer: str) -> bool:
        return issuer in self.lists

    def lookup(self, issuer: str, number: str) -> RevokedPaper | None:
        rl = self.lists.get(issuer)
        return None if rl is None else rl.revoked.get(number)

    def freshness(self, issuer: str) -> tuple[Reason, ...]:
        """How fresh the issuer's list is, as the reason verdicts carry (nothing when no list is held)."""
        reasons = self._freshness.get(issuer)
        if reasons is None:
            rl = self.lists.get(issuer)
            as_of = self.as_of(issuer)
            reasons = () if rl is None or as_of is None else (_freshness_reason(issuer, as_of, rl.serial),)
            self._freshness[issuer] = reasons
        return reasons


# -- verification ------------------------------------------------------------------------------------------------


class Status(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INVALID = "invalid"


# Slugs that appear as reason parameters (revocation reasons), with their words.
PARAM_TEXT = {
    "issued-in-error": N_("issued in error"),
    "superseded": N_("superseded"),
    "reissued": N_("replaced by a reissued paper"),
    "withdrawn": N_("withdrawn by the issuer"),
    "fraud": N_("obtained by fraud"),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # stable slug
    message: str  # English msgid with {placeholders}
    params: dict[str, str] = field(default_factory=dict)

    def text(self, translate: Callable[..., str] | None = None) -> str:
        if translate is not None:
            params = {k: translate(PARAM_TEXT[v]) if v in PARAM_TEXT else v for k, v in self.params.items()}
            return translate(self.message, **params)
        return self.message.format(**self.params)


class Verdict(NamedTuple):
    status: Status
    reasons: list[Reason]
    paper: PaperView | None  # only when the signature verified: what the paper itself says
    key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "reasons": [{"code": r.code, "message": r.text(), "params": r.params} for r in self.reasons],
            "paper": None if self.paper is None else self.paper.to_json(),
            "key_id": self.key_id,
        }


def invalid(code: str, message: str, **params: str) -> Verdict:
    return Verdict(Status.INVALID, [Reason(code, message, params)], None)


_KEY_REASONS = {
    "key-compromised": N_("The issuer's key {key_id} was revoked because it was compromised."),
    "key-revoked": N_("The issuer's key {key_id} had been revoked before this paper was issued."),
    "key-not-valid": N_("The issuer's key {key_id} was not valid when this paper was issued."),
}


@functools.lru_cache(maxsize=256)
def _freshness_reason(issuer: str, as_of: datetime, serial: int) -> Reason:
    """One reason per list and time, shared by every verdict that used it (bulk verification formats it once)."""
    return Reason(
        "revocations-as-of",
        N_("Revocation list of {issuer} as of {time} (serial {serial})."),
        {"issuer": issuer, "time": format_time(as_of), "serial": str(serial)},
    )


_REVOCATIONS_UNKNOWN = Reason(
    "revocations-unknown",
    N_("The issuer's revocation list was not available; revocation was not checked."),
)


@functools.lru_cache(maxsize=1024)
def _signed_by(issuer: str, key_id: str) -> Reason:
    """The reason of a valid verdict, one per issuer and key (shared by the verdicts of bulk verification)."""
    return Reason("valid", N_("Signed by {issuer} with key {key_id}."), {"issuer": issuer, "key_id": key_id})


class _Checked(NamedTuple):
    """A paper read and its key found, ready for the signature check."""

    view: PaperView
    key: PaperKey
    verify: Callable[[bytes, bytes, bytes], bool]


def _before_signature(signed: SignedPaper, resolver: PaperKeyResolver) -> _Checked | Verdict:
    try:
        view = read_payload(signed.payload)
    except MalformedPaper:
        return invalid("malformed", N_("This is not a readable tongban paper."))
    sig = signed.signature
    key = resolver.paper_key(view.issuer, sig.key_id)
    if key is None:
        return invalid(
            "unknown-key",
            N_("The issuer {issuer} has no paper key {key_id} in the directory."),
            issuer=view.issuer,
            key_id=sig.key_id,
        )
    verifier = VERIFIERS.get(sig.alg)
    if verifier is None or key.algorithm != sig.alg:
        return invalid("unsupported-algorithm", N_("Unsupported signature algorithm {alg}."), alg=sig.alg)
    return _Checked(view, key, verifier)


def _bad_signature() -> Verdict:
    return invalid("bad-signature", N_("The signature does not match the paper: it was changed or forged."))


def verify_paper(
    signed: SignedPaper,
    resolver: PaperKeyResolver,
    revocations: Revocations | None,
    at: datetime,
) -> Verdict:
    """Valid, expired, revoked or invalid, with the reasons, for ``signed`` at time ``at``."""
    checked = _before_signature(signed, resolver)
    if isinstance(checked, Verdict):
        return checked
    sig = signed.signature
    if not checked.verify(checked.key.public_key, signed.payload, sig.value):
        return _bad_signature()
    return _after_signature(checked.view, checked.key, sig.key_id, revocations, at)


def verify_papers(
    papers: Sequence[SignedPaper | Verdict],
    resolver: PaperKeyResolver,
    revocations: Revocations | None,
    at: datetime,
) -> list[Verdict]:
    """``verify_paper`` of many papers (a verdict given in place of a paper is passed through): the same
    verdicts, but each step is taken for all papers before the next (reading, signatures, the rest), which
    keeps each step's code and data in the processor's caches and makes bulk verification faster."""
    out: list[Verdict | None] = []
    ready: list[tuple[int, SignedPaper, _Checked]] = []
    for i, paper in enumerate(papers):
        checked = paper if isinstance(paper, Verdict) else _before_signature(paper, resolver)
        if isinstance(checked, Verdict):
            out.append(checked)
        else:
            out.append(None)
            ready.append((i, cast(SignedPaper, paper), checked))
    good = [c.verify(c.key.public_key, p.payload, p.signature.value) for _, p, c in ready]
    for (i, p, c), ok in zip(ready, good, strict=True):
        out[i] = (
            _after_signature(c.view, c.key, p.signature.key_id, revocations, at) if ok else _bad_signature()
        )
    return cast(list[Verdict], out)


def _after_signature(
    view: PaperView, key: PaperKey, key_id: str, revocations: Revocations | None, at: datetime
) -> Verdict:
    """The rest of the rule once the signature holds."""
    issuer = view.issuer
    issued_at = view.issued_at
    refusal = key.refusal_at(issued_at)
    if refusal is not None:
        return invalid(refusal, _KEY_REASONS[refusal], key_id=key_id)
    # The signature holds: from here on the paper's own fields are shown.
    if issued_at > at + CLOCK_SKEW:
        return Verdict(
            Status.INVALID,
            [Reason("issued-in-future", N_("The paper says it was issued in the future."))],
            view,
            key_id,
        )
    valid_until = view.valid_until
    known = find_type(view.type)
    if (
        known is not None
        and known.max_validity is not None
        and (valid_until is None or valid_until - issued_at > known.max_validity)
    ):
        return Verdict(
            Status.INVALID,
            [
                Reason(
                    "validity-too-long",
                    N_("A {type} may be valid for at most {days} days."),
                    {"type": known.name_en, "days": str(known.max_validity.days)},
                )
            ],
            view,
            key_id,
        )
    rl = None if revocations is None else revocations.lists.get(issuer)
    if revocations is None or rl is None:
        if valid_until is not None and at > valid_until:
            return Verdict(Status.EXPIRED, [_expired(valid_until), _REVOCATIONS_UNKNOWN], view, key_id)
        return Verdict(Status.VALID, [_signed_by(issuer, key_id), _REVOCATIONS_UNKNOWN], view, key_id)
    freshness = revocations.freshness(issuer)
    revoked = rl.revoked.get(view.number)
    if revoked is not None:
        return Verdict(
            Status.REVOKED,
            [
                Reason(
                    "revoked",
                    N_("The issuer revoked this paper on {date} ({reason})."),
                    {"date": format_time(revoked.revoked_at), "reason": revoked.reason},
                ),
                *freshness,
            ],
            view,
            key_id,
        )
    if valid_until is not None and at > valid_until:
        return Verdict(Status.EXPIRED, [_expired(valid_until)], view, key_id)
    return Verdict(Status.VALID, [_signed_by(issuer, key_id), *freshness], view, key_id)


def _expired(valid_until: datetime) -> Reason:
    return Reason("expired", N_("The paper expired on {date}."), {"date": format_time(valid_until)})
