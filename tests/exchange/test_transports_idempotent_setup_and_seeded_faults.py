"""JetStream stream and consumers are created idempotently; the fault wrapper decides the same way per seed."""

from __future__ import annotations

import asyncio

from exchange_support import delete_stream, unique_stream_settings

from tongban.exchange.transport import EmbeddedTransport, Faults, FaultyTransport, JetStreamTransport


def test_stream_and_consumers_are_created_idempotently(nats_url: str) -> None:
    settings = unique_stream_settings()

    async def scenario() -> list[bytes]:
        first = JetStreamTransport(nats_url, settings)
        await first.start(["110000"])
        await first.publish("110000", "id-1", b"one")
        await first.close()
        # A second start (a restarted node) with a changed setting neither fails nor loses the message.
        changed = settings.model_copy(update={"duplicate_window_s": 5.0})
        second = JetStreamTransport(nats_url, changed)
        await second.start(["110000"])
        await second.publish("110000", "id-1", b"one")  # same broker message id: dropped as a duplicate
        got = await second.fetch("110000", 10, 1.0)
        for d in got:
            await d.ack()
        await second.close()
        return [d.data for d in got]

    try:
        assert asyncio.run(scenario()) == [b"one"]
    finally:
        delete_stream(nats_url, settings.stream_name)


def test_faults_are_reproducible_by_seed() -> None:
    async def run(seed: int) -> tuple[list[bytes], dict[str, int]]:
        inner = EmbeddedTransport()
        faulty = FaultyTransport(inner, Faults(drop=0.2, duplicate=0.2, reorder=0.2), seed)
        await faulty.start(["310000"])
        for i in range(50):
            await faulty.publish("310000", str(i), str(i).encode())
        got = await faulty.fetch("310000", 1000, 0.1)
        return [d.data for d in got], dict(faulty.counts)

    a, b, c = asyncio.run(run(3)), asyncio.run(run(3)), asyncio.run(run(4))
    assert a == b
    assert a != c
    delivered, counts = a
    assert counts["dropped"] > 0 and counts["duplicated"] > 0 and counts["held"] > 0
    assert delivered != sorted(set(delivered), key=lambda x: int(x))  # reordered and/or duplicated
