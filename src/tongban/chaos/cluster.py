"""What a chaos run starts, and stops again: PostgreSQL databases, a three-server JetStream cluster and node
processes (``tongban serve --node ...``).

Every child runs in a process group of its own (``start_new_session``), so a SIGSTOP, SIGKILL or SIGTERM reaches
the whole group and a Ctrl-C in the terminal does not reach the children behind the orchestrator's back.
``Cluster.close`` stops everything that was started; it runs from ``finally``, from ``atexit`` and on SIGTERM
(turned into ``KeyboardInterrupt``), and is idempotent.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tongban.chaos.settings import ChaosSettings
from tongban.exchange.settings import ExchangeSettings

log = logging.getLogger("tongban.chaos")

STREAM_REPLICAS = 3


_PORTS_LOCK = threading.Lock()
_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 10_000


def _ephemeral_low() -> int:
    """The lowest source port the kernel gives outgoing connections (32768 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port that is free now, for a server a run or a test starts.

    Chosen below the kernel's ephemeral range, so that no outgoing connection (of this or of any parallel
    process) takes it as its source port in the moment before the server binds it, which ``bind(("", 0))``
    cannot promise; never handed out twice by this process. Falls back to the kernel's choice where the range
    leaves no room below it.
    """
    high = _ephemeral_low() - 1
    rng = random.SystemRandom()
    with _PORTS_LOCK:
        for _ in range(500 if high > _LOWEST_PORT else 0):
            port = rng.randint(_LOWEST_PORT, high)
            if port in _HANDED_OUT:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        _HANDED_OUT.add(port)
        return port


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _end(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGCONT (it may be stopped), SIGTERM, then SIGKILL after ``timeout``; the whole process group."""
    if proc is None:
        return
    if proc.poll() is None:
        _signal_group(proc, signal.SIGCONT)
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(10)
    # Whatever the group's leader left behind.
    _signal_group(proc, signal.SIGKILL)


def nats_listening(port: int, name: str, timeout: float, alive: Callable[[], bool]) -> bool:
    """Whether the nats-server named ``name`` answers on ``port`` within ``timeout`` seconds: its INFO line
    names it (a connection alone could be another process's listener on that port)."""
    wanted = f'"server_name":"{name}"'.encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            info = sock.recv(4096)
            if info.startswith(b"INFO ") and wanted in info.replace(b" ", b""):
                return True
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- PostgreSQL ------------------------------------------------------------------------------------------


class PgDatabases:
    """Creates and drops the run's databases on the PostgreSQL server of ``pg_admin_url``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def url(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"

    def create(self, name: str) -> str:
        """A fresh database ``name`` (one left over by an earlier run of the same seed is dropped first)."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url(name)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


# -- JetStream cluster -----------------------------------------------------------------------------------


@dataclass
class NatsNode:
    index: int
    port: int
    cluster_port: int
    store_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NatsCluster:
    """Three nats-servers with JetStream, routed to each other, on loopback ports of their own."""

    def __init__(self, root: Path, binary: str, size: int = 3) -> None:
        self.binary = binary
        self.servers = [
            NatsNode(i, free_port(), free_port(), root / f"nats-{i}", root / f"nats-{i}.log")
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        """Every server's client URL, comma-separated (the exchange's transport fails over between them)."""
        return ",".join(f"nats://127.0.0.1:{s.port}" for s in self.servers)

    def start(self, index: int, timeout: float = 30.0) -> None:
        s = self.servers[index]
        if s.running:
            return
        s.store_dir.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{o.cluster_port}" for o in self.servers if o is not s)
        cmd = [self.binary, "-js", "-a", "127.0.0.1", "-p", str(s.port), "-sd", str(s.store_dir)]
        cmd += ["-n", f"chaos-{index}", "--cluster_name", "tongban-chaos"]
        cmd += ["--cluster", f"nats://127.0.0.1:{s.cluster_port}", "--routes", routes]
        with s.log.open("ab") as fh:
            # Run in its own store directory: a restarted nats-server 2.9 has been seen writing a consumer's
            # meta.inf and meta.sum into its working directory, which is the operator's otherwise.
            s.proc = subprocess.Popen(  # noqa: S603 - our own command line
                cmd, stdout=fh, stderr=fh, start_new_session=True, cwd=s.store_dir
            )
        if not nats_listening(s.port, f"chaos-{index}", timeout, alive=lambda: s.running):
            exited = s.proc.poll()
            _end(s.proc, 5)
            s.proc = None
            how = (
                f"exited with status {exited}" if exited is not None else f"did not listen in {timeout:.0f} s"
            )
            raise RuntimeError(f"nats-server {index} {how}; its log ends:\n{_tail(s.log)}")

    def start_all(self, attempts: int = 3) -> None:
        """Start every server. Should one not come up (its port taken by another process since it was chosen,
        say), the cluster is stopped, given new ports and fresh store directories, and started again."""
        for attempt in range(1, attempts + 1):
            try:
                for i in range(len(self.servers)):
                    self.start(i)
                return
            except RuntimeError as exc:
                self.stop_all(5)
                if attempt == attempts:
                    raise
                log.warning("JetStream cluster did not start (%s); trying again on new ports", exc)
                for s in self.servers:
                    s.port, s.cluster_port = free_port(), free_port()
                    s.store_dir = s.store_dir.parent / f"nats-{s.index}.{attempt}"

    def kill(self, index: int) -> None:
        s = self.servers[index]
        if s.proc is not None:
            _signal_group(s.proc, signal.SIGKILL)
            s.proc.wait(10)
            s.proc = None

    def stop_all(self, timeout: float) -> None:
        for s in self.servers:
            _end(s.proc, timeout)
            s.proc = None

    def ensure_stream(self, settings: ExchangeSettings, timeout: float = 60.0) -> dict[str, Any]:
        """Create the exchange's stream (replicated on all three servers) once the cluster has a leader;
        its replicas as the cluster reports them."""
        from tongban.exchange.transport import JetStreamTransport

        async def once() -> dict[str, Any]:
            transport = JetStreamTransport(self.url, settings)
            try:
                await transport.start([])
                info = await transport._js.stream_info(settings.stream_name)
                cluster = info.cluster
                return {
                    "stream": settings.stream_name,
                    "replicas": info.config.num_replicas,
                    "leader": getattr(cluster, "leader", None),
                    "followers": [r.name for r in (getattr(cluster, "replicas", None) or [])],
                }
            finally:
                await transport.close()

        deadline = time.monotonic() + timeout
        while True:
            try:
                return asyncio.run(once())
            except Exception as exc:  # no meta leader yet, not enough peers, ...
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the JetStream cluster did not accept the stream: {exc}") from exc
                time.sleep(0.5)


# -- node processes --------------------------------------------------------------------------------------


@dataclass
class NodeProcess:
    """One node as a ``tongban serve --node CODE --db URL --nats URL`` process."""

    code: str
    db_url: str
    nats_url: str
    data_dir: Path
    port: int
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    paused: bool = False
    supervised_restarts: int = 0  # started again after exiting while starting

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **self.env, **(extra_env or {})}
        env["TONGBAN_EXCHANGE_FAULT_SEED"] = str(
            int(env.get("TONGBAN_EXCHANGE_FAULT_SEED", "0")) + self.starts
        )
        self.starts += 1
        cmd = [sys.executable, "-m", "tongban", "serve", "--node", self.code, "--db", self.db_url]
        cmd += ["--nats", self.nats_url, "--data-dir", str(self.data_dir), "--port", str(self.port)]
        with self.log.open("ab") as fh:
            fh.write(f"--- start {self.starts} ---\n".encode())
            self.proc = subprocess.Popen(  # noqa: S603 - our own command line
                cmd, env=env, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.paused = False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"node {self.code} exited at start (see {self.log})")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:  # noqa: S310 - http://127.0.0.1
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"node {self.code} was not ready within {timeout:.0f} s (see {self.log})")

    def wait_ready_supervised(
        self, timeout: float, *, retries: int, may_restart: Callable[[], bool] = lambda: True
    ) -> int:
        """``wait_ready``, starting the process again when it exits while starting, as a supervisor (systemd's
        ``Restart=on-failure``) would: a node exits at start when JetStream does not answer its stream request
        in time (a loaded machine, a broker restarting). How many times it was started again."""
        again = 0
        while True:
            try:
                self.wait_ready(timeout)
                return again
            except RuntimeError:
                exited = self.proc is not None and self.proc.poll() is not None
                if not exited or again >= retries or not may_restart():
                    raise
            again += 1
            self.supervised_restarts += 1
            with self.log.open("ab") as fh:
                fh.write(b"--- exited while starting: started again ---\n")
            self.start()

    def kill(self) -> None:
        if self.proc is not None:
            _signal_group(self.proc, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        self.paused = False

    def pause(self) -> None:
        if self.proc is not None:
            _signal_group(self.proc, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.proc is not None:
            _signal_group(self.proc, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float) -> None:
        _end(self.proc, timeout)
        self.proc = None
        self.paused = False


def node_env(settings: ChaosSettings, *, seed: int, secret: str, faults: bool) -> dict[str, str]:
    """The environment of every node process: the run's short timeouts, R3 streams, the fault wrapper."""
    s = settings
    env = {
        "TONGBAN_SECRET_KEY": secret,
        "TONGBAN_PG_IDLE_IN_TRANSACTION_TIMEOUT_S": str(s.pg_idle_in_transaction_timeout_s),
        "TONGBAN_PG_LOCK_TIMEOUT_S": str(s.pg_lock_timeout_s),
        "TONGBAN_DB_POOL_SIZE": "5",
        "TONGBAN_LOG_LEVEL": "WARNING",
        "TONGBAN_EXCHANGE_STREAM_REPLICAS": str(STREAM_REPLICAS),
        "TONGBAN_EXCHANGE_RESEND_INITIAL_S": str(s.resend_initial_s),
        "TONGBAN_EXCHANGE_RESEND_MAX_S": str(s.resend_max_s),
        "TONGBAN_EXCHANGE_RESEND_MAX_ATTEMPTS": str(s.resend_max_attempts),
        "TONGBAN_EXCHANGE_POLL_INTERVAL_S": str(s.poll_interval_s),
        "TONGBAN_EXCHANGE_FETCH_TIMEOUT_S": str(s.fetch_timeout_s),
        "TONGBAN_EXCHANGE_ACK_WAIT_S": str(s.ack_wait_s),
        "TONGBAN_EXCHANGE_DUPLICATE_WINDOW_S": str(s.duplicate_window_s),
        "TONGBAN_EXCHANGE_PUBLISH_TIMEOUT_S": str(s.publish_timeout_s),
        "TONGBAN_EXCHANGE_DIRECTORY_REFRESH_S": str(s.directory_refresh_s),
        "TONGBAN_EXCHANGE_APPLY_RETRY_S": str(s.apply_retry_s),
        "TONGBAN_EXCHANGE_APPLY_MAX_ATTEMPTS": str(s.apply_max_attempts),
        "TONGBAN_EXCHANGE_FAULT_SEED": str(seed * 1000),
        # Origins move out without a clerk where the matter allows it (the migration workload's saga).
        "TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT": "true",
    }
    if faults:
        env |= {
            "TONGBAN_EXCHANGE_FAULT_DROP": str(s.fault_drop),
            "TONGBAN_EXCHANGE_FAULT_DUPLICATE": str(s.fault_duplicate),
            "TONGBAN_EXCHANGE_FAULT_DELAY": str(s.fault_delay),
            "TONGBAN_EXCHANGE_FAULT_REORDER": str(s.fault_reorder),
        }
    src = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def exchange_settings(settings: ChaosSettings) -> ExchangeSettings:
    """The exchange settings the node processes get from ``node_env`` (the orchestrator's own use)."""
    return ExchangeSettings(
        stream_replicas=STREAM_REPLICAS,
        duplicate_window_s=settings.duplicate_window_s,
        ack_wait_s=settings.ack_wait_s,
        publish_timeout_s=settings.publish_timeout_s,
    )


# -- everything together ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The run's databases, broker cluster and node processes; ``close()`` stops whatever was started."""

    root: Path
    settings: ChaosSettings
    seed: int
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    pg: PgDatabases = field(init=False)
    nats: NatsCluster = field(init=False)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    _closed: bool = False
    # Held by every fault action and by ``close``: nothing is started again once the run is closing.
    lock: threading.RLock = field(default_factory=threading.RLock)
    _on_close: list[Callable[[], None]] = field(default_factory=list)
    _previous_sigterm: Any = None

    def __post_init__(self) -> None:
        self.pg = PgDatabases(self.settings.pg_admin_url)
        self.nats = NatsCluster(self.root, self.settings.nats_server)
        self.data_dir = self.root / "nation"
        atexit.register(self.close)
        if _in_main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    def database_name(self, code: str) -> str:
        return f"{self.settings.db_prefix}_{self.seed}_{code}"

    def add_node(self, code: str, db_url: str, *, faults: bool) -> NodeProcess:
        node = NodeProcess(
            code=code,
            db_url=db_url,
            nats_url=self.nats.url,
            data_dir=self.data_dir,
            port=free_port(),
            log=self.root / f"node-{code}.log",
            env=node_env(self.settings, seed=self.seed, secret=self.secret, faults=faults),
        )
        self.nodes[code] = node
        return node

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` first when closing (the orchestrator's own database pools, before the drops)."""
        self._on_close.append(fn)

    @property
    def closed(self) -> bool:
        return self._closed

    def guarded(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """``fn`` run under the lock, and not at all once the run is closing (the fault injector's actions)."""

        def run(arg: Any) -> None:
            with self.lock:
                if self._closed:
                    raise RuntimeError("the run is closing")
                fn(arg)

        return run

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
        for fn in self._on_close:
            with contextlib.suppress(Exception):
                fn()
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.stop(self.settings.stop_timeout_s)
        with contextlib.suppress(Exception):
            self.nats.stop_all(self.settings.stop_timeout_s)
        try:
            self.pg.drop_all()
        except Exception:  # keep going: the rest is already stopped
            log.exception("dropping the chaos databases failed")
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if self._previous_sigterm is not None and _in_main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
