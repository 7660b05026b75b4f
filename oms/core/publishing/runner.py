"""Running the sinks: one `SinkRunner` per sink (cursor, batches, holes, backoff), the `Publisher`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

from oms.core import eventstore, metrics
from oms.core.publishing import feed
from oms.core.publishing.feed import Event, contiguous, cursor_advance, cursor_load, cursor_rewind
from oms.core.publishing.sinks import Sink

log = logging.getLogger("oms.core.publishing")

T = TypeVar("T")


class _Db:
    """Database calls from async code, all on one thread of their own (one connection).

    Not `sync_to_async`: in the ASGI server its default thread is the one serving requests.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="oms-publisher-db")

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._guarded, fn, *args)

    @staticmethod
    def _guarded(fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except Exception:
            # a broken connection (database restarted) must not be reused: the next call reconnects
            connection.close()
            raise

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, _close_connection)
        self._pool.shutdown(wait=False)


class _Backoff:
    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self.first, self.cap, self.failures = first, cap, 0

    def next(self) -> float:
        self.failures += 1
        delay = min(self.cap, self.first * 2.0 ** (self.failures - 1))
        return delay * (0.5 + random.random() / 2)  # jitter: restarted publishers do not stampede


@dataclass
class SinkStats:
    published: int = 0  # events handed to the sink (including refused duplicates)
    added: int = 0  # events the sink reported as new
    batches: int = 0
    errors: int = 0
    gaps: int = 0  # holes seen in the feed (expected: never, see the module docstring)
    cursor: int = 0


class SinkRunner:
    """Feeds one sink from its cursor."""

    def __init__(self, sink: Sink, db: _Db, *, gap_timeout: float) -> None:
        self.sink = sink
        self.db = db
        self.gap_timeout = gap_timeout
        self.cursor: int | None = None
        self.stats = SinkStats()
        self._check_destination = True
        self._opened = False
        self._gap_since: float | None = None
        self._prefetch: tuple[int, asyncio.Future[list[Event]]] | None = None
        self._backoff = _Backoff()
        self._last_warning = 0.0

    async def _ready(self) -> int:
        if not self._opened:
            await self.sink.open()
            self._opened = True
        if self.cursor is None:
            if self.sink.durable:
                self.cursor = await self.db(cursor_load, self.sink.name)
            else:
                self.cursor = await self.db(feed.last_seq)
        if self._check_destination:
            held = await self.sink.confirmed_through(self.cursor)
            if held < self.cursor and self.sink.durable:
                await self.db(cursor_rewind, self.sink.name, held)
            self.cursor = held
            self._check_destination = False
        self.stats.cursor = self.cursor
        return self.cursor

    async def _read(self, cursor: int) -> list[Event]:
        if self._prefetch is not None and self._prefetch[0] == cursor:
            future = self._prefetch[1]
            self._prefetch = None
            return await future
        self._drop_prefetch()
        return await self.db(feed.read_events, cursor, self.sink.batch_size, self.sink.as_json)

    def _start_prefetch(self, after: int) -> None:
        """Read the next batch while the sink publishes this one (a backlog drains ~2x faster)."""
        self._drop_prefetch()
        future = asyncio.ensure_future(
            self.db(feed.read_events, after, self.sink.batch_size, self.sink.as_json)
        )
        future.add_done_callback(_consume_exception)
        self._prefetch = (after, future)

    def _drop_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch[1].cancel()
            self._prefetch = None

    async def step(self) -> int:
        """Publish one batch; returns how many events (0: caught up, or waiting at a hole)."""
        cursor = await self._ready()
        batch = await self._read(cursor)
        if not batch:
            self._gap_since = None
            return 0
        ready = contiguous(cursor, batch)
        if not ready:
            # A hole right after the cursor. A commit can only arrive late there if seq order
            # stopped being commit order (see the module docstring): wait for a recent one, up
            # to gap_timeout. An old hole is purged history: pass it.
            age = time.time() - _timestamp(batch[0]["recordedAt"])
            if age < self.gap_timeout:
                if self._gap_since is None:
                    self._gap_since = time.monotonic()
                    self.stats.gaps += 1
                return 0
            if self._gap_since is not None:
                log.error(
                    "%s: seq %d..%d missing for %.1fs; publishing past the hole",
                    self.sink.name,
                    cursor + 1,
                    batch[0]["seq"] - 1,
                    time.monotonic() - self._gap_since,
                )
            else:
                log.info(
                    "%s: no events at seq %d..%d (purged)", self.sink.name, cursor + 1, batch[0]["seq"] - 1
                )
            ready = contiguous(batch[0]["seq"] - 1, batch)
        self._gap_since = None
        last = ready[-1]["seq"]
        if len(batch) == self.sink.batch_size and len(ready) == len(batch):
            self._start_prefetch(last)
        added = await self.sink.publish(ready)
        metrics.events_published(self.sink.name, ready)
        if self.sink.durable:
            last = max(last, await self.db(cursor_advance, self.sink.name, last))
        self.cursor = last
        self.stats.published += len(ready)
        self.stats.added += added
        self.stats.batches += 1
        self.stats.cursor = last
        return len(ready)

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before trying again."""
        self.stats.errors += 1
        metrics.publish_failed(self.sink.name)
        self._check_destination = True  # after a reconnect, ask the destination where it is
        delay = self._backoff.next()
        now = time.monotonic()
        if self._backoff.failures == 1 or now - self._last_warning > 30:
            self._last_warning = now
            log.warning(
                "%s: publishing failed (%s: %s); retrying in %.2fs (failure %d in a row)",
                self.sink.name,
                type(exc).__name__,
                exc,
                delay,
                self._backoff.failures,
            )
        return delay

    def recovered(self) -> None:
        if self._backoff.failures:
            log.warning("%s: publishing again after %d failures", self.sink.name, self._backoff.failures)
        self._backoff.failures = 0

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll_interval: float) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                n = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await _wait(stop, None, self.failed(exc))
                continue
            self.recovered()
            if n == 0:
                await _wait(stop, wake, poll_interval)

    async def drain(self, deadline: float) -> int:
        """Publish until caught up (or `deadline`, a monotonic time); errors propagate."""
        total = 0
        while time.monotonic() < deadline:
            n = await self.step()
            total += n
            if n == 0:
                if self._gap_since is None:
                    break
                await asyncio.sleep(0.05)  # waiting at a hole: bounded by gap_timeout
        return total

    async def close(self) -> None:
        self._drop_prefetch()
        if self._opened:
            self._opened = False
            try:
                await self.sink.close()
            except Exception:
                log.exception("%s: close failed", self.sink.name)


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    """Sleep up to `timeout`, cut short by `stop` or `wake`."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


# after-commit wake-ups for publishers running in this process (the in-process runner)
_WAKERS: set[Callable[[], None]] = set()


def _wake_publishers(events: list[dict[str, Any]]) -> None:
    for wake in list(_WAKERS):
        wake()


eventstore.subscribe(_wake_publishers)


class Publisher:
    """Runs one `SinkRunner` per sink, concurrently: a slow or failing sink holds back only itself."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        poll_interval: float | None = None,
        gap_timeout: float | None = None,
    ) -> None:
        self.db = _Db()
        self.poll_interval = (
            poll_interval if poll_interval is not None else settings.OMS_PUBLISH_POLL_MS / 1000
        )
        gap = gap_timeout if gap_timeout is not None else settings.OMS_PUBLISH_GAP_TIMEOUT
        self.runners = [SinkRunner(s, self.db, gap_timeout=gap) for s in sinks]

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; survives database and sink outages (backoff, retry)."""
        loop = asyncio.get_running_loop()
        wakes = [asyncio.Event() for _ in self.runners]

        def wake() -> None:
            def set_all() -> None:
                for w in wakes:
                    w.set()

            try:
                loop.call_soon_threadsafe(set_all)
            except RuntimeError:  # the loop closed under us
                _WAKERS.discard(wake)

        _WAKERS.add(wake)
        try:
            await asyncio.gather(
                *(r.run(stop, w, self.poll_interval) for r, w in zip(self.runners, wakes, strict=True))
            )
        finally:
            _WAKERS.discard(wake)
            await self.close()

    async def drain(self, max_seconds: float = 60.0) -> int:
        """Publish every sink's backlog once and return the number of events (then close)."""
        deadline = time.monotonic() + max_seconds
        try:
            return sum([await r.drain(deadline) for r in self.runners])
        finally:
            await self.close()

    async def close(self) -> None:
        for r in self.runners:
            await r.close()
        await self.db.close()

    def stats(self) -> dict[str, SinkStats]:
        return {r.sink.name: r.stats for r in self.runners}


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a failed prefetch is read again by the next step; not "never retrieved"


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _close_connection() -> None:
    connection.close()  # `connection` resolves per thread: call it on the thread that owns it
