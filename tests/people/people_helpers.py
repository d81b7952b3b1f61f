"""Helpers of the people tests: a small nation served by an app, and clients signed in as its demo clerks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from tests.conftest import test_settings

from tongban.access import service as access
from tongban.access.middleware import session_cookie_value
from tongban.access.settings import AccessSettings
from tongban.core import migrate
from tongban.core.node import open_node, read_manifest
from tongban.core.plugins import capability_modules
from tongban.nation.build import build_nation
from tongban.nation.demo import DemoAccount, read_demo_file
from tongban.web.app import Runtime, create_app

FAST = AccessSettings(
    cookie_secure=False,
    argon2_time_cost=1,
    argon2_memory_kib=1024,
    argon2_parallelism=1,
    flusher_enabled=False,
)


@dataclass
class Served:
    runtime: Runtime
    clerks: dict[str, DemoAccount]

    def client_of(self, node: str) -> TestClient:
        """A client signed in as the demo clerk of ``node`` (second factor taken as done)."""
        from fastapi import FastAPI

        account = self.clerks[node]
        db = self.runtime.nodes[node].db
        user = access.get_user(db, login=account.login)
        session = access.open_session(
            db,
            settings=FAST,
            user_id=user.id,
            stage=access.STAGE_ACTIVE,
            now=self.runtime.nodes[node].clock.now(),
        )
        app: FastAPI = self.runtime.extras["app"]
        client = TestClient(app, follow_redirects=False)
        client.cookies.set(FAST.session_cookie, session_cookie_value(node, session.token))
        client.cookies.set("tongban_node", node)
        client.headers["x-csrf-token"] = session.csrf_token
        return client

    def close(self) -> None:
        for module in capability_modules("runtime"):
            detach = getattr(module, "detach", None)
            if detach is not None:
                detach(self.runtime)
        for node in self.runtime.nodes.values():
            node.db.dispose()


def serve_small_nation(data_dir: Path, codes: list[str], *, people: int = 500, seed: int = 2026) -> Served:
    settings = test_settings(data_dir)
    build_nation(settings, codes, people=people, seed=seed)
    nodes = {}
    for entry in read_manifest(data_dir):
        node = open_node(entry, settings)
        migrate.upgrade(node.db)
        nodes[node.code] = node
    runtime = Runtime(settings=settings, nodes=nodes, embedded=True, extras={"access_settings": FAST})
    for module in capability_modules("runtime"):
        module.attach(runtime)
    runtime.extras["app"] = create_app(runtime)
    return Served(runtime, {a.node: a for a in read_demo_file(data_dir)})
