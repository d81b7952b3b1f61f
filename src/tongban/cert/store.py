"""Queries of the CERT capability."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.cert.tables import CertRequestRow

ROUTING, SENT, ISSUED, REFUSED, CLOSED = "routing", "sent", "issued", "refused", "closed"
OPEN = "open"  # a request waiting for a reviewer at the hukou node


def request_by_hash(session: Session, request_hash: str) -> CertRequestRow | None:
    return session.scalars(
        select(CertRequestRow).where(CertRequestRow.request_hash == request_hash).with_for_update()
    ).one_or_none()


def request_of_case(session: Session, case_number: str) -> CertRequestRow | None:
    return session.scalars(
        select(CertRequestRow).where(CertRequestRow.case_number == case_number)
    ).one_or_none()
