"""The only place with queries on the papers tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.core import batching
from tongban.papers.domain import RevokedPaper, SignatureBlock, SignedPaper
from tongban.papers.tables import PaperCounterRow, PaperRow, RevocationListRow


def next_sequence(session: Session, *, issuer: str, prefix: str, year: int) -> int:
    """Advance the (issuer, prefix, year) counter atomically and return the new value (in a batch pass, one
    upsert reserves the pass's numbers: ``core.batching``)."""

    def advance(s: Session, n: int) -> int:
        dialect = s.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        base = insert(PaperCounterRow).values(issuer=issuer, prefix=prefix, year=year, last=n)
        stmt = base.on_conflict_do_update(
            index_elements=["issuer", "prefix", "year"], set_={"last": PaperCounterRow.last + n}
        ).returning(PaperCounterRow.last)
        return int(s.execute(stmt).scalar_one())

    def give_back(s: Session, n: int) -> None:
        s.execute(
            update(PaperCounterRow)
            .where(
                PaperCounterRow.issuer == issuer,
                PaperCounterRow.prefix == prefix,
                PaperCounterRow.year == year,
            )
            .values(last=PaperCounterRow.last - n)
        )

    return batching.sequence_value(session, ("papers.counter", issuer, prefix, year), advance, give_back)


def add_paper(session: Session, row: PaperRow) -> None:
    session.add(row)
    if batching.active(session) is None:
        session.flush()  # in a batch pass, written with the pass's other papers when it ends


def get_paper(session: Session, *, issuer: str, number: str, for_update: bool = False) -> PaperRow | None:
    stmt = select(PaperRow).where(PaperRow.issuer == issuer, PaperRow.number == number)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def signed_of(row: PaperRow | RevocationListRow) -> SignedPaper:
    return SignedPaper(bytes(row.payload), SignatureBlock(row.sig_alg, row.key_id, bytes(row.signature)))


def revoked_papers(session: Session, *, issuer: str) -> list[RevokedPaper]:
    rows = session.execute(
        select(PaperRow.number, PaperRow.revocation_reason, PaperRow.revoked_at)
        .where(PaperRow.issuer == issuer, PaperRow.revoked_at.is_not(None))
        .order_by(PaperRow.number)
    ).all()
    out = []
    for number, reason, at in rows:
        assert at is not None
        out.append(RevokedPaper(number, reason or "unspecified", at))
    return out


def has_revocation_list(session: Session, *, issuer: str) -> bool:
    """Whether the issuer has published a revocation list (one key read, no row loaded)."""
    return (
        session.execute(
            select(RevocationListRow.id).where(RevocationListRow.issuer == issuer).limit(1)
        ).first()
        is not None
    )


def latest_revocation_list(
    session: Session, *, issuer: str, for_update: bool = False
) -> RevocationListRow | None:
    stmt = (
        select(RevocationListRow)
        .where(RevocationListRow.issuer == issuer)
        .order_by(RevocationListRow.serial.desc())
        .limit(1)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def add_revocation_list(
    session: Session, *, issuer: str, serial: int, signed: SignedPaper, issued_at: datetime
) -> None:
    session.add(
        RevocationListRow(
            issuer=issuer,
            serial=serial,
            payload=signed.payload,
            sig_alg=signed.signature.alg,
            key_id=signed.signature.key_id,
            signature=signed.signature.value,
            issued_at=issued_at,
        )
    )
    session.flush()
