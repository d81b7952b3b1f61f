"""What the CERT pages (the clerk's, the reviewer's, the citizen's) share: texts, a request as shown, the
acceptance form's fields, and the audited download of an issued paper."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from tongban.audit.service import record_audit
from tongban.cert import store
from tongban.cert.domain import CertKind, Refusal, RequestedFacts
from tongban.cert.tables import CertRequestRow
from tongban.core.errors import InvalidInput, NotFound
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.exchange.directory import DirectoryRefused
from tongban.exchange.service import NodeExchange
from tongban.papers import forms, render
from tongban.papers.domain import read_payload

STATE_TEXTS = {
    store.ROUTING: N_("asking the national locator where the person is registered"),
    store.SENT: N_("sent to the hukou locality, waiting for its answer"),
    store.ISSUED: N_("certificate issued"),
    store.REFUSED: N_("refused"),
    store.CLOSED: N_("closed before it was sent"),
}
ROUTE_TEXTS = {"locator": N_("national locator")}
KIND_TEXTS = {
    CertKind.KINSHIP.value: N_("Kinship certificate"),
    CertKind.CANCELLATION.value: N_("Certificate of cancelled registration"),
    CertKind.ITEM_CHANGE.value: N_("Certificate of a changed registration item"),
}
ITEMS = {
    "name": N_("name"),
    "birth_date": N_("date of birth"),
    "sex": N_("sex"),
    "ethnicity": N_("ethnicity"),
}


def request_of(node: NodeContext, number: str) -> CertRequestRow:
    with node.db.session() as s:
        row = store.request_of_case(s, number)
        if row is None:
            raise NotFound(N_("No certificate request for case {number}"), number=number)
        s.expunge(row)
    return row


def issuer_name(node: NodeContext, code: str) -> str | None:
    """The issuing node's name as the node's directory gives it (``None`` where the node has no exchange or its
    directory does not list the issuer)."""
    ex = node.services.get("exchange")
    if not isinstance(ex, NodeExchange):
        return None
    try:
        record = ex.directory.current.node(code)
    except (OSError, DirectoryRefused):
        return None
    return None if record is None else record.name


def describe(node: NodeContext, row: CertRequestRow, t: Translator) -> dict[str, Any]:
    """What the pages show of a certificate request, in ``t``'s language."""
    paper = read_payload(forms.from_json_bytes(row.paper_json.encode()).payload) if row.paper_json else None
    return {
        "row": row,
        "paper": paper,
        "issuer_name": issuer_name(node, paper.issuer) if paper else None,
        "kind_text": t(KIND_TEXTS.get(row.kind, row.kind)),
        "state_text": t(STATE_TEXTS.get(row.state, row.state)),
        "route_text": t(ROUTE_TEXTS.get(row.routed_by, row.routed_by)),
        "reason_text": Refusal(row.reason).translated(t.locale) if row.reason else None,
    }


def facts_of(values: dict[str, str], kind: CertKind) -> RequestedFacts:
    relative = values.get("relative_id_number", "").strip().upper()
    item = values.get("item", "").strip()
    return RequestedFacts(
        relative_id_number=(relative or None) if kind is CertKind.KINSHIP else None,
        item=(item or None) if kind is CertKind.ITEM_CHANGE else None,
    )


def parse_kind(value: str) -> CertKind:
    try:
        return CertKind(value)
    except ValueError:
        raise InvalidInput(N_("Choose the kind of certificate")) from None


def audited_paper(node: NodeContext, row: CertRequestRow, *, actor: str, form: str) -> bytes:
    """The issued paper's signed JSON form; the download is audited (it names the applicant)."""
    if row.paper_json is None:
        raise NotFound(N_("No certificate was issued for case {number}"), number=row.case_number)
    with node.db.transaction() as s:
        record_audit(
            s,
            actor=actor,
            action="cert.paper.read",
            object_type="case",
            object_id=row.case_number,
            change={"paper": row.paper_number, "form": form},
            at=node.clock.now(),
        )
    return row.paper_json.encode()


def pdf_response(request: Request, node: NodeContext, row: CertRequestRow, raw: bytes) -> Response:
    lang = "en" if request.query_params.get("lang") == "en" else "zh_CN"
    signed = forms.from_json_bytes(raw)
    name = issuer_name(node, read_payload(signed.payload).issuer)
    pdf = render.render_pdf(signed, locale=lang, issuer_name=name)
    return download(pdf, "application/pdf", f"{row.paper_number}.pdf")


def download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
