"""Event publication: the committed event feed, in `seq` order, to downstream sinks.

The event tables are the outbox. Each sink has a cursor (the last `seq` it confirmed); a runner
reads the feed after it, hands the batch to the sink and advances the cursor only once the sink
confirmed (at least once). Sinks are configured in `settings.OMS_EVENT_SINKS`:

- `RedisStreamSink` (durable): one Redis Stream per topic (`order-events`, `execution-events`,
  `quote-request-events`, `quote-events`, with `OMS_STREAM_PREFIX`), entry id `<seq>-0`. Redis
  refuses an id at or below a stream's top, so a re-sent event is refused and skipped: restarts
  and overlapping publishers never duplicate an entry, and each stream stays a gap-free prefix of
  its topic. Its cursor is a `PublisherCursor` row.
- `ChannelLayerSink` (live, best effort): the channel layer group its settings entry names (the
  blotter's, in `OMS_EVENT_SINKS`), one message per batch. Its cursor lives in memory and starts
  at the current end of the feed.

Why a reader that only moves forward never skips an event: `seq` numbers come from one counter
row, updated as the last write of every appending transaction and locked until commit, so
transactions commit in `seq` order and the numbers have no holes (a rollback also rolls the
counter back). The feed is read with ONE statement (a UNION ALL over the event tables: one
snapshot), so a batch is always a contiguous run. A hole is therefore a broken invariant, not a
late commit; the runner still waits for one (up to `gap_timeout`) before moving past it, loudly.
docs/design/publication.md has the argument and the measurements.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from oms.core import eventstore
from oms.core.models import EventSequence, PublisherCursor

log = logging.getLogger(__name__)

Event = dict[str, Any]
T = TypeVar("T")


# --- reading the feed -----------------------------------------------------------------------------


def read_events(after_seq: int, limit: int, as_json: bool = False) -> list[Event]:
    """Events with seq > after_seq across every event table, in seq order, as the feed shows them.

    One statement (UNION ALL), hence one snapshot on PostgreSQL and SQLite alike: separate
    queries per table could see a later commit in one table and miss an earlier one in another.
    Since seq has no holes, the next `limit` events are those with seq <= after_seq + limit: that
    bound keeps every read an index range scan of `limit` rows however long the backlog. Only when
    it finds nothing (caught up, or a hole of `limit` events left by a purge) is the open query
    asked.

    `as_json`: for sinks that send text, each event as its headers plus "json", the whole event
    encoded, spliced from the stored JSON text of data, command and state (never parsed: that
    parse and the encode after it were most of the publisher's CPU). Same content as the dict;
    PostgreSQL's jsonb may order keys differently.
    """
    rows = eventstore.feed_rows(after_seq, limit, bounded=True, text=as_json) or eventstore.feed_rows(
        after_seq, limit, text=as_json
    )
    if as_json:
        return [_json_event(row) for row in rows]
    return [eventstore.row_to_api(row) for row in rows]


def _json_event(row: dict[str, Any]) -> Event:
    dumps = json.dumps
    text = (
        f'{{"seq":{row["seq"]},"topic":{dumps(row["topic"])},"type":{dumps(row["type"])},'
        f'"aggregateId":{dumps(row["aggregate_id"])},"version":{row["version"]},'
        f'"data":{row["data_text"]},"command":{row["command_text"]},"state":{row["state_text"]},'
        f'"actor":{dumps(row["actor"])},"correlationId":{dumps(row["correlation_id"])},'
        f'"occurredAt":"{eventstore._iso(row["occurred_at"])}","recordedAt":"{eventstore._iso(row["recorded_at"])}"}}'
    )
    return {
        "seq": row["seq"],
        "topic": row["topic"],
        "type": row["type"],
        "aggregateId": row["aggregate_id"],
        "version": row["version"],
        "recordedAt": eventstore._iso(row["recorded_at"]),
        "json": text,
    }


def last_seq() -> int:
    """The end of the feed: the highest committed seq (the counter row has no holes below it)."""
    return EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0


def contiguous(after_seq: int, events: Sequence[Event]) -> list[Event]:
    """The leading run of `events` that continues `after_seq` without a hole."""
    out: list[Event] = []
    expected = after_seq + 1
    for event in events:
        if event["seq"] != expected:
            break
        out.append(event)
        expected += 1
    return out


# --- durable cursors ------------------------------------------------------------------------------


def cursor_load(name: str) -> int:
    return PublisherCursor.objects.get_or_create(name=name)[0].last_seq


def cursor_advance(name: str, seq: int) -> int:
    """Move the cursor forward to `seq` (never back); returns where it now is."""
    moved = PublisherCursor.objects.filter(name=name, last_seq__lt=seq).update(
        last_seq=seq, updated_at=timezone.now()
    )
    if moved:
        return seq
    return PublisherCursor.objects.filter(name=name).values_list("last_seq", flat=True).first() or seq


def cursor_rewind(name: str, seq: int) -> None:
    PublisherCursor.objects.filter(name=name, last_seq__gt=seq).update(
        last_seq=seq, updated_at=timezone.now()
    )


# --- sinks ----------------------------------------------------------------------------------------


class Sink:
    """Where published events go. Subclasses implement `publish`; the rest has defaults.

    `publish(events)` returns once the destination holds every event of the batch (or refused it
    as already held) and returns how many were new; it raises when it cannot confirm, and the
    batch is offered again. Events arrive in seq order, a batch never repeats an earlier one
    except after an error or a restart.
    """

    name: str = "sink"  # the cursor's name: unique per destination
    durable: bool = True  # durable: a PublisherCursor row; live: starts at the end of the feed
    batch_size: int = 500
    as_json: bool = False  # events as headers + "json" (the encoded event), see read_events

    async def open(self) -> None:
        """Connect (called inside the event loop that will publish)."""

    async def publish(self, events: Sequence[Event]) -> int:
        raise NotImplementedError

    async def confirmed_through(self, cursor: int) -> int:
        """Where the destination really is, given the cursor: lower if it lost data (a restart)."""
        return cursor

    async def close(self) -> None:
        """Release connections."""


_DUPLICATE = "equal or smaller than the target stream top item"


class RedisStreamSink(Sink):
    """One Redis Stream per topic, entry id `<seq>-0`, a pipelined MULTI/EXEC per batch.

    MULTI/EXEC rather than a plain pipeline: an error at queue time (out of memory) aborts the
    whole batch instead of letting later entries in, which would hide the failed one for good
    behind a higher id. Inside EXEC a refused duplicate id fails alone and the rest go in.

    The batch also raises a watermark (`ZADD GT`, monotonic under concurrent publishers) in the
    same transaction. A Redis restarted without its data has no watermark: `confirmed_through`
    then rewinds the cursor and the streams are rebuilt from the event tables.

    The synchronous redis-py client on a thread of the sink's own: measured twice as fast as
    redis.asyncio for 500-command pipelines (which pays an asyncio timeout per reply), and it
    overlaps with the database thread reading the next batch.
    """

    as_json = True

    def __init__(
        self,
        *,
        url: str | None = None,
        prefix: str | None = None,
        maxlen: int | None = None,
        batch_size: int = 500,
        name: str | None = None,
    ) -> None:
        self.url = url if url is not None else settings.OMS_STREAM_REDIS_URL
        if not self.url:
            raise ValueError("RedisStreamSink needs a Redis URL (OMS_STREAM_REDIS_URL or REDIS_URL)")
        self.prefix = prefix if prefix is not None else settings.OMS_STREAM_PREFIX
        self.maxlen = (maxlen if maxlen is not None else settings.OMS_STREAM_MAXLEN) or None
        self.batch_size = batch_size
        self.name = name or f"redis-streams:{self.prefix}"
        self.watermark_key = f"{self.prefix}oms-publisher:watermark"
        self.client: Any = None
        self._pool: ThreadPoolExecutor | None = None

    def stream(self, topic: str) -> str:
        return self.prefix + topic

    async def open(self) -> None:
        import redis

        self.client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=15
        )
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="oms-publisher-redis")

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def publish(self, events: Sequence[Event]) -> int:
        return await self._call(self._publish, events)

    def _publish(self, events: Sequence[Event]) -> int:
        from redis.exceptions import ResponseError

        pipe = self.client.pipeline(transaction=True)
        for e in events:
            pipe.xadd(
                self.stream(e["topic"]),
                {
                    "type": e["type"],
                    "aggregateId": e["aggregateId"],
                    "version": e["version"],
                    "event": e["json"] if "json" in e else json.dumps(e, separators=(",", ":"), default=str),
                },
                id=f"{e['seq']}-0",
                maxlen=self.maxlen,
                approximate=True,
            )
        pipe.zadd(self.watermark_key, {"seq": events[-1]["seq"]}, gt=True)
        results = pipe.execute(raise_on_error=False)
        added = 0
        for result in results[:-1]:
            if isinstance(result, ResponseError):
                if _DUPLICATE in str(result):
                    continue  # already in the stream: another publisher or an earlier attempt
                raise result
            added += 1
        if isinstance(results[-1], Exception):
            raise results[-1]
        return added

    async def confirmed_through(self, cursor: int) -> int:
        held = int(await self._call(self.client.zscore, self.watermark_key, "seq") or 0)
        if held < cursor:
            log.warning(
                "%s: Redis holds events only up to seq %d but the cursor is at %d (Redis lost data?): "
                "publishing again from %d",
                self.name,
                held,
                cursor,
                held,
            )
            return held
        return cursor

    async def close(self) -> None:
        if self.client is not None:
            await self._call(self.client.close)
            self.client = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


class ChannelLayerSink(Sink):
    """A live feed: `{"type": "oms.events", "events": [...]}` to the group named in settings.

    Best effort by nature (channels_redis drops messages for slow consumers; websocket clients
    resync from /api/queries/events by seq), so it is live only and keeps no durable cursor.
    """

    durable = False

    def __init__(self, *, group: str, alias: str = "default", batch_size: int = 200) -> None:
        self.alias = alias
        self.group = group
        self.batch_size = batch_size
        self.name = f"channels:{alias}:{group}"
        self.layer: Any = None

    async def open(self) -> None:
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer(self.alias)
        if self.layer is None:
            raise ValueError(f"no channel layer {self.alias!r} configured")

    async def publish(self, events: Sequence[Event]) -> int:
        await self.layer.group_send(self.group, {"type": "oms.events", "events": list(events)})
        return len(events)


def build_sinks(names: Sequence[str] | None = None, *, durable_only: bool = False) -> list[Sink]:
    """The sinks of `settings.OMS_EVENT_SINKS` (all, or those named), not yet opened."""
    config: dict[str, dict[str, Any]] = settings.OMS_EVENT_SINKS
    unknown = sorted(set(names or ()) - set(config))
    if unknown:
        raise ValueError(f"unknown event sink(s) {unknown}; configured: {sorted(config)}")
    sinks = []
    for name, entry in config.items():
        if names and name not in names:
            continue
        sink = import_string(entry["BACKEND"])(**entry.get("OPTIONS", {}))
        if durable_only and not sink.durable:
            continue
        sinks.append(sink)
    return sinks


# --- running ----------------------------------------------------------------------------------------


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
                self.cursor = await self.db(last_seq)
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
        return await self.db(read_events, cursor, self.sink.batch_size, self.sink.as_json)

    def _start_prefetch(self, after: int) -> None:
        """Read the next batch while the sink publishes this one (a backlog drains ~2x faster)."""
        self._drop_prefetch()
        future = asyncio.ensure_future(self.db(read_events, after, self.sink.batch_size, self.sink.as_json))
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
