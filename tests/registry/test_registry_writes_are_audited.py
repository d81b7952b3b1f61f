"""Every registry write leaves exactly one audit row in its own transaction; an import leaves one per batch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tongban.audit.tables import AuditRow
from tongban.core.errors import Conflict
from tongban.core.node import NodeContext
from tongban.registry import service
from tongban.registry.importing import import_records
from tongban.registry.synthetic import synthetic_records

from .registry_helpers import ACTOR, household, person


def actions(node: NodeContext) -> list[tuple[str, str, str]]:
    with node.db.session() as s:
        rows = s.execute(
            sa.select(AuditRow.action, AuditRow.actor, AuditRow.object_id).order_by(AuditRow.seq)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_one_audit_row_per_write_naming_no_id_number(node: NodeContext) -> None:
    hh = household(node)
    p = person(node, hh)
    service.correct_person(node, actor=ACTOR, id_number=p.id_number, changes={"name": "张叁"}, reason="x")
    service.mark_in_transit(node, actor=ACTOR, id_number=p.id_number, case_ref="M-1")
    service.restore_registration(node, actor=ACTOR, id_number=p.id_number, case_ref="M-1")
    service.cancel_registration(node, actor=ACTOR, id_number=p.id_number, reason="death")
    rows = actions(node)
    assert [a for a, _, _ in rows] == [
        "registry.household.create",
        "registry.person.moved_in",
        "registry.person.correct",
        "registry.person.in_transit",
        "registry.person.restore",
        "registry.person.cancel",
    ]
    assert {actor for _, actor, _ in rows} == {ACTOR}
    assert all(p.id_number not in object_id for _, _, object_id in rows)


def test_a_refused_write_leaves_no_audit_row(node: NodeContext) -> None:
    p = person(node, household(node))
    before = actions(node)
    with pytest.raises(Conflict):
        service.restore_registration(node, actor=ACTOR, id_number=p.id_number, case_ref="M-1")
    assert actions(node) == before


def test_an_import_is_one_batch_row(node: NodeContext) -> None:
    import_records(node.db, synthetic_records(30, node_code="110000"), node_code="110000", source="x.jsonl")
    rows = actions(node)
    assert len(rows) == 1 and rows[0][0] == "registry.import.run" and rows[0][2].startswith("batch:")
