"""Revocation lists travel over the exchange: a paper revoked at Shanghai shows revoked at Beijing's /verify and
in ``tongban cert verify`` once the list arrived (pushed on change, or pulled by the periodic job), with how
fresh the list is; a forged list or an older serial is refused and recorded; a served node runs the pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from tests.access.helpers import FAST, Env, anonymous
from tests.cert.cert_support import A, B, make_nation, make_node
from tests.conftest import test_settings
from tests.exchange.exchange_support import other_db, wait_until
from typer.testing import CliRunner

from tongban.audit.tables import AuditRow
from tongban.cli import app as cli_app
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext, NodeEntry, write_manifest
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import enqueue, exchange_of
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.papers import forms, revocation_sync, service
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import SignedPaper
from tongban.papers.runtime import PULLER
from tongban.web.app import Runtime, create_app
from tongban.web.runtime import build_runtime

__all__ = ["other_db"]  # the second node's database fixture

SUBJECT = {"name": "测试甲", "id_number": "310104198005170011"}
FACTS = {"relatives": [{"name": "测试乙", "relation": "配偶"}], "household_number": "H1"}


def issue(b: NodeContext) -> bytes:
    with b.db.transaction() as s:
        paper = service.issue_paper(
            s,
            node=b,
            actor="user:registrar-b",
            type="cert.kinship",
            subject=SUBJECT,
            facts=FACTS,
            valid_until=None,
            purpose="继承公证",
            division_code="310104",
        )
    return forms.to_json_bytes(paper.signed)


def revoke(b: NodeContext, paper: bytes) -> None:
    number = json.loads(forms.read_any(paper).payload)["number"]
    with b.db.transaction() as s:
        service.revoke_paper(s, node=b, actor="user:head-b", number=number, reason="fraud")


def verify_at(client: TestClient, headers: dict[str, str], paper: bytes) -> dict[str, object]:
    r = client.post("/api/v1/papers/verify", content=paper, headers=headers)
    assert r.status_code == 200, r.text
    verdict: dict[str, object] = r.json()
    return verdict


def codes(verdict: dict[str, object]) -> list[str]:
    reasons = verdict["reasons"]
    assert isinstance(reasons, list)
    return [str(r["code"]) for r in reasons]


def drop_outbox(node: NodeContext) -> None:
    with node.db.transaction() as s:
        s.execute(delete(OutboxRow))


def receipts(node: NodeContext) -> list[dict[str, object]]:
    with node.db.session() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "papers.revocations.receive")).all()
        return [json.loads(r.change_summary or "{}").get("values", {}) for r in rows]


@pytest.fixture
def nodes(database: Database, other_db: Database, tmp_path: Path) -> tuple[NodeContext, NodeContext, Path]:
    data_dir = make_nation(tmp_path / "nation")
    return make_node(A, database, data_dir), make_node(B, other_db, data_dir), data_dir


def test_a_paper_revoked_there_shows_revoked_here(nodes: tuple[NodeContext, NodeContext, Path]) -> None:
    a, b, data_dir = nodes
    paper = issue(b)
    # Beijing serves its own verifier: it holds no list of Shanghai yet.
    runtime = Runtime(settings=a.settings, nodes={A: a}, extras={"access_settings": FAST})
    env = Env(a.db, a, runtime, create_app(runtime), FixedClock(a.clock.now()), FAST)
    client, csrf = anonymous(env)
    headers = {"X-CSRF-Token": csrf}
    before = verify_at(client, headers, paper)
    assert before["status"] == "valid" and "revocations-unknown" in codes(before)

    # Revoked at Shanghai; the push of the first list and of the new one are lost (as if parked).
    revoke(b, paper)
    drop_outbox(b)
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    try:
        assert verify_at(client, headers, paper)["status"] == "valid"
        # The periodic job asks every other issuer; Shanghai answers with its current list.
        puller = revocation_sync.RevocationPuller([a], 3600)
        assert puller.pull_once() == 1
        assert wait_until(lambda: verify_at(client, headers, paper)["status"] == "revoked", 20)
        after = verify_at(client, headers, paper)
        assert "revocations-as-of" in codes(after)
        page = client.post("/verify", data={"text": paper.decode(), "csrf_token": csrf})
        assert 'data-status="revoked"' in page.text and f"签发机关 {B} 的撤销列表截至" in page.text

        # A second paper revoked later reaches Beijing by the push alone.
        second = issue(b)
        revoke(b, second)
        assert wait_until(lambda: verify_at(client, headers, second)["status"] == "revoked", 20)
    finally:
        runner.stop()
    assert [r.get("outcome") for r in receipts(a)].count("newer") >= 2

    # tongban cert verify reads the same cache, offline, and says how fresh it is.
    (data_dir / "paper.json").write_bytes(paper)
    result = CliRunner().invoke(
        cli_app,
        [
            "cert",
            "verify",
            str(data_dir / "paper.json"),
            "--directory",
            str(data_dir / "directory.signed"),
            "--cache",
            str(data_dir / "paper-revocations"),
            "--lang",
            "en",
        ],
    )
    assert "Revocation list of 310000 as of" in result.output, result.output
    assert result.exit_code == 3


def test_a_forged_or_older_list_is_refused(nodes: tuple[NodeContext, NodeContext, Path]) -> None:
    a, b, _ = nodes
    paper = issue(b)
    with b.db.session() as s:
        first = service.current_revocations(s, issuer=B)
    revoke(b, paper)
    with b.db.session() as s:
        newest = service.current_revocations(s, issuer=B)
    assert first is not None and newest is not None
    forged = SignedPaper(newest.payload.replace(b'"fraud"', b'"fraue"'), newest.signature)
    other_issuer = SignedPaper(newest.payload.replace(B.encode(), A.encode()), newest.signature)
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    resolver = DirectoryKeyResolver(exchange_of(a).directory)
    cache = revocation_sync.cache_of(a)
    try:
        assert wait_until(
            lambda: B in cache.load(resolver).lists and cache.load(resolver).lists[B].serial == 1, 20
        )
        for bad in (forged, other_issuer, first):
            with b.db.transaction() as s:
                body = {"issuer": B, "list": forms.revocations_to_json_bytes(bad).decode()}
                enqueue(s, node=b, recipient=A, type=revocation_sync.LIST_TYPE, body=body)
        assert wait_until(lambda: len(receipts(a)) >= 5, 20)
    finally:
        runner.stop()
    outcomes = [(r.get("outcome"), r.get("reason_code")) for r in receipts(a)]
    assert ("refused", "bad-signature") in outcomes
    assert ("refused", "wrong-issuer") in outcomes
    assert ("older", None) in outcomes
    held = cache.load(resolver).lists[B]
    assert (
        held.serial == 1
        and held.revoked[json.loads(forms.read_any(paper).payload)["number"]].reason == "fraud"
    )


def test_a_served_node_runs_the_pull(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = make_nation(tmp_path)
    monkeypatch.setenv("TONGBAN_PAPERS_REVOCATION_PULL_INTERVAL_S", "0.2")
    monkeypatch.setenv("TONGBAN_CASES_SWEEP_INTERVAL_S", "0")
    write_manifest(data_dir, [NodeEntry(A, "北京市", database.url)])
    runtime = build_runtime(test_settings(data_dir))
    puller = runtime.extras[PULLER]
    assert isinstance(puller, revocation_sync.RevocationPuller) and puller.running
    a = runtime.nodes[A]
    try:
        with TestClient(create_app(runtime)):
            # It asks Shanghai (in the directory, not served here) again and again.
            assert wait_until(lambda: puller.passes >= 2, 10)
            with a.db.session() as s:
                asked = s.scalars(
                    select(OutboxRow.recipient).where(OutboxRow.type == revocation_sync.PULL_TYPE)
                )
                assert set(asked) == {B}
        assert PULLER not in runtime.extras and not puller.running
    finally:
        puller.stop()
        runner = runtime.extras.get("exchange")
        if runner is not None:
            runner.stop()
        for n in runtime.nodes.values():
            n.db.dispose()
