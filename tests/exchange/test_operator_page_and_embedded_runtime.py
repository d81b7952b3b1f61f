"""An embedded runtime starts the exchange of its nodes; the operator page shows per-peer counts and retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange_support import wait_until
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tongban.core.node import NodeEntry, write_manifest
from tongban.core.settings import Settings
from tongban.exchange import directory_admin, store
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.probe import PROBE_TYPE
from tongban.exchange.service import NodeExchange, enqueue, status
from tongban.exchange.tables import OutboxRow, ProbeRow
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime


def test_embedded_runtime_delivers_and_the_page_shows_it(tmp_path: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    directory_admin.init(tmp_path, now=now)
    nodes = [NodeEntry("110000", "北京市"), NodeEntry("310000", "上海市")]
    for n in nodes:
        directory_admin.add_node(tmp_path, code=n.code, name=n.name, now=now)
    write_manifest(tmp_path, nodes)
    runtime = build_runtime(Settings(data_dir=tmp_path, secret_key="test"))
    runner = runtime.extras["exchange"]
    assert isinstance(runner, ExchangeRunner)
    try:
        bj, sh = runtime.nodes["110000"], runtime.nodes["310000"]
        for i in range(3):
            with bj.db.transaction() as s:
                enqueue(s, node=bj, recipient="310000", type=PROBE_TYPE, body={"label": f"p{i}"})
        assert wait_until(lambda: _count(sh, ProbeRow) == 3, 20)
        ex = bj.services["exchange"]
        assert isinstance(ex, NodeExchange)
        assert wait_until(lambda: status(ex)[0].acknowledged == 3, 20)

        # Park one outgoing message by hand, as the relay would after its last re-send.
        with bj.db.transaction() as s:
            first = s.scalars(select(OutboxRow.id)).first()
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == first)
                .values(state=store.OUT_PARKED, reason="no receipt")
            )

        client = TestClient(create_app(runtime))
        page = client.get("/exchange?node=110000&lang=en")
        assert page.status_code == 200
        assert 'data-peer="310000"' in page.text and "no receipt" in page.text
        zh = client.get("/exchange?node=110000&lang=zh_CN")
        assert "与其他省份的数据交换" in zh.text
        retried = client.post(
            "/exchange/retry?node=110000", data={"envelope_id": first}, follow_redirects=False
        )
        assert retried.status_code == 303 and "retried=1" in retried.headers["location"]
        # Re-sent, receipted again (the receiver answers a re-send with its stored receipt), applied once.
        assert wait_until(lambda: status(ex)[0].acknowledged == 3 and status(ex)[0].parked == 0, 20)
        assert _count(sh, ProbeRow) == 3
    finally:
        runner.stop()
        for node in runtime.nodes.values():
            node.db.dispose()


def _count(node, table) -> int:  # type: ignore[no-untyped-def]
    with node.db.session() as s:
        return len(list(s.scalars(select(table.seq))))
