"""Issuing stores the payload exactly as signed, numbers papers per issuer, audits, and keeps reissue links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, T0, migration_facts

from tongban.audit.tables import AuditRow
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.errors import Conflict, InvalidInput, NotFound
from tongban.core.node import NodeContext
from tongban.papers import domain, keys, service
from tongban.papers.tables import PaperRow


@pytest.fixture
def node(database: Database, tmp_path: Path) -> NodeContext:
    store = keys.FileKeyStore(tmp_path / "keys")
    store.create("110000", not_before=T0 - timedelta(days=1))
    return NodeContext(
        code="110000",
        name="北京市",
        db=database,
        settings=test_settings(tmp_path),
        clock=FixedClock(T0),
        services={service.KEYS_SERVICE: store},
    )


def _issue(node: NodeContext, **overrides: object) -> service.IssuedPaper:
    args: dict[str, object] = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "valid_until": None,
        "purpose": "迁入广东省深圳市",
        "subject_ref": "person-1",
        **overrides,
    }
    with node.db.transaction() as s:
        return service.issue_paper(s, node=node, division_code="110105", actor="user:clerk-1", **args)  # type: ignore[arg-type]


def _resolver(node: NodeContext) -> keys.StaticKeyResolver:
    source = node.services[service.KEYS_SERVICE]
    assert isinstance(source, keys.FileKeyStore)
    return source.resolver()


def test_issue_stores_signed_bytes_numbers_and_audits(node: NodeContext) -> None:
    first = _issue(node)
    second = _issue(node)
    assert first.number == "110000-QY-2026-000001"
    assert second.number == "110000-QY-2026-000002"
    assert first.valid_until == T0 + timedelta(days=30)  # the migration certificate's legal maximum
    with node.db.session() as s:
        stored = service.get_paper(s, node=node, number=first.number)
        audit = [
            (a.object_id, a.change_summary or "")
            for a in s.execute(select(AuditRow).where(AuditRow.action == "papers.paper.issue")).scalars()
        ]
        listed = service.local_revocations(s, issuer="110000", resolver=_resolver(node))
    assert stored.signed == first.signed
    verdict = domain.verify_paper(stored.signed, _resolver(node), None, T0 + timedelta(days=1))
    assert verdict.status == domain.Status.VALID
    assert verdict.paper is not None and verdict.paper.subject == SUBJECT
    assert sorted(object_id for object_id, _ in audit) == [first.number, second.number]
    assert all(SUBJECT["name"] not in summary for _, summary in audit)
    assert listed is not None and listed.serial == 0 and not listed.revoked


def test_a_failed_transaction_leaves_no_paper(node: NodeContext) -> None:
    with pytest.raises(RuntimeError), node.db.transaction() as s:
        service.issue_paper(
            s,
            node=node,
            division_code="110105",
            actor="user:1",
            type="cert.kinship",
            subject=SUBJECT,
            facts={"relatives": [{"name": "测试乙", "relation": "母亲"}], "household_number": "H-1"},
            valid_until=None,
            purpose="办理入学",
        )
        raise RuntimeError("the use case failed later")
    with node.db.session() as s:
        assert s.execute(select(PaperRow)).first() is None


def test_invalid_requests_are_refused(node: NodeContext) -> None:
    with pytest.raises(InvalidInput):
        _issue(node, valid_until=T0 + timedelta(days=31))
    with pytest.raises(InvalidInput):
        _issue(node, facts={**migration_facts(), "origin_division": "x"})
    with pytest.raises(InvalidInput):
        _issue(node, type="mig.permit", valid_until=None)
    with pytest.raises(NotFound):
        _issue(node, reissue_of="110000-QY-2026-999999")


def test_revoke_resigns_the_list_and_reissue_keeps_the_link(node: NodeContext) -> None:
    first = _issue(node)
    second = _issue(node)
    with node.db.transaction() as s:
        service.revoke_paper(
            s, node=node, actor="user:clerk-1", number=first.number, reason="issued-in-error"
        )
    with pytest.raises(Conflict), node.db.transaction() as s:
        service.revoke_paper(s, node=node, actor="user:clerk-1", number=first.number, reason="withdrawn")
    replacement = _issue(node, reissue_of=second.number)
    resolver = _resolver(node)
    with node.db.session() as s:
        rl = service.local_revocations(s, issuer="110000", resolver=resolver)
        old = service.get_paper(s, node=node, number=second.number)
    assert rl is not None and rl.serial == 2
    assert set(rl.revoked) == {first.number, second.number}
    assert rl.revoked[second.number].reason == "reissued"
    assert old.revoked_at is not None
    revocations = domain.Revocations()
    revocations.add(rl)
    at = T0 + timedelta(days=1)
    assert domain.verify_paper(first.signed, resolver, revocations, at).status == domain.Status.REVOKED
    verdict = domain.verify_paper(replacement.signed, resolver, revocations, at)
    assert verdict.status == domain.Status.VALID
    assert verdict.paper is not None and verdict.paper.reissue_of == second.number


def test_a_node_without_a_paper_key_cannot_issue(node: NodeContext) -> None:
    node.services.clear()
    with pytest.raises(Conflict):
        _issue(node)


def test_the_revocation_list_is_looked_for_until_one_is_committed(node: NodeContext) -> None:
    """The first paper publishes the issuer's empty list (serial 0), even when an earlier first issue rolled
    back; once a committed list was seen, issuing stops asking for it."""
    looked: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("SELECT") and "papers_revocation_list" in statement:
            looked.append(statement)

    with pytest.raises(RuntimeError), node.db.transaction() as s:
        service.issue_paper(
            s, node=node, division_code="110105", actor="user:clerk-1", type="mig.certificate",
            subject=SUBJECT, facts=migration_facts(), valid_until=None, purpose="迁入", subject_ref="person-0",
        )  # fmt: skip
        raise RuntimeError("rolled back")
    event.listen(node.db.engine, "before_cursor_execute", seen)
    try:
        _issue(node)
        with node.db.session() as s:
            assert service.local_revocations(s, issuer="110000", resolver=_resolver(node)) is not None
        looked.clear()
        _issue(node)  # sees the committed list and remembers it
        assert len(looked) == 1
        _issue(node)
        _issue(node)
        assert len(looked) == 1
    finally:
        event.remove(node.db.engine, "before_cursor_execute", seen)
