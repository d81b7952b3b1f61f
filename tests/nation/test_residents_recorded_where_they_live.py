"""People living outside their hukou province are recorded in the node of the province where they live."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import test_settings
from tests.nation.nation_helpers import small_nation

from tongban.core.db import Database
from tongban.core.node import NodeContext, NodeEntry, open_node, read_manifest
from tongban.nation import service
from tongban.nation.generator import generate_province


def test_record_and_read_residents(database: Database, tmp_path: Path) -> None:
    node = NodeContext(code="440000", name="广东省", db=database, settings=test_settings(tmp_path))
    assert service.count_residents(node) == 0
    sichuan = generate_province("510000", 2000, seed=8, other_provinces=("440000", "510000"))
    living_here = [("510000", p) for p in sichuan.residents_elsewhere()]
    assert living_here
    assert service.record_residents(node, residents=living_here) == len(living_here)
    assert service.count_residents(node) == len(living_here)
    stored = service.residents(node)
    assert {r.id_number for r in stored} == {p.id_number for _h, p in living_here}
    assert all(r.hukou_province == "510000" and r.division_code.startswith("44") for r in stored)
    assert any(r.has_permit for r in stored) and any(not r.has_permit for r in stored)


def test_a_resident_of_another_province_is_refused(database: Database, tmp_path: Path) -> None:
    node = NodeContext(code="110000", name="北京市", db=database, settings=test_settings(tmp_path))
    sichuan = generate_province("510000", 2000, seed=8, other_provinces=("440000", "510000"))
    with pytest.raises(ValueError, match="live in the node's province"):
        service.record_residents(node, residents=[("510000", p) for p in sichuan.residents_elsewhere()])
    assert service.count_residents(node) == 0


def test_a_built_nation_records_residents_in_the_province_where_they_live(tmp_path: Path) -> None:
    summaries = small_nation(tmp_path, ["110000", "440000", "650000"], people=600)
    assert all(s.residents_from_elsewhere > 0 for s in summaries)
    settings = test_settings(tmp_path)
    for entry in read_manifest(tmp_path):
        node = open_node(NodeEntry(entry.code, entry.name), settings)
        try:
            residents = service.residents(node)
            assert residents
            assert all(r.hukou_province != entry.code for r in residents)
            assert all(r.division_code[:2] == entry.code[:2] for r in residents)
        finally:
            node.db.dispose()
