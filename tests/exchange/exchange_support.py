"""Support of the exchange tests (imported by them): a synthetic nation (directory, keys) and node exchanges on a database."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tests.conftest import missing_service

from tongban.chaos.cluster import free_port, nats_listening
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.directory import DirectoryHolder
from tongban.exchange.domain import RECEIPT_TYPE, NotYet, ReceiptBody, TypeRegistry, seal
from tongban.exchange.keys import node_key_provider
from tongban.exchange.service import Handler, Incoming, NodeExchange
from tongban.exchange.settings import ExchangeSettings


def node_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, pg_lock_timeout_s=5, sqlite_busy_timeout_s=10, db_pool_size=5)


NODES = {"110000": "北京市", "310000": "上海市", "440000": "广东省"}


class EffectBase(DeclarativeBase):
    pass


class Effect(EffectBase):
    """A test handler's database effect: one row per application (so a double application shows)."""

    __tablename__ = "test_exchange_effect"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))


class Note(BaseModel):
    key: str
    text: str
    after: str | None = None


def effect_keys(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Effect.key).order_by(Effect.id)))


def effect_count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Effect)) or 0)


def note_handler(session: Session, node: NodeContext, incoming: Incoming) -> None:
    note = incoming.message
    assert isinstance(note, Note)
    if note.after is not None and session.scalar(select(Effect.id).where(Effect.key == note.after)) is None:
        raise NotYet(f"waits for {note.after}")
    if note.text == "explode":
        raise ValueError("handler failure")
    session.add(Effect(key=note.key))


def test_registry() -> TypeRegistry:
    reg = TypeRegistry()
    reg.register(RECEIPT_TYPE, ReceiptBody)
    reg.register("test.note.v1", Note, personal=True)
    reg.register("test.plain.v1", Note)
    return reg


def fast_settings(**over: Any) -> ExchangeSettings:
    base: dict[str, Any] = {
        "resend_initial_s": 0.3,
        "resend_max_s": 1.0,
        "resend_max_attempts": 200,
        "apply_retry_s": 0.05,
        "apply_max_attempts": 3,
        "waiting_retry_s": 0.05,
        "poll_interval_s": 0.02,
        "fetch_timeout_s": 0.05,
        "directory_refresh_s": 0.2,
        "ack_wait_s": 2.0,
        "duplicate_window_s": 2.0,
    }
    base.update(over)
    return ExchangeSettings(**base)


@dataclass
class Nation:
    data_dir: Path
    databases: list[Database] = field(default_factory=list)

    def exchange(
        self,
        code: str,
        db: Database,
        settings: ExchangeSettings | None = None,
        registry: TypeRegistry | None = None,
        handlers: dict[str, Handler] | None = None,
    ) -> NodeExchange:
        EffectBase.metadata.create_all(db.engine)
        node = NodeContext(
            code=code, name=NODES.get(code, code), db=db, settings=node_settings(self.data_dir)
        )
        settings = settings or fast_settings()
        holder = DirectoryHolder(self.data_dir, grace=_grace(settings), clock=node.clock)
        ex = NodeExchange(
            node=node,
            keys=node_key_provider(self.data_dir, code),
            directory=holder,
            settings=settings,
            types=registry or test_registry(),
            handlers=handlers
            if handlers is not None
            else {"test.note.v1": note_handler, "test.plain.v1": note_handler},
        )
        node.services["exchange"] = ex
        return ex

    def sign_as(
        self,
        sender: str,
        recipient: str,
        body: dict[str, Any],
        *,
        type: str = "test.note.v1",
        created_at: datetime | None = None,
        encrypt: bool = True,
        envelope_id: uuid.UUID | None = None,
        key_id: str | None = None,
        private_key: Any = None,
    ) -> bytes:
        """Wire bytes signed by ``sender``'s current envelope key (or the key given), bypassing any check."""
        now = datetime.now(UTC)
        directory = DirectoryHolder(self.data_dir, grace=_grace(fast_settings()), clock=SystemClock()).current
        me = directory.node(sender)
        if key_id is None:
            assert me is not None
            k = me.current_key("envelopes", now)
            assert k is not None
            key_id = k.key_id
        if private_key is None:
            private_key = node_key_provider(self.data_dir, sender).signing_key("envelopes", key_id)
        encrypt_to = None
        if encrypt:
            peer = directory.node(recipient)
            assert peer is not None
            ek = peer.current_key("encryption", now)
            assert ek is not None
            encrypt_to = (ek.key_id, ek.public_key)
        _, raw = seal(
            sender=sender,
            recipient=recipient,
            type=type,
            body=body,
            created_at=created_at or now,
            signing_key=private_key,
            key_id=key_id,
            encrypt_to=encrypt_to,
            envelope_id=envelope_id,
        )
        return raw


class Capture:
    """A publisher that keeps what is published, to hand it over by hand."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        self.sent.append((recipient, msg_id, data))


def _grace(settings: ExchangeSettings) -> Any:
    return timedelta(seconds=settings.directory_grace_s)


@pytest.fixture
def nation(tmp_path: Path) -> Nation:
    data_dir = tmp_path / "nation"
    # Keys valid since yesterday, so tests may sign at earlier times.
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(data_dir, now=now)
    for code, name in NODES.items():
        directory_admin.add_node(data_dir, code=code, name=name, now=now)
    return Nation(data_dir=data_dir)


@pytest.fixture
def other_db(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> Iterator[Database]:
    """A second fresh node database on the same backend as ``database``."""
    if backend == "sqlite":
        target = tmp_path / "other.sqlite3"
        shutil.copyfile(sqlite_template, target)
        url = f"sqlite:///{target}"
    else:
        if pg_factory is None:
            missing_service("PostgreSQL")
        url = pg_factory.new()
    db = Database(url, node_settings(tmp_path))
    yield db
    db.dispose()


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def unique_stream_settings(**over: Any) -> ExchangeSettings:
    """Settings with a stream and subjects of the test's own on a shared broker."""
    tag = uuid.uuid4().hex[:10]
    return fast_settings(stream_name=f"TBTEST_{tag}", subject_prefix=f"tbtest.{tag}", **over)


class NatsServer:
    """A nats-server of a test's own (never the shared one), on its own port and store dir."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.proc: Any = None
        self.started = False

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server; its first start moves to a new port should another process hold this one. A
        restart keeps the port, which its clients reconnect to."""
        import subprocess

        for attempt in (1, 2, 3):
            name = f"tbtest-{self.port}"
            self.proc = subprocess.Popen(
                ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir),
                 "-n", name],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if nats_listening(self.port, name, 30, alive=lambda p=self.proc: p.poll() is None):
                self.started = True
                return
            self.kill()
            if self.started or attempt == 3:
                break
            self.port = free_port()
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def delete_stream(url: str, name: str) -> None:
    """Remove a test's stream from the shared broker."""
    import asyncio

    import nats

    async def run() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(run())
