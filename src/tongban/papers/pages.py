"""The public verification page: paste, upload or scan a paper; see valid/expired/revoked/invalid and why."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from tongban.core.clock import utcnow
from tongban.core.errors import N_, TooLarge
from tongban.core.routing import public
from tongban.papers.api import VERIFY_LIMIT
from tongban.papers.render import paper_rows
from tongban.papers.runtime import issuer_name, resolver_of, revocations_of
from tongban.papers.verify import verify
from tongban.web.app import get_runtime, get_translator, render

router = APIRouter()

STATUS_TEXT = {
    "valid": N_("Valid"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "invalid": N_("Invalid"),
}


@router.get("/verify", response_class=HTMLResponse, dependencies=[public()])
def verify_form(request: Request) -> HTMLResponse:
    return render(request, "papers/verify.html", verdict=None, limit=VERIFY_LIMIT)


@router.post("/verify", response_class=HTMLResponse, dependencies=[public()])
async def verify_submit(request: Request) -> HTMLResponse:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > VERIFY_LIMIT + 64 * 1024:
        raise TooLarge(N_("Uploads are limited to {size} bytes."), size=VERIFY_LIMIT)
    data = b""
    async with request.form(max_files=1, max_fields=4, max_part_size=VERIFY_LIMIT) as form:
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(VERIFY_LIMIT + 1)
        else:
            text = form.get("text")
            if isinstance(text, str):
                data = text.strip().encode("utf-8")
    if len(data) > VERIFY_LIMIT:
        raise TooLarge(N_("Uploads are limited to {size} bytes."), size=VERIFY_LIMIT)
    t = get_translator(request)
    if not data:
        return render(
            request,
            "papers/verify.html",
            status_code=422,
            verdict=None,
            limit=VERIFY_LIMIT,
            error=t(N_("Paste the paper's text, or choose a file or a photo of its QR code.")),
        )
    runtime = get_runtime(request)
    verdict = verify(data, resolver_of(runtime), revocations_of(runtime), utcnow())
    rows = []
    if verdict.paper is not None:
        rows = paper_rows(verdict.paper, t.locale, issuer_name(runtime, verdict.paper.issuer))
    return render(
        request,
        "papers/verify.html",
        verdict=verdict,
        status_text=t(STATUS_TEXT[str(verdict.status)]),
        reasons=[r.text(t) for r in verdict.reasons],
        type_name=verdict.paper.type_name(t.locale) if verdict.paper is not None else None,
        rows=rows,
        limit=VERIFY_LIMIT,
    )
