"""Papers use cases of the issuing node: issue, reissue, revoke, read. Each runs in the caller's transaction.

The issuer's signing key comes from ``node.services["papers.keys"]`` (anything with
``current_signer(issuer, at) -> PaperSigner | None``: the file key store now, the exchange's key provider or an
HSM later). Every issue and revocation is recorded in the node's audit log in the same transaction; every
revocation re-signs the issuer's revocation list with the next serial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.core.clock import ensure_utc
from tongban.core.errors import N_, Conflict, InvalidInput, NotFound
from tongban.core.node import NodeContext
from tongban.papers import revocation_sync, store
from tongban.papers.domain import (
    PaperSigner,
    RevocationList,
    SignedPaper,
    build_payload,
    build_revocation_payload,
    format_time,
    sign_bytes,
)
from tongban.papers.tables import PaperRow
from tongban.papers.types import paper_type

KEYS_SERVICE = "papers.keys"


class SignerSource(Protocol):
    def current_signer(self, issuer: str, at: datetime) -> PaperSigner | None: ...


@dataclass(frozen=True)
class IssuedPaper:
    number: str
    type: str
    issuer: str
    division_code: str
    subject_ref: str | None
    signed: SignedPaper
    issued_at: datetime
    valid_until: datetime | None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    reissue_of: str | None = None


def _issued(row: PaperRow) -> IssuedPaper:
    return IssuedPaper(
        number=row.number,
        type=row.type,
        issuer=row.issuer,
        division_code=row.division_code,
        subject_ref=row.subject_ref,
        signed=store.signed_of(row),
        issued_at=row.issued_at,
        valid_until=row.valid_until,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
        reissue_of=row.reissue_of,
    )


def signer_for(node: NodeContext, at: datetime) -> PaperSigner:
    source: SignerSource | None = node.services.get(KEYS_SERVICE)
    signer = source.current_signer(node.code, at) if source is not None else None
    if signer is None:
        raise Conflict(N_("Node {node} has no usable paper key."), node=node.code)
    return signer


def paper_number(session: Session, *, issuer: str, short: str, at: datetime) -> str:
    """``<issuer>-<type short>-<year>-<sequence>``, unique per issuer (e.g. ``110000-QY-2026-000042``)."""
    year = ensure_utc(at).year
    seq = store.next_sequence(session, issuer=issuer, prefix=short, year=year)
    return f"{issuer}-{short}-{year}-{seq:06d}"


def issue_paper(
    session: Session,
    *,
    node: NodeContext,
    actor: str,
    type: str,
    subject: Mapping[str, Any],
    facts: Mapping[str, Any],
    valid_until: datetime | None,
    purpose: str,
    division_code: str,
    reissue_of: str | None = None,
    subject_ref: str | None = None,
) -> IssuedPaper:
    """Issue a signed paper of ``node`` in the caller's transaction, and audit it.

    ``subject`` is only what the paper must show about its person; ``subject_ref`` the person's opaque
    registry reference; ``division_code`` the county-level division the paper belongs to (where the subject
    is registered), which scopes who may read it. A reissue names its predecessor (same issuer and type); a predecessor still in force
    is revoked as ``reissued`` in the same transaction.
    """
    kind = paper_type(type)
    shown_subject = kind.check_subject(subject)
    checked_facts = kind.check_facts(facts)
    now = node.clock.now().replace(microsecond=0)
    if valid_until is None and kind.max_validity is not None:
        valid_until = now + kind.max_validity
    if valid_until is None and kind.validity_required:
        raise InvalidInput(N_("A {type} needs a validity end."), type=kind.name_en)
    if valid_until is not None:
        valid_until = ensure_utc(valid_until).replace(microsecond=0)
        if valid_until <= now:
            raise InvalidInput(N_("The validity end must lie in the future."))
        if kind.max_validity is not None and valid_until - now > kind.max_validity:
            raise InvalidInput(
                N_("A {type} may be valid for at most {days} days."),
                type=kind.name_en,
                days=kind.max_validity.days,
            )
    if not purpose.strip():
        raise InvalidInput(N_("A paper needs a purpose."))
    if not (len(division_code) == 6 and division_code.isdigit() and division_code.startswith(node.code[:2])):
        raise InvalidInput(N_("Division {code} is not one of this node's."), code=division_code)
    predecessor = None
    if reissue_of is not None:
        predecessor = store.get_paper(session, issuer=node.code, number=reissue_of, for_update=True)
        if predecessor is None:
            raise NotFound(N_("No paper {number} was issued here."), number=reissue_of)
        if predecessor.type != kind.code:
            raise InvalidInput(N_("A reissue must be of the same type as the paper it replaces."))
    signer = signer_for(node, now)
    number = paper_number(session, issuer=node.code, short=kind.short, at=now)
    payload = build_payload(
        type=kind.code,
        number=number,
        issuer=node.code,
        subject=shown_subject,
        facts=checked_facts,
        issued_at=now,
        valid_until=valid_until,
        purpose=purpose,
        reissue_of=reissue_of,
    )
    signed = sign_bytes(payload, signer)
    row = PaperRow(
        issuer=node.code,
        number=number,
        type=kind.code,
        division_code=division_code,
        subject_ref=subject_ref,
        payload=signed.payload,
        sig_alg=signed.signature.alg,
        key_id=signed.signature.key_id,
        signature=signed.signature.value,
        issued_at=now,
        valid_until=valid_until,
        issued_by=actor,
        reissue_of=reissue_of,
    )
    store.add_paper(session, row)
    record_audit(
        session,
        actor=actor,
        action="papers.paper.issue",
        object_type="paper",
        object_id=number,
        change={
            "type": kind.code,
            "number": number,
            "key_id": signer.key_id,
            "valid_until": None if valid_until is None else format_time(valid_until),
            "reissue_of": reissue_of,
        },
        at=now,
    )
    in_force = predecessor is not None and predecessor.revoked_at is None
    if (
        predecessor is not None
        and in_force
        and (predecessor.valid_until is None or predecessor.valid_until > now)
    ):
        _revoke_row(session, node=node, actor=actor, row=predecessor, reason="reissued", now=now)
        _publish_revocations(session, node=node, signer=signer, now=now)
    elif not _has_revocation_list(session, node):
        session.info[_LIST_PUBLISHED_HERE] = True
        _publish_revocations(session, node=node, signer=signer, now=now)  # serial 0: nothing revoked yet
    return _issued(row)


_LIST_SEEN = "papers.revocation_list_seen"
_LIST_PUBLISHED_HERE = "papers.revocation_list_published"


def _has_revocation_list(session: Session, node: NodeContext) -> bool:
    """Whether the node has published a revocation list. A list is never deleted, so once one is seen that
    this session did not publish itself (so it is committed, not a row its transaction may yet roll back),
    the node remembers it and stops asking at every paper it issues."""
    if node.services.get(_LIST_SEEN):
        return True
    found = store.has_revocation_list(session, issuer=node.code)
    if found and not session.info.get(_LIST_PUBLISHED_HERE):
        node.services[_LIST_SEEN] = True
    return found


def get_paper(session: Session, *, node: NodeContext, number: str) -> IssuedPaper:
    row = store.get_paper(session, issuer=node.code, number=number)
    if row is None:
        raise NotFound(N_("No paper {number} was issued here."), number=number)
    return _issued(row)


def fetch_paper(session: Session, *, node: NodeContext, actor: str, number: str, form: str) -> IssuedPaper:
    """A paper for download by ``actor`` (a read of a person's data): audited in the caller's transaction."""
    paper = get_paper(session, node=node, number=number)
    record_audit(
        session,
        actor=actor,
        action="papers.paper.read",
        object_type="paper",
        object_id=number,
        change={"form": form},
        at=node.clock.now(),
    )
    return paper


REVOCATION_REASONS = ("issued-in-error", "superseded", "reissued", "withdrawn", "fraud")


def revoke_paper(session: Session, *, node: NodeContext, actor: str, number: str, reason: str) -> IssuedPaper:
    """Revoke a paper of ``node`` and re-sign the node's revocation list, in the caller's transaction."""
    if reason not in REVOCATION_REASONS:
        raise InvalidInput(N_("Unknown revocation reason {reason}"), reason=reason)
    row = store.get_paper(session, issuer=node.code, number=number, for_update=True)
    if row is None:
        raise NotFound(N_("No paper {number} was issued here."), number=number)
    if row.revoked_at is not None:
        raise Conflict(N_("Paper {number} is already revoked."), number=number)
    now = node.clock.now().replace(microsecond=0)
    _revoke_row(session, node=node, actor=actor, row=row, reason=reason, now=now)
    _publish_revocations(session, node=node, signer=signer_for(node, now), now=now)
    return _issued(row)


def _revoke_row(
    session: Session, *, node: NodeContext, actor: str, row: PaperRow, reason: str, now: datetime
) -> None:
    row.revoked_at = now
    row.revocation_reason = reason
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="papers.paper.revoke",
        object_type="paper",
        object_id=row.number,
        change={"number": row.number, "reason": reason},
        at=now,
    )


REVOCATION_SERIAL = ("RL", 0)  # the counter row (prefix, year) that numbers an issuer's revocation lists


def _publish_revocations(session: Session, *, node: NodeContext, signer: PaperSigner, now: datetime) -> None:
    # The serial comes from an atomic counter upsert, whose row lock also orders concurrent revocations of
    # one issuer: the list read after it includes every revocation committed before.
    prefix, year = REVOCATION_SERIAL
    serial = store.next_sequence(session, issuer=node.code, prefix=prefix, year=year) - 1
    payload = build_revocation_payload(
        issuer=node.code,
        serial=serial,
        issued_at=now,
        revoked=store.revoked_papers(session, issuer=node.code),
    )
    signed = sign_bytes(payload, signer)
    store.add_revocation_list(session, issuer=node.code, serial=serial, signed=signed, issued_at=now)
    # Every other node's verifiers learn the new list through the exchange, sent with this transaction.
    revocation_sync.push(session, node=node, signed=signed)


def current_revocations(session: Session, *, issuer: str) -> SignedPaper | None:
    """The issuer's newest signed revocation list, as stored (None before its first paper)."""
    row = store.latest_revocation_list(session, issuer=issuer)
    return None if row is None else store.signed_of(row)


def local_revocations(session: Session, *, issuer: str, resolver: Any) -> RevocationList | None:
    """The issuer's own list, verified like any other (a node trusts its stored list no more than a peer's)."""
    from tongban.papers.domain import verify_revocation_list

    signed = current_revocations(session, issuer=issuer)
    return None if signed is None else verify_revocation_list(signed, resolver, issuer=issuer)
