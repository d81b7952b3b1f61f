"""A CERT kinship certificate between two node processes (``tongban serve --node``), each on its own PostgreSQL
database, over a JetStream server of the test's own, with the national locator as a third process (seeded with
Shanghai's register, as ``tongban nation init`` does): accepted at Beijing's window, routed by the locator's
answer, issued automatically by Shanghai's process, completed back at Beijing; the issued paper, printed as a PDF, verifies offline in another
process that holds nothing but the PDF and the signed directory."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.cert.cert_support import CLERK, SUBJECT, A, B, applicant, make_nation, populate, request_row
from tests.conftest import missing_service
from tests.exchange.exchange_support import NatsServer, wait_until

import tongban.cert.service  # noqa: F401  (registers the CERT message types)
from tongban.access.tables import RecordView
from tongban.audit.tables import AuditRow
from tongban.cases.domain import CaseState
from tongban.cases.service import get_case
from tongban.cert.service import accept_certificate
from tongban.chaos.cluster import NodeProcess, free_port, node_env
from tongban.chaos.run import seed_locator_from
from tongban.chaos.settings import ChaosSettings
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.runtime import node_exchange
from tongban.exchange.service import exchange_of
from tongban.papers import forms, render
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify

SECRET = "chaos-two-process-test-secret"


@dataclass
class Pair:
    a: NodeContext
    b: NodeContext
    data_dir: Path
    procs: dict[str, NodeProcess]


@pytest.fixture
def two_processes(tmp_path: Path, pg_factory: Any) -> Iterator[Pair]:
    if pg_factory is None:
        missing_service("PostgreSQL")
    if shutil.which("nats-server") is None:
        missing_service("nats-server")
    data_dir = make_nation(tmp_path / "nation")
    settings = Settings(data_dir=data_dir, secret_key=SECRET, db_pool_size=3)
    urls = {A: pg_factory.new(), B: pg_factory.new(), LOCATOR_CODE: pg_factory.new()}
    a = open_node(NodeEntry(A, "北京市", urls[A]), settings)
    b = open_node(NodeEntry(B, "上海市", urls[B]), settings)
    populate(b)  # Shanghai's register, before any process runs
    seed_locator_from({B: urls[B]}, urls[LOCATOR_CODE], data_dir)  # nobody reported it: seeded directly
    node_exchange(a, data_dir)  # the window's process sends through the outbox of A's database
    server = NatsServer(tmp_path / "js")
    server.start()
    env = node_env(ChaosSettings(), seed=0, secret=SECRET, faults=False)
    env["TONGBAN_EXCHANGE_STREAM_REPLICAS"] = "1"  # one server here; the chaos run has three
    procs = {
        code: NodeProcess(code, urls[code], server.url, data_dir, free_port(), tmp_path / f"{code}.log", env)
        for code in (A, B, LOCATOR_CODE)
    }
    try:
        for proc in procs.values():
            proc.start()
        for proc in procs.values():
            proc.wait_ready(90)
        yield Pair(a, b, data_dir, procs)
    finally:
        for proc in procs.values():
            proc.stop(15)
        server.kill()
        a.db.dispose()
        b.db.dispose()


def _logs(pair: Pair) -> str:
    return "".join(p.log.read_text() for p in pair.procs.values() if p.log.exists())


@pytest.mark.slow
@pytest.mark.nats
def test_kinship_certificate_between_two_node_processes_verifies_offline(
    two_processes: Pair, tmp_path: Path
) -> None:
    pair = two_processes
    sent = accept_certificate(
        pair.a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="办理继承公证"
    )
    assert sent.recipient is None and sent.routed_by == "locator"  # routed once the locator answers

    def issued() -> bool:
        row = request_row(pair.a, sent.number)
        return row is not None and row.state == "issued"

    assert wait_until(issued, 60), _logs(pair)
    assert get_case(pair.a, number=sent.number).state is CaseState.CLOSED
    row = request_row(pair.a, sent.number)
    assert row is not None and row.paper_json is not None and row.recipient == B

    # Verified here against the directory, as A's process did before attaching it.
    verdict = verify(
        row.paper_json, DirectoryKeyResolver(exchange_of(pair.a).directory), None, pair.a.clock.now()
    )
    assert verdict.status is Status.VALID and verdict.paper is not None
    assert verdict.paper.issuer == B and verdict.paper.subject["id_number"] == SUBJECT
    assert [r["relation"] for r in verdict.paper.facts["relatives"]] == ["配偶", "子女"]

    # Shanghai's process issued it, logged the read with the case as the reason, and audited, once.
    with pair.b.db.session() as s:
        reasons = list(s.scalars(select(RecordView.reason_ref)))
        decisions = list(s.scalars(select(AuditRow.action).where(AuditRow.action == "cert.request.decide")))
    assert reasons == [f"{A}/{sent.number}"] and decisions == ["cert.request.decide"]

    # The printed PDF verifies offline: a separate process with the PDF and the signed directory only.
    offline = tmp_path / "offline"
    offline.mkdir()
    pdf = offline / "paper.pdf"
    pdf.write_bytes(render.render_pdf(forms.from_json_bytes(row.paper_json.encode()), locale="zh_CN"))
    for name in ("directory.signed", "directory-roots.json"):
        shutil.copyfile(pair.data_dir / name, offline / name)
    src = str(Path(__file__).resolve().parents[2] / "src")
    cmd = [sys.executable, "-m", "tongban", "cert", "verify", str(pdf), "--json"]
    out = subprocess.run(
        [*cmd, "--directory", str(offline / "directory.signed")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": src, "HOME": str(offline)},
        cwd=offline,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"valid"' in out.stdout and verdict.paper.number in out.stdout

    # And a changed fact in the signed payload does not verify.
    form = json.loads(row.paper_json)
    payload = base64.urlsafe_b64decode(form["payload"] + "=" * (-len(form["payload"]) % 4))
    assert "测试乙".encode() in payload
    form["payload"] = (
        base64.urlsafe_b64encode(payload.replace("测试乙".encode(), "测试丁".encode())).decode().rstrip("=")
    )
    resolver = DirectoryKeyResolver(exchange_of(pair.a).directory)
    assert verify(json.dumps(form), resolver, None, pair.a.clock.now()).status is Status.INVALID
