"""Transports behind one interface: embedded (in process), NATS JetStream, and a fault-injecting wrapper.

A transport publishes wire bytes to a node and hands a node the deliveries addressed to it; a delivery is
acknowledged only after the receiver has committed it (inbox or rejection log), so a crash before that means a
redelivery, which the inbox recognises. Nothing here is the store of record.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from tongban.exchange.settings import ExchangeSettings


class Delivery(Protocol):
    data: bytes

    async def ack(self) -> None: ...

    async def nak(self) -> None: ...


class Transport(Protocol):
    async def start(self, codes: list[str]) -> None:
        """Connect, and prepare to receive for the nodes ``codes`` hosted by this process."""
        ...

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        """Hand ``data`` to the broker for ``recipient``; returns once the broker has accepted it."""
        ...

    async def fetch(self, code: str, batch: int, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries for node ``code``, waiting at most ``timeout`` seconds."""
        ...

    async def close(self) -> None: ...


# -- embedded --------------------------------------------------------------------------------------------


@dataclass
class _MemoryDelivery:
    data: bytes
    queue: asyncio.Queue[bytes]

    async def ack(self) -> None:
        return None

    async def nak(self) -> None:
        await self.queue.put(self.data)


class EmbeddedTransport:
    """Delivers between nodes of one process (one event loop), through queues in memory."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[bytes]] = defaultdict(asyncio.Queue)
        self.published = 0

    async def start(self, codes: list[str]) -> None:
        for code in codes:
            _ = self._queues[code]

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        self.published += 1
        await self._queues[recipient].put(data)

    async def fetch(self, code: str, batch: int, timeout: float) -> list[Delivery]:
        queue = self._queues[code]
        out: list[Delivery] = []
        try:
            first = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            return out
        out.append(_MemoryDelivery(first, queue))
        while len(out) < batch and not queue.empty():
            out.append(_MemoryDelivery(queue.get_nowait(), queue))
        return out

    async def close(self) -> None:
        return None


# -- NATS JetStream --------------------------------------------------------------------------------------


@dataclass
class _JsDelivery:
    msg: Any
    data: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.data = bytes(self.msg.data)

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self) -> None:
        await self.msg.nak()


class JetStreamTransport:
    """One stream for the nation's subjects ``<prefix>.<code>``, a durable pull consumer per hosted node.

    The broker message id (``Nats-Msg-Id``) is the envelope id, so JetStream drops re-publications inside its
    duplicate window; outside it the inbox does. Stream and consumers are created idempotently at every start
    (a stream may have to be recreated after a broker crash).
    """

    def __init__(self, url: str, settings: ExchangeSettings | None = None) -> None:
        self.url = url
        self.settings = settings or ExchangeSettings()
        self._nc: Any = None
        self._js: Any = None
        self._subs: dict[str, Any] = {}

    def subject(self, code: str) -> str:
        return f"{self.settings.subject_prefix}.{code}"

    def durable(self, code: str) -> str:
        return f"{self.settings.stream_name}_{code}".replace(".", "_")

    async def start(self, codes: list[str]) -> None:
        import nats

        # A comma-separated list names several servers of a cluster: the client fails over between them.
        servers = [u.strip() for u in self.url.split(",") if u.strip()]
        self._nc = await nats.connect(
            servers if len(servers) > 1 else self.url,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            allow_reconnect=True,
        )
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_s)
        await self.ensure_stream()
        for code in codes:
            await self.ensure_consumer(code)

    async def ensure_stream(self) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        s = self.settings
        config = StreamConfig(
            name=s.stream_name,
            subjects=[f"{s.subject_prefix}.*"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=s.stream_replicas,
            duplicate_window=s.duplicate_window_s,
            max_age=s.max_age_s,
            max_msg_size=s.max_envelope_bytes + 4096,
        )
        try:
            await self._js.add_stream(config)
        except Exception as exc:  # exists with another config: bring it to ours
            if "already in use" not in str(exc) and "exists" not in str(exc):
                raise
            await self._js.update_stream(config)

    async def ensure_consumer(self, code: str) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        s = self.settings
        config = ConsumerConfig(
            durable_name=self.durable(code),
            filter_subject=self.subject(code),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait_s,
            max_deliver=s.max_deliver,
            max_ack_pending=s.max_ack_pending,
        )
        self._subs[code] = await self._js.pull_subscribe(
            self.subject(code), durable=self.durable(code), stream=s.stream_name, config=config
        )

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        await self._js.publish(
            self.subject(recipient),
            data,
            stream=self.settings.stream_name,
            headers={"Nats-Msg-Id": msg_id},
            timeout=self.settings.publish_timeout_s,
        )

    async def fetch(self, code: str, batch: int, timeout: float) -> list[Delivery]:
        import nats.errors

        sub = self._subs[code]
        try:
            msgs = await sub.fetch(batch, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        return [_JsDelivery(m) for m in msgs]

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None


# -- fault injection -------------------------------------------------------------------------------------


@dataclass
class Faults:
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    max_delay_s: float = 0.3


class FaultyTransport:
    """Wraps a transport and, by seed, drops, duplicates, delays or reorders publications."""

    def __init__(self, inner: Transport, faults: Faults, seed: int) -> None:
        self.inner = inner
        self.faults = faults
        self.random = random.Random(seed)
        self._held: list[tuple[str, str, bytes]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.counts: dict[str, int] = defaultdict(int)

    async def start(self, codes: list[str]) -> None:
        await self.inner.start(codes)

    async def _later(self, delay: float, recipient: str, msg_id: str, data: bytes) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):
            await self.inner.publish(recipient, msg_id, data)

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        f, r = self.faults, self.random
        if r.random() < f.drop:
            self.counts["dropped"] += 1
            return
        if r.random() < f.reorder:
            self.counts["held"] += 1
            self._held.append((recipient, msg_id, data))
            return
        if r.random() < f.delay:
            self.counts["delayed"] += 1
            task = asyncio.get_running_loop().create_task(
                self._later(r.uniform(0, f.max_delay_s), recipient, msg_id, data)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self.inner.publish(recipient, msg_id, data)
        if r.random() < f.duplicate:
            self.counts["duplicated"] += 1
            await self.inner.publish(recipient, msg_id, data)
        # Release held messages after a later one: a reorder.
        while self._held:
            held = self._held.pop(0)
            await self.inner.publish(*held)

    async def fetch(self, code: str, batch: int, timeout: float) -> list[Delivery]:
        return await self.inner.fetch(code, batch, timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.inner.close()
