"""The home page's node table has a column with the residents each node records from other provinces."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from tests.conftest import test_settings
from tests.nation.nation_helpers import small_nation

from tongban.core.plugins import capability_modules
from tongban.nation import service
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime


def test_home_page_counts_residents_from_elsewhere(tmp_path: Path) -> None:
    small_nation(tmp_path, ["110000", "440000"], people=400)
    runtime = build_runtime(test_settings(tmp_path))
    try:
        with TestClient(create_app(runtime)) as client:
            html = client.get("/", params={"lang": "zh_CN"}).text
            assert "外省户籍居住人员" in html
            for code, node in runtime.nodes.items():
                row = re.search(rf'<tr data-node="{code}">(.*?)</tr>', html, re.S)
                assert row, code
                assert f"<td>{service.count_residents(node)}</td>" in row.group(1)
                assert service.count_residents(node)
    finally:
        for module in capability_modules("runtime"):
            detach = getattr(module, "detach", None)
            if detach is not None:
                detach(runtime)
        for node in runtime.nodes.values():
            node.db.dispose()
