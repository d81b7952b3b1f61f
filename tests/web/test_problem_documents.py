"""API errors are RFC 9457 problem documents in the caller's language; every route declares its rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from tests.conftest import test_settings
from tongban.core.node import NodeEntry, open_node
from tongban.web.app import Runtime, create_app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = test_settings(tmp_path)
    node = open_node(NodeEntry("110000", "北京市"), settings)
    return TestClient(create_app(Runtime(settings=settings, nodes={"110000": node})))


def test_unknown_api_route_is_a_problem_document(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 404 and body["code"] == "not-found" and body["title"] == "未找到"


def test_problem_document_in_english_on_request(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here?lang=en")
    assert r.json()["title"] == "Not found"


def test_unknown_node_is_refused_with_its_code(client: TestClient) -> None:
    r = client.get("/healthz", headers={"x-tongban-node": "990000", "accept": "application/json"})
    # healthz does not depend on a node; the home page does not either: use the node-bound helper directly
    assert r.status_code == 200
    r = client.get("/api/v1/nothing", headers={"x-tongban-node": "990000"})
    assert r.status_code == 404


def test_a_route_without_a_rule_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tongban.web.pages as shell_pages

    rogue = APIRouter()

    @rogue.get("/rogue")
    def _rogue() -> dict[str, str]:
        return {}

    original = shell_pages.router
    combined = APIRouter()
    combined.include_router(original)
    combined.include_router(rogue)
    monkeypatch.setattr(shell_pages, "router", combined)
    settings = test_settings(tmp_path)
    with pytest.raises(RuntimeError, match="/rogue"):
        create_app(Runtime(settings=settings, nodes={}))


def test_home_page_shows_the_nodes(client: TestClient) -> None:
    r = client.get("/", headers={"accept": "text/html"})
    assert r.status_code == 200
    assert "户籍业务跨省通办" in r.text and "110000" in r.text
