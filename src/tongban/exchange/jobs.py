"""Background loops of the exchange: per hosted node a receiver, and a pump (apply, receipts, relay).

All loops run as asyncio tasks on one event loop in a thread of their own (the transports are asyncio; the
database calls are short and synchronous, in that thread). ``ExchangeRunner.stop()`` ends them cleanly:
deliveries being handled are finished and acknowledged or left unacknowledged for redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tongban.exchange.failpoints import crashpoint
from tongban.exchange.service import (
    NodeExchange,
    Outcome,
    apply_due,
    due_work,
    purge_expired,
    receive_batch,
    relay_due,
    send_receipts,
)
from tongban.exchange.transport import Transport

log = logging.getLogger("tongban.exchange.jobs")


async def receive_loop(ex: NodeExchange, transport: Transport, stop: asyncio.Event) -> None:
    s = ex.settings
    while not stop.is_set():
        try:
            deliveries = await transport.fetch(ex.code, s.fetch_batch, s.fetch_timeout_s)
        except Exception as exc:
            log.warning("fetch for %s failed: %s", ex.code, type(exc).__name__)
            await asyncio.sleep(s.poll_interval_s * 10)
            continue
        if not deliveries:
            continue
        try:
            outcomes = receive_batch(ex, [d.data for d in deliveries])
        except Exception as exc:  # the database is unavailable: let the broker redeliver
            log.warning("receive on %s failed: %s", ex.code, type(exc).__name__)
            for delivery in deliveries:
                with contextlib.suppress(Exception):
                    await delivery.nak()
            continue
        for outcome in outcomes:
            if outcome is Outcome.ACCEPTED:
                crashpoint(ex.settings, "receive.after_inbox")  # counted per message accepted
        if ex.hints:
            ex.wake.set()
        # Acknowledge only once the outcomes are committed (inbox, outbox or rejection log).
        for delivery in deliveries:
            with contextlib.suppress(Exception):
                await delivery.ack()


async def pump_loop(ex: NodeExchange, transport: Transport, stop: asyncio.Event) -> None:
    s = ex.settings
    loop = asyncio.get_running_loop()
    next_refresh = loop.time() + s.directory_refresh_s
    next_purge = loop.time() + s.purge_interval_s
    next_query = 0.0
    while not stop.is_set():
        busy = 0
        if loop.time() >= next_refresh:
            next_refresh = loop.time() + s.directory_refresh_s
            try:
                ex.directory.refresh()
            except Exception as exc:
                log.warning("directory refresh on %s failed: %s", ex.code, type(exc).__name__)
        if loop.time() >= next_purge:
            next_purge = loop.time() + s.purge_interval_s
            try:
                purge_expired(ex)
            except Exception as exc:
                log.warning("purge on %s failed: %s", ex.code, type(exc).__name__)
        try:
            # What this process knows has work (it received, enqueued, or a step filled its batch), and at
            # every poll interval what the database says (one query): work of other processes, re-sends and
            # retries that have come due. The pump does not ask the database between polls, busy or not: a
            # wake without hints (or a step that emptied its batch) waits for the next poll.
            steps = ex.take_hints()
            if loop.time() >= next_query:
                next_query = loop.time() + s.poll_interval_s
                due = due_work(ex)
                steps |= {
                    name
                    for name, yes in (("apply", due.apply), ("receipts", due.receipts), ("relay", due.relay))
                    if yes
                }
            if "apply" in steps:
                done = apply_due(ex)
                busy += done
                if done >= s.apply_batch:
                    ex.hint("apply")  # a full batch: there may be more
            if "receipts" in steps:
                done = await send_receipts(ex, transport)
                busy += done
                if done >= s.receipt_batch:
                    ex.hint("receipts")
            if "relay" in steps:
                done = await relay_due(ex, transport)
                busy += done
                if done >= s.relay_batch:
                    ex.hint("relay")
        except Exception as exc:
            log.warning("exchange pump on %s failed: %s", ex.code, type(exc).__name__)
        if busy:
            await asyncio.sleep(0)
            continue
        ex.wake.clear()
        if ex.hints:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ex.wake.wait(), s.poll_interval_s)


class ExchangeRunner:
    """Runs the exchange loops of some nodes over one transport, in a thread with its own event loop."""

    def __init__(self, nodes: list[NodeExchange], transport_factory: Callable[[], Transport]) -> None:
        self.nodes = nodes
        self.transport_factory = transport_factory
        self.transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._start_deadline = 0.0

    def start(self, timeout: float = 30.0) -> None:
        """Start the loops; a transport that fails to start (a broker restarting, a stream request timing
        out under load) is tried again with backoff until shortly before ``timeout``, then the last error is
        raised."""
        self._start_deadline = time.monotonic() + max(0.0, timeout - 1.0)
        self._thread = threading.Thread(target=self._run, name="tongban-exchange", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("exchange did not start")
        if self._error is not None:
            raise RuntimeError("exchange failed to start") from self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        backoff = 0.25
        attempt = 1
        while True:
            candidate: Transport | None = None
            try:
                candidate = self.transport_factory()
                await candidate.start([ex.code for ex in self.nodes])
                transport = self.transport = candidate
                break
            except Exception as exc:
                if candidate is not None:
                    with contextlib.suppress(Exception):
                        await candidate.close()
                if time.monotonic() + backoff >= self._start_deadline:
                    self._error = exc
                    self._ready.set()
                    return
                log.warning(
                    "exchange transport failed to start (attempt %d: %s); trying again in %.2f s",
                    attempt,
                    type(exc).__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 4.0)
                attempt += 1
            except BaseException as exc:  # cancelled or interrupted while starting: report, do not retry
                self._error = exc
                self._ready.set()
                return
        tasks = []
        for ex in self.nodes:
            ex.wake = asyncio.Event()
            tasks.append(asyncio.create_task(receive_loop(ex, transport, self._stop)))
            tasks.append(asyncio.create_task(pump_loop(ex, transport, self._stop)))
        self._ready.set()
        await self._stop.wait()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.close()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Run a coroutine on the exchange's loop from another thread (tests, benchmarks)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is None or self._stop is None or self._thread is None:
            return
        stop = self._stop
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
        self._thread = None
