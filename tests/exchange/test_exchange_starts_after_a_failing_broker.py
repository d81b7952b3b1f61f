"""A node's exchange survives a broker that fails at start: it tries again with backoff, then gives up clearly.

Under load, or while a JetStream server restarts, the stream request at start can time out; the runner then
tries again instead of taking the node down (a supervisor would otherwise have to restart it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.transport import Delivery, EmbeddedTransport


class Broker:
    """How many more starts fail (as a stream request timing out) before the broker answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures


class TransportOnBroker:
    """An embedded transport whose start goes through the broker above."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.inner = EmbeddedTransport()
        self.closed = False
        self.started = False

    async def start(self, codes: list[str]) -> None:
        if self.broker.failures > 0:
            self.broker.failures -= 1
            raise TimeoutError("stream request timed out")
        await self.inner.start(codes)
        self.started = True

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        await self.inner.publish(recipient, msg_id, data)

    async def fetch(self, code: str, batch: int, timeout: float) -> list[Delivery]:
        return await self.inner.fetch(code, batch, timeout)

    async def close(self) -> None:
        self.closed = True


def _factory(failures: int) -> tuple[list[TransportOnBroker], Callable[[], TransportOnBroker]]:
    broker = Broker(failures)
    made: list[TransportOnBroker] = []

    def make() -> TransportOnBroker:
        made.append(TransportOnBroker(broker))
        return made[-1]

    return made, make


def test_a_start_that_fails_twice_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    made, make = _factory(2)
    runner = ExchangeRunner([], make)
    with caplog.at_level(logging.WARNING, logger="tongban.exchange.jobs"):
        runner.start(timeout=20)
    try:
        assert len(made) == 3
        assert [t.closed for t in made[:2]] == [True, True]  # each failed attempt's connection closed
        assert made[2].started and runner.transport is made[2]
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 2 and all("TimeoutError" in w for w in warnings)
    finally:
        runner.stop()
    assert made[2].closed


def test_a_broker_that_never_answers_fails_the_start_with_its_error() -> None:
    made, make = _factory(10_000)
    runner = ExchangeRunner([], make)
    with pytest.raises(RuntimeError, match="exchange failed to start") as info:
        runner.start(timeout=3)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert len(made) >= 2  # it did try again before giving up
    assert all(t.closed for t in made)
    assert runner.transport is None
