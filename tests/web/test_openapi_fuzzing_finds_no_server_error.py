"""schemathesis against a running node's OpenAPI document: no 5xx anywhere, every API 4xx a problem document.

A small synthetic nation (one province) is served by a real ``tongban serve`` process, on SQLite and on
PostgreSQL (their integer ranges differ). Every operation of the OpenAPI document is called with generated
requests: valid and invalid ones with an API token holding a provincial administrator's actions, valid ones
without any credentials, and valid ones with a token holding every action in the province (so the routes an
administrator may not use are reached too).

The bounded run below is part of the normal suite. A longer run is the same test with more examples and
another seed (see docs/reliability.md):

    TONGBAN_FUZZ_EXAMPLES=100 TONGBAN_FUZZ_SEED=11 pytest -s -p no:cacheprovider \
        tests/web/test_openapi_fuzzing_finds_no_server_error.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import PgFactory, missing_service, test_settings
from tests.e2e.conftest import LiveServer
from tongban.access import service as access
from tongban.access.domain import GRANTS, Role, Scope
from tongban.core.clock import SystemClock
from tongban.core.node import open_node, read_manifest
from tongban.nation.build import build_nation

NODE = "110000"
EXAMPLES = int(os.environ.get("TONGBAN_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("TONGBAN_FUZZ_SEED", "2026"))
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Finding:
    label: str
    who: str
    status: int
    what: str
    curl: str


@dataclass
class Served:
    server: LiveServer
    token: str  # a provincial administrator's actions, province-wide
    wide_token: str  # every action, province-wide: reaches the routes an administrator may not use
    schema: Any


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_factory: PgFactory | None
) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("fuzz-nation")
    settings = test_settings(data_dir)
    env: dict[str, str] = {}
    if request.param == "postgresql":
        if pg_factory is None:
            missing_service("PostgreSQL")
        assert pg_factory is not None
        settings = settings.model_copy(update={"db_url": pg_factory.new()})
        env["TONGBAN_DB_URL"] = str(settings.db_url)
    build_nation(settings, [NODE], people=60, seed=SEED, demo_accounts=False)
    # The node's database is where the backend says: no SQLite file when it is PostgreSQL.
    assert any(data_dir.glob("*.sqlite3")) == (request.param == "sqlite")
    (entry,) = read_manifest(data_dir)
    node = open_node(entry, settings)
    try:
        token, wide_token = (
            access.create_api_token(
                node.db,
                name=name,
                actions=actions,
                scope=Scope.PROVINCE,
                division_code=NODE,
                actor="test",
                now=SystemClock().now(),
            )
            for name, actions in (
                ("fuzzing as administrator", sorted({g.pattern for g in GRANTS[Role.PROVINCIAL_ADMIN]})),
                ("fuzzing with every action", ["*.*.*"]),
            )
        )
    finally:
        node.db.dispose()
    server = LiveServer(data_dir, extra_env=env)
    try:
        schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
        yield Served(server, token, wide_token, schema)
    finally:
        server.stop()


def problem_document_fault(response: Any) -> str | None:
    """Why an API 4xx response is not an RFC 9457 problem document, or None if it is one."""
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith(PROBLEM_JSON):
        return f"content type {content_type!r}"
    try:
        body = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not an object"
    missing = [k for k in ("type", "title", "status") if k not in body]
    if missing:
        return f"missing {', '.join(missing)}"
    if body["status"] != response.status_code:
        return f"status {body['status']!r} differs from {response.status_code}"
    return None


def fuzz_operation(
    served: Served,
    operation: Any,
    mode: GenerationMode,
    who: str,
    headers: dict[str, str],
    statuses: dict[tuple[str, int], int],
) -> list[Finding]:
    findings: list[Finding] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=served.server.url, headers=headers, timeout=30)
        status = response.status_code
        statuses[who, status] = statuses.get((who, status), 0) + 1
        what = None
        if status >= 500:
            what = "server error"
        elif 400 <= status < 500 and case.path.startswith("/api/"):
            what = problem_document_fault(response)
        if what is not None:
            curl = case.as_curl_command(headers={k: "…" for k in headers})
            findings.append(Finding(operation.label, who, status, what, curl))

    try:
        run()
    except Unsatisfiable:
        # An operation without parameters or body has no invalid request to generate.
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
    return findings


def test_no_server_error_and_every_api_refusal_is_a_problem_document(served: Served) -> None:
    operations = [result.ok() for result in served.schema.get_all_operations()]
    assert len(operations) > 50, "the OpenAPI document lists the routes of every capability"
    bearer = {"Authorization": f"Bearer {served.token}"}
    wide = {"Authorization": f"Bearer {served.wide_token}"}
    findings: list[Finding] = []
    statuses: dict[tuple[str, int], int] = {}
    for operation in operations:
        findings += fuzz_operation(
            served, operation, GenerationMode.POSITIVE, "admin-token", bearer, statuses
        )
        findings += fuzz_operation(
            served, operation, GenerationMode.NEGATIVE, "admin-token", bearer, statuses
        )
        findings += fuzz_operation(served, operation, GenerationMode.POSITIVE, "anonymous", {}, statuses)
        findings += fuzz_operation(served, operation, GenerationMode.POSITIVE, "every-action", wide, statuses)
    print(f"responses by caller and status: {dict(sorted(statuses.items()))}")
    # The token reaches past authentication: some calls succeed, and the administrator's refusals are not all 401s.
    assert statuses.get(("admin-token", 200), 0) > 0
    assert statuses.get(("anonymous", 401), 0) > 0
    assert statuses.get(("every-action", 403), 0) < statuses.get(("admin-token", 403), 0) / 2
    distinct = {(f.label, f.who, f.status, f.what): f for f in findings}
    report = "\n".join(f"{f.label} [{f.who}] {f.status}: {f.what}\n    {f.curl}" for f in distinct.values())
    assert not distinct, f"{len(distinct)} distinct finding(s):\n{report}"
