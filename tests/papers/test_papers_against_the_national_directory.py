"""Papers signed with the directory's paper keys: rotation keeps old papers valid, compromise voids them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, T0, migration_facts
from typer.testing import CliRunner

from tongban.cli import app
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.errors import Conflict
from tongban.core.node import NodeContext
from tongban.exchange import directory_admin
from tongban.exchange.directory import DIRECTORY_FILE, DirectoryHolder, RevocationReason
from tongban.papers import domain, forms, service
from tongban.papers.directory import DirectoryKeyResolver, DirectorySignerSource

START = T0 - timedelta(days=2)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory_admin.init(tmp_path, now=START - timedelta(hours=1))
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=START - timedelta(hours=1))
    return tmp_path


@pytest.fixture
def node(database: Database, data_dir: Path, clock: FixedClock) -> NodeContext:
    holder = DirectoryHolder(data_dir, grace=timedelta(days=3), clock=clock)
    return NodeContext(
        code="110000",
        name="北京市",
        db=database,
        settings=test_settings(data_dir),
        clock=clock,
        services={service.KEYS_SERVICE: DirectorySignerSource(holder, data_dir)},
    )


def _issue(node: NodeContext) -> service.IssuedPaper:
    with node.db.transaction() as s:
        return service.issue_paper(
            s,
            node=node,
            division_code="110105",
            actor="user:clerk",
            type="mig.certificate",
            subject=SUBJECT,
            facts=migration_facts(),
            valid_until=None,
            purpose="迁入广东省深圳市",
        )


def _resolver(data_dir: Path, clock: FixedClock) -> DirectoryKeyResolver:
    return DirectoryKeyResolver(DirectoryHolder(data_dir, grace=timedelta(days=3), clock=clock))


def test_rotation_keeps_old_papers_and_compromise_voids_them(
    node: NodeContext, data_dir: Path, clock: FixedClock
) -> None:
    old_paper = _issue(node)
    _, new_key_id = directory_admin.rotate_key(
        data_dir,
        code="110000",
        purpose="papers",
        now=clock.now(),
        lead=timedelta(hours=1),
        overlap=timedelta(hours=1),
    )
    clock.advance(timedelta(days=1))
    new_paper = _issue(node)
    assert new_paper.signed.signature.key_id == new_key_id != old_paper.signed.signature.key_id

    resolver = _resolver(data_dir, clock)
    for paper in (old_paper, new_paper):
        verdict = domain.verify_paper(paper.signed, resolver, None, clock.now())
        assert verdict.status == domain.Status.VALID, verdict.reasons

    directory_admin.revoke_key(
        data_dir,
        code="110000",
        key_id=old_paper.signed.signature.key_id,
        reason=RevocationReason.COMPROMISE,
        now=clock.now(),
    )
    resolver = _resolver(data_dir, clock)
    verdict = domain.verify_paper(old_paper.signed, resolver, None, clock.now())
    assert verdict.status == domain.Status.INVALID and verdict.reasons[0].code == "key-compromised"
    assert domain.verify_paper(new_paper.signed, resolver, None, clock.now()).status == domain.Status.VALID


def test_superseded_key_keeps_papers_signed_before(
    node: NodeContext, data_dir: Path, clock: FixedClock
) -> None:
    paper = _issue(node)
    clock.advance(timedelta(hours=2))
    directory_admin.revoke_key(
        data_dir,
        code="110000",
        key_id=paper.signed.signature.key_id,
        reason=RevocationReason.SUPERSEDED,
        now=clock.now(),
    )
    resolver = _resolver(data_dir, clock)
    assert domain.verify_paper(paper.signed, resolver, None, clock.now()).status == domain.Status.VALID
    with pytest.raises(Conflict, match="paper key"):
        _issue(node)  # no usable paper key is left: issuing stops rather than signing with a revoked key


def test_cli_verifies_against_the_signed_directory_file(
    node: NodeContext, data_dir: Path, clock: FixedClock, tmp_path: Path
) -> None:
    paper = _issue(node)
    out = tmp_path / "paper.json"
    out.write_bytes(forms.to_json_bytes(paper.signed))
    at = (clock.now() + timedelta(hours=1)).isoformat()
    runner = CliRunner()
    ok = runner.invoke(
        app, ["cert", "verify", str(out), "--directory", str(data_dir / DIRECTORY_FILE), "--at", at]
    )
    assert ok.exit_code == 0, ok.output
    forged = tmp_path / "directory.signed"
    forged.write_bytes((data_dir / DIRECTORY_FILE).read_bytes().replace("北京市".encode(), "天津市".encode()))
    roots = data_dir / "directory-roots.json"
    refused = runner.invoke(
        app, ["cert", "verify", str(out), "--directory", str(forged), "--roots", str(roots), "--at", at]
    )
    assert refused.exit_code == 4
