"""A nation whose import is refused leaves no manifest: `make run` never serves half a nation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import test_settings
from tests.nation.nation_helpers import small_nation

from tongban.nation import build
from tongban.nation.build import NationExists
from tongban.nation.domain import ProvinceNation
from tongban.nation.records import province_records
from tongban.registry.importing import ImportRefused


def test_a_refused_import_writes_no_manifest_and_blocks_a_silent_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(nation: ProvinceNation) -> Iterator[dict[str, Any]]:
        for record in province_records(nation):
            if record["type"] == "person" and nation.code == "440000":
                record = {**record, "sex": "unknown"}
            yield record

    monkeypatch.setattr(build, "province_records", broken)
    with pytest.raises(ImportRefused):
        small_nation(tmp_path, ["110000", "440000"], people=100)
    assert not (tmp_path / "nation.json").exists()
    assert not (tmp_path / "demo-accounts.json").exists()
    monkeypatch.undo()
    with pytest.raises(NationExists, match="--force"):
        small_nation(tmp_path, ["110000", "440000"], people=100)
    summaries = build.build_nation(
        test_settings(tmp_path),
        ["110000", "440000"],
        people=100,
        seed=1,
        force=True,
        demo_accounts=False,
    )
    assert [s.persons for s in summaries] == [100, 100]
    assert (tmp_path / "nation.json").exists()
