"""With a transport that drops, duplicates, delays and reorders, every CERT case still completes once: one
paper issued per case at the hukou node, one read logged per case, one completion message per case."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from tests.cert.cert_support import (
    CLERK,
    SON,
    SUBJECT,
    WIFE,
    applicant,
    make_three,
    start,
)
from tests.exchange.exchange_support import wait_until

from tongban.access.tables import RecordView
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.service import get_case
from tongban.cases.tables import NotificationRow
from tongban.cert.service import accept_certificate
from tongban.core.db import Database
from tongban.exchange.tables import InboxRow
from tongban.exchange.transport import EmbeddedTransport, Faults, FaultyTransport
from tongban.papers.tables import PaperRow


def test_every_case_completes_once_through_a_faulty_transport(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    a, b = nation.a, nation.b
    transport = FaultyTransport(
        EmbeddedTransport(), Faults(drop=0.3, duplicate=0.4, delay=0.2, reorder=0.2), 11
    )
    runner = start([a, b, nation.locator], lambda: transport, timeout=60)
    try:
        numbers = [
            accept_certificate(a, actor=CLERK, applicant=applicant(who), kind="kinship", purpose="x").number
            for who in (SUBJECT, WIFE, SON, SUBJECT, WIFE, SON)
        ]
        assert wait_until(lambda: all(get_case(a, number=n).state is CaseState.CLOSED for n in numbers), 60)
    finally:
        runner.stop()
    assert transport.counts["dropped"] > 0 and transport.counts["duplicated"] > 0
    assert all(get_case(a, number=n).close_reason is CloseReason.COMPLETED for n in numbers)
    with b.db.session() as s:
        assert s.scalar(select(func.count()).select_from(PaperRow)) == len(numbers)
        assert s.scalar(select(func.count()).select_from(RecordView)) == len(numbers)
        requests = s.scalar(
            select(func.count()).select_from(InboxRow).where(InboxRow.type == "cert.request.v1")
        )
        assert requests == len(numbers)  # each case sent once, whatever the locator's answers did
    with a.db.session() as s:
        done = s.scalars(select(NotificationRow.key).where(NotificationRow.key.like("%:issued:%"))).all()
        assert sorted(done) == sorted(f"case:{n}:issued:sms" for n in numbers)
