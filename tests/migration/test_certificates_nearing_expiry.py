"""The deadline sweep surfaces a migration certificate nearing its end to the destination's staff who may take
the next step, and an expired certificate cannot be used to move in (SQLite and PostgreSQL).

Within ``reissue_within_days`` of its end, a sweep pass alerts (an in-app notification each, once per
certificate and phase) the staff of the accepting office who hold ``cases.case.update`` (not a clerk of
another office), the case and list pages show the alert; once the certificate expired, a second alert says
so, and the move-in is refused with a clear error, on the page (409, in Chinese) and in the service, and
nothing is registered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    LONER,
    ORIGIN_CLERK,
    MigNation,
    accept,
    drained,
    mig_state,
    status_at,
    wait_state,
    wait_task,
)
from tests.migration.test_migration_pages import Site

import tongban.migration.expiry  # noqa: F401  (registers the sweep's step)
from tongban.access.domain import Role
from tongban.cases import jobs, notify
from tongban.cases.tables import NotificationRow
from tongban.core.clock import FixedClock, SystemClock
from tongban.core.errors import Conflict
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.migration.expiry import STEP


@pytest.fixture
def site(nation: MigNation) -> Iterator[Site]:
    yield Site(nation)


def _alerts(nation: MigNation, number: str) -> list[NotificationRow]:
    with nation.bj.db.session() as s:
        rows = s.scalars(
            select(NotificationRow)
            .where(NotificationRow.case_number == number, NotificationRow.channel == notify.APP)
            .order_by(NotificationRow.id)
        ).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def test_the_sweep_alerts_the_office_and_an_expired_certificate_does_not_move_in(site: Site) -> None:
    nation = site.nation
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_state(bj, number, "certificate_received")
    assert wait_until(lambda: drained(nation), 20)
    nation.runner.stop()
    until = mig.get_migration(bj, number=number).certificate_valid_until
    assert until is not None

    clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj")
    site.client(BJ, Role.REVIEWER, "rev.bj")
    site.client(BJ, Role.WINDOW_CLERK, "clerk.x", office="OFF-X")

    # Far from its end: nothing to surface.
    assert STEP not in jobs.sweep_deadlines(bj, deliver=False).surfaced
    assert _alerts(nation, number) == []
    assert 'id="cert-alert"' not in clerk.get(f"/migrations/{number}").text

    try:
        # Within the window: the office's clerk and reviewer are alerted, once; the other office is not.
        bj.clock = FixedClock(until - timedelta(days=2))
        assert jobs.sweep_deadlines(bj, deliver=False).surfaced[STEP] == [number]
        alerts = _alerts(nation, number)
        assert len(alerts) == 2
        texts = [notify.render(a) for a in alerts]
        assert all("迁移证" in t and until.date().isoformat() in t and "补发" in t for t in texts)
        assert STEP not in jobs.sweep_deadlines(bj, deliver=False).surfaced
        assert len(_alerts(nation, number)) == 2
        # (sessions are signed in again on the moved clock)
        clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj2")
        reviewer, _ = site.client(BJ, Role.REVIEWER, "rev.bj2")
        elsewhere, _ = site.client(BJ, Role.WINDOW_CLERK, "clerk.x2", office="OFF-X")
        page = clerk.get(f"/migrations/{number}")
        assert 'id="cert-alert" data-phase="ending"' in page.text
        assert 'data-phase="ending"' in clerk.get("/migrations").text
        assert 'data-phase="ending"' in reviewer.get("/migrations").text
        assert elsewhere.get(f"/migrations/{number}").status_code == 404
        recipients = {a.recipient for a in alerts}
        assert len(recipients) == 2

        # Expired: a second alert, and the move-in is refused with a clear error; nothing is registered.
        bj.clock = FixedClock(until + timedelta(hours=1))
        assert jobs.sweep_deadlines(bj, deliver=False).surfaced[STEP] == [number]
        expired = _alerts(nation, number)[2:]
        assert len(expired) == 4  # the two signed in since are of the office too
        assert all("过期" in notify.render(a) and "不能凭其落户" in notify.render(a) for a in expired)
        clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj3")
        refused = clerk.post(
            f"/migrations/{number}/act",
            data={"csrf_token": csrf, "action": "move_in", "household_number": "D1", "relation": "head"},
        )
        assert refused.status_code == 409
        assert "户口迁移证已过期" in refused.text and 'data-phase="expired"' in refused.text
        with pytest.raises(Conflict) as raised:
            mig.move_in(bj, actor=CLERK_BJ, number=number)
        assert "expired" in raised.value.message
        assert mig_state(bj, number) == "certificate_received"
        assert status_at(bj, LONER) is None
    finally:
        bj.clock = SystemClock()
