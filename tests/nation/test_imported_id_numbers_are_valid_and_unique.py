"""Every ID number a generated nation holds, as the registry exports it, is valid and appears once."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import test_settings
from tests.nation.nation_helpers import small_nation

from tongban.core.node import open_node, read_manifest
from tongban.idnum.domain import parse_id
from tongban.nation.domain import AS_OF
from tongban.registry.exporting import export_records


def test_every_exported_id_number_is_valid_and_none_repeats(tmp_path: Path) -> None:
    summaries = small_nation(tmp_path, ["110000", "510000", "650000"], people=700)
    numbers: list[str] = []
    for entry in read_manifest(tmp_path):
        node = open_node(entry, test_settings(tmp_path))
        try:
            persons = [r for r in export_records(node.db) if r["type"] == "person"]
        finally:
            node.db.dispose()
        assert len(persons) == 700
        for p in persons:
            parsed = parse_id(p["id_number"], today=AS_OF)
            assert parsed.area[:2] == entry.code[:2]
            assert parsed.birth_date.isoformat() == p["birth_date"]
            numbers.append(p["id_number"])
    assert sum(s.persons for s in summaries) == len(numbers) == 2100
    assert len(set(numbers)) == len(numbers)
