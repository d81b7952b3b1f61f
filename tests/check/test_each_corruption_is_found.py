"""Every kind of finding is detected when the data is corrupted on purpose, and only where it was corrupted;
a person in transit owned by an open case, and a reissued permit, are not findings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from check_support import build_small_nation
from sqlalchemy import select, update

from tongban.cases import service as cases
from tongban.cases.domain import CaseAction
from tongban.cases.tables import CaseRow
from tongban.core.checks import Finding, run_check
from tongban.exchange.locator import LOCATOR_CODE, id_digest, locator_key
from tongban.exchange.tables import LocatorEntryRow
from tongban.papers.tables import PaperRow
from tongban.registry import service as registry
from tongban.registry.tables import Household, JournalEntry, Membership, Person, PersonState

BJ, GD = "110000", "440000"


def _active(node: Any, n: int) -> list[tuple[int, str]]:
    with node.db.session() as s:
        return [
            (int(pid), str(number))
            for pid, number in s.execute(
                select(Person.id, Person.id_number)
                .join(PersonState, PersonState.person_id == Person.id)
                .where(PersonState.status == "active")
                .where(
                    Person.id.not_in(
                        select(Household.head_person_id).where(Household.head_person_id.is_not(None))
                    )
                )
                .order_by(Person.id)
                .limit(n)
            )
        ]


def _paper(issuer: str, number: str, kind: str, case: str, reissue_of: str | None = None) -> PaperRow:
    now = datetime.now(UTC)
    return PaperRow(
        issuer=issuer,
        number=number,
        type=kind,
        division_code=issuer[:2] + "0101",
        subject_ref=case,
        payload=b"{}",
        sig_alg="Ed25519",
        key_id="k",
        signature=b"s",
        issued_at=now,
        valid_until=now + timedelta(days=20),
        issued_by="test",
        reissue_of=reissue_of,
    )


def test_each_corruption(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> None:
    nation = build_small_nation(tmp_path, backend, sqlite_template, pg_factory, people=80)
    bj, gd = nation.open(BJ), nation.open(GD)
    twice, no_case, owned, closed_owner, wrong_node, lost, odd = _active(bj, 7)

    # 1. Active at a second node: the same ID number registered in a Guangdong household too.
    with gd.db.transaction() as s:
        household = s.scalars(select(Household).order_by(Household.id).limit(1)).one()
        src = s.scalars(select(Person).where(Person.id_number == twice[1])).one_or_none()
        assert src is None
        copy = Person(
            id_number=twice[1],
            name="测试",
            sex="male",
            birth_date=date(1980, 1, 1),
            ethnicity="01",
            birthplace="110101",
        )
        s.add(copy)
        s.flush()
        s.add(
            JournalEntry(
                person_id=copy.id,
                seq=1,
                event="moved_in",
                on_date=date(2026, 1, 5),
                status_after="active",
                division_code=household.division_code,
                household_id=household.id,
                relation="other_relative",
                actor="test",
                recorded_at=datetime.now(UTC),
            )
        )
        s.add(
            PersonState(
                person_id=copy.id,
                status="active",
                household_id=household.id,
                division_code=household.division_code,
                since=date(2026, 1, 5),
                last_seq=1,
            )
        )
        s.add(
            Membership(
                person_id=copy.id,
                household_id=household.id,
                relation="other_relative",
                from_date=date(2026, 1, 5),
            )
        )
        twice_gd = copy.id

    # 2. In transit without a case, with an open case, and with a closed one (the migration contract).
    registry.mark_in_transit(bj, actor="test", id_number=no_case[1], case_ref=f"{GD}-20260101-000999")
    open_case = cases.accept_case(gd, matter="MIG-SPOUSE", applicant="person:x-1", office="o-1", actor="u:1")
    registry.mark_in_transit(bj, actor="test", id_number=owned[1], case_ref=open_case.number)
    done_case = cases.accept_case(gd, matter="MIG-SPOUSE", applicant="person:x-2", office="o-1", actor="u:1")
    cases.act_on_case(gd, number=done_case.number, action=CaseAction.WITHDRAW, actor="u:1", reason="test")
    registry.mark_in_transit(bj, actor="test", id_number=closed_owner[1], case_ref=done_case.number)

    # 3. An open case without a deadline.
    stuck = cases.accept_case(bj, matter="CERT", applicant="person:x-3", office="o-1", actor="u:1")
    with bj.db.transaction() as s:
        s.execute(update(CaseRow).where(CaseRow.number == stuck.number).values(deadline_at=None))

    # 4. Two live permits for one case; a reissued permit for another case is one lineage.
    with gd.db.transaction() as s:
        s.add(_paper(GD, "440000-ZQ-2026-000001", "mig.permit", open_case.number))
        s.add(_paper(GD, "440000-ZQ-2026-000002", "mig.permit", open_case.number))
        s.add(_paper(GD, "440000-ZQ-2026-000003", "mig.permit", done_case.number))
        s.add(
            _paper(
                GD,
                "440000-ZQ-2026-000004",
                "mig.permit",
                done_case.number,
                reissue_of="440000-ZQ-2026-000003",
            )
        )

    # 5. A current state rewritten behind the journal's back: the person is placed nowhere now.
    with bj.db.transaction() as s:
        s.execute(update(PersonState).where(PersonState.person_id == lost[0]).values(status="moved_out"))
    lost_digest = id_digest(locator_key(nation.data_dir), lost[1])

    # 6. A locator entry pointing at the wrong node.
    digest = id_digest(locator_key(nation.data_dir), wrong_node[1])
    locator = nation.open(LOCATOR_CODE, exchange=False)
    for node in (bj, gd):
        node.db.dispose()
    report = run_check(data_dir=nation.data_dir)  # drains the in-transit updates to the locator first
    assert report.drained is not None and report.drained.complete
    key = locator_key(nation.data_dir)
    odd_digest = id_digest(key, odd[1])
    with locator.db.transaction() as s:
        s.execute(update(LocatorEntryRow).where(LocatorEntryRow.digest == digest).values(node=GD))
        # A status the locator may learn later ("in_transit") is judged only where it contradicts a registry:
        # right for a person in transit there, wrong for a person active there.
        for who in (owned, odd):
            s.execute(
                update(LocatorEntryRow)
                .where(LocatorEntryRow.digest == id_digest(key, who[1]))
                .values(node=BJ, status="in_transit")
            )
    locator.db.dispose()
    assert report.exit_code == 1  # everything but the locator corruption, made after this run

    report = run_check(data_dir=nation.data_dir)
    assert report.exit_code == 1 and report.errors == []
    got = {(f.check, f.node, f.subject) for f in report.findings}
    expected = {
        ("person.active-in-several", BJ, f"person:{BJ}:{twice[0]}"),
        ("person.in-transit-without-open-case", BJ, f"person:{BJ}:{no_case[0]}"),
        ("person.in-transit-without-open-case", BJ, f"person:{BJ}:{closed_owner[0]}"),
        ("case.no-live-deadline", BJ, stuck.number),
        ("paper.two-live-for-one-case", GD, open_case.number),
        ("locator.wrong-node", BJ, f"digest:{digest[:12]}"),
        ("locator.unknown-person", GD, f"digest:{digest[:12]}"),
        ("registry.state-disagrees-with-journal", BJ, f"person:{BJ}:{lost[0]}"),
        ("registry.membership-disagrees-with-state", BJ, f"person:{BJ}:{lost[0]}"),
        ("person.unplaced", BJ, f"person:{BJ}:{lost[0]}"),
        ("locator.stale", BJ, f"digest:{lost_digest[:12]}"),
        ("locator.wrong-node", BJ, f"digest:{odd_digest[:12]}"),
        ("locator.stale", BJ, f"digest:{odd_digest[:12]}"),
    }
    assert got == expected, sorted(got ^ expected)
    assert report.counts["person.active-in-several"] == 1
    # The active-in-several finding names both internal ids, and nothing personal.
    several = next(f for f in report.findings if f.check == "person.active-in-several")
    assert f"person:{GD}:{twice_gd}" in several.detail
    for finding in report.findings:
        assert isinstance(finding, Finding)
        for _, number in (twice, no_case, owned, closed_owner, wrong_node, lost, odd):
            assert number not in finding.subject + finding.detail
