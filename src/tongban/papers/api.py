"""Papers API: issue, download (JSON, PDF, QR), revoke; public verification and revocation lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tongban.access.domain import Allow, Scope
from tongban.access.web import ensure_in_scope, record_view
from tongban.core.clock import utcnow
from tongban.core.errors import N_, NotFound, TooLarge
from tongban.core.routing import public, requires
from tongban.papers import render, service
from tongban.papers.forms import revocations_to_json_bytes, to_json_bytes, to_qr_text
from tongban.papers.runtime import resolver_of, revocations_of
from tongban.papers.verify import verify
from tongban.web.app import CurrentNode, CurrentRuntime

router = APIRouter(prefix="/papers", tags=["papers"])

# A paper's PDF is tens of kilobytes, a phone photo a few megabytes: refuse anything larger.
VERIFY_LIMIT = 4 * 1024 * 1024


def actor_of(request: Request) -> str:
    user = getattr(request.state, "user", None)
    user_id = getattr(user, "id", None)
    return f"user:{user_id}" if user_id is not None else "api"


class PaperIssue(BaseModel):
    type: str
    subject: dict[str, Any]
    facts: dict[str, Any]
    purpose: str = Field(min_length=1, max_length=200)
    valid_until: datetime | None = None
    reissue_of: str | None = None
    division_code: str = Field(pattern=r"^[0-9]{6}$")
    subject_ref: str | None = Field(default=None, max_length=64)


class PaperRead(BaseModel):
    number: str
    type: str
    issuer: str
    issued_at: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    reissue_of: str | None
    signed: dict[str, Any]


class PaperRevoke(BaseModel):
    reason: str


def _read(paper: service.IssuedPaper) -> PaperRead:
    from tongban.papers.forms import to_json_form

    return PaperRead(
        number=paper.number,
        type=paper.type,
        issuer=paper.issuer,
        issued_at=paper.issued_at,
        valid_until=paper.valid_until,
        revoked_at=paper.revoked_at,
        revocation_reason=paper.revocation_reason,
        reissue_of=paper.reissue_of,
        signed=to_json_form(paper.signed),
    )


@router.post("", status_code=201, dependencies=[requires("papers.paper.issue")])
def issue(body: PaperIssue, request: Request, node: CurrentNode) -> PaperRead:
    ensure_in_scope(request, body.division_code, person_ref=body.subject_ref)
    with node.db.transaction() as s:
        paper = service.issue_paper(
            s,
            node=node,
            actor=actor_of(request),
            type=body.type,
            subject=body.subject,
            facts=body.facts,
            valid_until=body.valid_until,
            purpose=body.purpose,
            division_code=body.division_code,
            reissue_of=body.reissue_of,
            subject_ref=body.subject_ref,
        )
    return _read(paper)


@router.post("/{number}/revoke", dependencies=[requires("papers.paper.revoke")])
def revoke(number: str, body: PaperRevoke, request: Request, node: CurrentNode) -> PaperRead:
    _in_scope(request, node, number)
    with node.db.transaction() as s:
        paper = service.revoke_paper(s, node=node, actor=actor_of(request), number=number, reason=body.reason)
    return _read(paper)


def _in_scope(request: Request, node: CurrentNode, number: str) -> Allow:
    """The paper's scope check: outside the user's jurisdiction it answers 404, as for no paper at all."""
    with node.db.session() as s:
        paper = service.get_paper(s, node=node, number=number)
    return ensure_in_scope(request, paper.division_code, person_ref=paper.subject_ref)


def _paper(node: CurrentNode, number: str, request: Request, form: str) -> service.IssuedPaper:
    allow = _in_scope(request, node, number)
    # A paper carries a person's data: every read of one is audited, and is an access record of the person.
    with node.db.transaction() as s:
        paper = service.fetch_paper(s, node=node, actor=actor_of(request), number=number, form=form)
    if paper.subject_ref is not None:
        own = allow.scope == Scope.OWN
        record_view(
            request,
            person_ref=paper.subject_ref,
            person_division=paper.division_code,
            reason="own" if own else "paper",
            reason_ref=None if own else paper.number,
        )
    return paper


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/{number}", dependencies=[requires("papers.paper.read")])
def read_paper(number: str, request: Request, node: CurrentNode) -> PaperRead:
    return _read(_paper(node, number, request, "read"))


@router.get("/{number}/json", dependencies=[requires("papers.paper.read")])
def download_json(number: str, request: Request, node: CurrentNode) -> Response:
    return _download(
        to_json_bytes(_paper(node, number, request, "json").signed), "application/json", f"{number}.json"
    )


@router.get("/{number}/pdf", dependencies=[requires("papers.paper.read")])
def download_pdf(
    number: str,
    request: Request,
    node: CurrentNode,
    lang: Annotated[str, Query(pattern="^(zh|zh-CN|zh_CN|en)$")] = "zh_CN",
) -> Response:
    pdf = render.render_pdf(_paper(node, number, request, "pdf").signed, locale=lang, issuer_name=node.name)
    return _download(pdf, "application/pdf", f"{number}.pdf")


@router.get("/{number}/qr.png", dependencies=[requires("papers.paper.read")])
def download_qr_png(number: str, request: Request, node: CurrentNode) -> Response:
    return _download(
        render.qr_png(_paper(node, number, request, "qr.png").signed), "image/png", f"{number}.png"
    )


@router.get("/{number}/qr.svg", dependencies=[requires("papers.paper.read")])
def download_qr_svg(number: str, request: Request, node: CurrentNode) -> Response:
    return _download(
        render.qr_svg(_paper(node, number, request, "qr.svg").signed), "image/svg+xml", f"{number}.svg"
    )


@router.get("/{number}/qr.txt", dependencies=[requires("papers.paper.read")])
def download_qr_text(number: str, request: Request, node: CurrentNode) -> Response:
    return _download(
        to_qr_text(_paper(node, number, request, "qr.txt").signed).encode("ascii"),
        "text/plain",
        f"{number}.txt",
    )


@router.get("/revocations/{issuer}", dependencies=[public()])
def revocations(issuer: str, runtime: CurrentRuntime) -> Response:
    """The issuer's newest signed revocation list (public: verifiers fetch and cache it)."""
    node = runtime.nodes.get(issuer)
    signed = None
    if node is not None:
        with node.db.session() as s:
            signed = service.current_revocations(s, issuer=issuer)
    if signed is None:
        raise NotFound(N_("No revocation list of issuer {issuer} is served here."), issuer=issuer)
    return Response(
        revocations_to_json_bytes(signed),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(N_("Uploads are limited to {size} bytes."), size=limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(N_("Uploads are limited to {size} bytes."), size=limit)
    return bytes(body)


@router.post("/verify", dependencies=[public()])
async def verify_upload(request: Request, runtime: CurrentRuntime) -> dict[str, Any]:
    """Verify a paper sent as the request body (JSON form, QR text, QR image or PDF)."""
    data = await read_limited(request, VERIFY_LIMIT)
    verdict = verify(data, resolver_of(runtime), revocations_of(runtime), utcnow())
    return verdict.to_json()
