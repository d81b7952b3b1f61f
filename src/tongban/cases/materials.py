"""Materials and evidence: uploads checked by content, consents, and evidence requests to other nodes.

Uploads: the type is read from the file's first bytes (PDF, JPEG, PNG), never from its name or the browser's
content type, and the size is capped by ``max_upload_bytes`` (the declared size first, then counted while
copying; the web framework spools a multipart body to a temporary file before the route runs, so a front
proxy's body limit is what keeps very large bodies off the disk). An accepted file is written under ``<data_dir>/materials/<node>/`` (outside anything served as
static files) with a random name and no execute bit, and is served only by a route with a rule, as an
attachment. A refused upload leaves nothing behind: it is written to a temporary file in the same directory,
checked, and renamed into place only when the database row commits.

Materials a registry holds (``source = "registry"`` in the matter catalog) are never uploaded: they are
looked up. Evidence from another node's registry is requested through the exchange and must reference the
applicant's recorded consent (``ConsentRow``); without one the request is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.cases import evidence, store
from tongban.cases.catalog import Material, MaterialSource
from tongban.cases.service import cases_setup
from tongban.cases.tables import ConsentRow, EvidenceRequestRow, MaterialRow
from tongban.cases.window import applicant_ref
from tongban.core.errors import Conflict, InvalidInput, NotFound, TooLarge
from tongban.core.i18n import N_
from tongban.core.node import NodeContext

CHUNK = 64 * 1024
ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")

# Magic numbers of the accepted types (what the file is, whatever its name says).
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes, or None when it is not an accepted type."""
    for magic, content_type in SIGNATURES:
        if head.startswith(magic):
            return content_type
    return None


def materials_dir(node: NodeContext) -> Path:
    return Path(node.settings.data_dir).resolve() / "materials" / node.code


@dataclass(frozen=True)
class StoredMaterial:
    id: int
    case_number: str
    material: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


def asked_material(node: NodeContext, *, matter: str, procedure: str, key: str) -> Material:
    """The catalog's material ``key`` of the matter, if the applicant hands it in (a looked-up one: 422)."""
    m = cases_setup(node).catalog.get(matter)
    for material in m.materials_for(procedure):
        if material.key == key:
            if material.source is MaterialSource.REGISTRY:
                raise InvalidInput(
                    N_("{material} is held by a registry: it is looked up, never uploaded"), material=key
                )
            return material
    raise InvalidInput(N_("Matter {code} asks for no material {material}"), code=matter, material=key)


def _copy_limited(source: BinaryIO, target: BinaryIO, limit: int) -> tuple[int, str, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise TooLarge(N_("The file is larger than {limit} bytes"), limit=limit)
        if len(head) < 16:
            head = (head + chunk)[:16]
        digest.update(chunk)
        target.write(chunk)
    return size, digest.hexdigest(), head


def store_upload(
    node: NodeContext,
    *,
    case_number: str,
    material: str,
    stream: BinaryIO,
    actor: str,
    declared_size: int | None = None,
) -> StoredMaterial:
    """Check and keep an uploaded material; refused uploads (size, type, material) leave nothing stored."""
    limit = node.settings.max_upload_bytes
    if declared_size is not None and declared_size > limit:
        raise TooLarge(N_("The file is larger than {limit} bytes"), limit=limit)
    with node.db.session() as s:
        case = store.load_case(s, case_number).obj
    if case.is_closed:
        raise Conflict(N_("Case {number} is closed"), number=case_number)
    asked_material(node, matter=case.matter, procedure=case.procedure, key=material)
    directory = materials_dir(node)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16)
    temp = directory / f".{name}.part"
    final = directory / name
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            size, sha, head = _copy_limited(stream, out, limit)
            out.flush()
            os.fsync(out.fileno())
        content_type = sniff(head)
        if content_type is None:
            raise InvalidInput(N_("Only PDF, JPEG and PNG files are accepted"))
        if size == 0:
            raise InvalidInput(N_("The file is empty"))
        now = node.clock.now()
        with node.db.transaction() as s:
            loaded = store.load_case(s, case_number)
            row = MaterialRow(
                case_id=loaded.id,
                material=material,
                content_type=content_type,
                size=size,
                sha256=sha,
                stored_name=name,
                uploaded_at=now,
                uploaded_by=actor,
            )
            s.add(row)
            s.flush()
            record_audit(
                s,
                actor=actor,
                action="cases.material.add",
                object_type="case",
                object_id=case_number,
                change={"material": material, "content_type": content_type, "size": size, "sha256": sha},
                at=now,
            )
            os.replace(temp, final)  # inside the transaction: a failed commit removes it below
            result = StoredMaterial(row.id, case_number, material, content_type, size, sha, now, actor)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        if final.exists() and not _row_exists(node, name):
            final.unlink()
        raise
    return result


def _row_exists(node: NodeContext, stored_name: str) -> bool:
    with node.db.session() as s:
        return s.scalar(select(MaterialRow.id).where(MaterialRow.stored_name == stored_name)) is not None


def _view(row: MaterialRow, case_number: str) -> StoredMaterial:
    return StoredMaterial(
        row.id,
        case_number,
        row.material,
        row.content_type,
        row.size,
        row.sha256,
        row.uploaded_at,
        row.uploaded_by,
    )


def list_materials(node: NodeContext, *, case_number: str) -> list[StoredMaterial]:
    with node.db.session() as s:
        loaded = store.load_case(s, case_number)
        rows = s.scalars(select(MaterialRow).where(MaterialRow.case_id == loaded.id).order_by(MaterialRow.id))
        return [_view(r, case_number) for r in rows]


def open_material(node: NodeContext, *, case_number: str, material_id: int) -> tuple[StoredMaterial, Path]:
    """A material of the case and the path of its file (404 when it belongs to another case)."""
    with node.db.session() as s:
        loaded = store.load_case(s, case_number)
        row = s.get(MaterialRow, material_id)
        if row is None or row.case_id != loaded.id:
            raise NotFound(N_("No such material"))
        path = materials_dir(node) / row.stored_name
        if not path.is_file():
            raise NotFound(N_("No such material"))
        return _view(row, case_number), path


def download_name(m: StoredMaterial) -> str:
    return f"{m.case_number}-{m.material}-{m.id}.{EXTENSIONS[m.content_type]}"


# ------------------------------------------------------------------------------------- consent, evidence
CONSENT_CHANNELS = ("window", "online")


def record_consent(node: NodeContext, *, case_number: str, purpose: str, channel: str, actor: str) -> str:
    """Record the applicant's explicit request that their data be fetched for the case; returns its id."""
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput(N_("Unknown consent channel {channel}"), channel=channel)
    if not purpose or len(purpose) > 64:
        raise InvalidInput(N_("A consent names its purpose"))
    now = node.clock.now()
    consent_id = str(uuid.uuid4())
    with node.db.transaction() as s:
        loaded = store.load_case(s, case_number)
        s.add(
            ConsentRow(
                id=consent_id,
                case_id=loaded.id,
                purpose=purpose,
                granted_at=now,
                recorded_by=actor,
                channel=channel,
            )
        )
        record_audit(
            s,
            actor=actor,
            action="cases.consent.record",
            object_type="case",
            object_id=case_number,
            change={"consent": consent_id, "purpose": purpose, "channel": channel},
            at=now,
        )
    return consent_id


class EvidenceTransport(Protocol):
    """Sends an evidence request to another node in the caller's transaction (the exchange's outbox);
    returns the envelope id."""

    def __call__(
        self, s: Session, *, recipient: str, body: dict[str, object], case_ref: str, consent_ref: str
    ) -> str: ...


EVIDENCE_TRANSPORT = "cases.evidence_transport"
EVIDENCE_TYPE = evidence.REQUEST_TYPE


@dataclass(frozen=True)
class EvidenceRequest:
    id: str
    case_number: str
    consent_id: str
    target_node: str
    material: str
    state: str  # "queued" (in the outbox), "waiting_for_exchange" (no exchange here), "received", "refused"
    envelope_id: str | None


def request_evidence(
    node: NodeContext,
    *,
    case_number: str,
    consent_id: str | None,
    target_node: str,
    material: str,
    actor: str,
    id_number: str | None = None,
) -> EvidenceRequest:
    """Ask ``target_node`` for a material its registry holds about the person ``id_number``, under the
    applicant's recorded consent.

    Refused (409) without a consent of this case, or with a withdrawn one; 422 without the person's ID
    number (the case keeps only its digest). The request goes through ``node.services[EVIDENCE_TRANSPORT]``
    when set, else through the node's exchange (``cases.evidence.request.v1``, see ``evidence``), into the
    outbox in the same transaction; with neither it is kept as ``waiting_for_exchange``. The ID number
    travels only in the request's body, which the exchange encrypts to the recipient; this node keeps only
    its digest (``subject_ref``), to check the answer is about the person asked for.
    """
    if not consent_id:
        raise Conflict(N_("An evidence request needs the applicant's recorded consent"))
    if len(target_node) != 6 or not target_node.isdigit():
        raise InvalidInput(N_("Unknown node {code}"), code=target_node)
    now = node.clock.now()
    transport: EvidenceTransport | None = node.services.get(EVIDENCE_TRANSPORT)
    if transport is None and "exchange" in node.services:
        transport = evidence.ExchangeEvidenceTransport(node)
    request_id = str(uuid.uuid4())
    with node.db.transaction() as s:
        loaded = store.load_case(s, case_number)
        consent = s.get(ConsentRow, consent_id)
        if consent is None or consent.case_id != loaded.id or consent.withdrawn_at is not None:
            raise Conflict(N_("An evidence request needs the applicant's recorded consent"))
        if id_number is None or not ID_NUMBER.fullmatch(id_number):
            raise InvalidInput(N_("The ID number of the person whose record is looked up is needed"))
        held = [
            m
            for m in cases_setup(node).catalog.get(loaded.obj.matter).materials_for(loaded.obj.procedure)
            if m.key == material and m.source is MaterialSource.REGISTRY
        ]
        if not held:
            raise InvalidInput(N_("{material} is not held by a registry"), material=material)
        envelope = None
        request_hash = None
        state = evidence.WAITING
        if transport is not None:
            body = evidence.EvidenceAsk(
                request_id=request_id,
                case_ref=case_number,
                consent_ref=consent_id,
                consent_purpose=consent.purpose,
                consent_granted_at=consent.granted_at,
                material=material,
                registry=str(held[0].registry),
                id_number=id_number,
            )
            try:
                envelope = transport(
                    s,
                    recipient=target_node,
                    body=body.model_dump(mode="json"),
                    case_ref=case_number,
                    consent_ref=consent_id,
                )
            except LookupError:  # not in the directory, or without an encryption key
                raise InvalidInput(N_("Unknown node {code}"), code=target_node) from None
            request_hash = evidence.sent_hash(s, envelope)
            state = evidence.QUEUED
        s.add(
            EvidenceRequestRow(
                id=request_id,
                case_id=loaded.id,
                consent_id=consent_id,
                target_node=target_node,
                material=material,
                state=state,
                envelope_id=envelope,
                created_at=now,
                created_by=actor,
                subject_ref=applicant_ref(node, id_number),
                request_hash=request_hash,
            )
        )
        record_audit(
            s,
            actor=actor,
            action="cases.evidence.request",
            object_type="case",
            object_id=case_number,
            change={
                "request": request_id,
                "consent": consent_id,
                "target": target_node,
                "material": material,
            },
            at=now,
        )
    return EvidenceRequest(request_id, case_number, consent_id, target_node, material, state, envelope)


def consents_of(node: NodeContext, *, case_number: str) -> list[str]:
    with node.db.session() as s:
        loaded = store.load_case(s, case_number)
        ids: Iterable[str] = s.scalars(
            select(ConsentRow.id).where(ConsentRow.case_id == loaded.id, ConsentRow.withdrawn_at.is_(None))
        )
        return list(ids)
