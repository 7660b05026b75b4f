"""Event publication: every committed event reaches Redis Streams and the blotter's channel layer,
at least once, in seq order, through publisher crashes, overlapping publishers and Redis restarts.

Tests that need Redis use REDIS_URL (skipped with the reason when it is unset); the Redis restart
test starts a private `redis-server` of its own on a free port. Every test publishes under a
stream prefix of its own, so parallel workers and runs never share a stream.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections

from oms.core import eventfeed, publishing
from oms.core.dispatch import dispatch
from oms.core.models import PublisherCursor
from oms.core.publishing import ChannelLayerSink, Publisher, RedisStreamSink, Sink
from oms.core.tasks import publish_events
from rules.models import RuleEvent
from tests.conftest import uid

REPO = Path(__file__).resolve().parent.parent
needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs a real Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/2)"
)
TOPICS = ("order-events", "execution-events", "position-events")


# --- helpers ----------------------------------------------------------------------------------------


def _order_with_fill() -> None:
    """One client order, a market child, its acceptance and a fill: 7 order and execution events,
    and the position events of its open quantity and fill (oms/positions)."""
    client = dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("PC"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "100",
            "account": "ACC-PUB",
            "handling": "Desk",
        },
        actor="t",
    ).body["order"]["orderId"]
    market = dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("PM"),
            "orderQty": "10",
            "venue": "MANUAL",
            "parentId": client,
        },
        actor="t",
    ).body["order"]["orderId"]
    dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": market}, actor="t")
    dispatch(
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": market,
            "execID": uid("PX"),
            "lastQty": "4",
            "lastPx": "99.5",
            "venue": "MANUAL",
        },
        actor="t",
    )


class Threads:
    """Work in threads, each with its own database connection; `join()` re-raises their errors."""

    def __init__(self, work: list[Callable[[], Any]]) -> None:
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(fn,), daemon=True) for fn in work]
        for t in self.threads:
            t.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except BaseException as exc:  # collected and asserted by join()
            self.errors.append(exc)
        finally:
            connections.close_all()

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=120)
        assert self.errors == [], self.errors


def _all_events() -> list[dict[str, Any]]:
    return publishing.read_events(0, 1_000_000)


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A private stream prefix; its keys are deleted afterwards."""
    name = f"test-pub-{uuid.uuid4().hex[:10]}:"
    yield name
    if settings.REDIS_URL:
        client = _redis()
        try:
            keys = list(client.scan_iter(match=f"{name}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _streams(client: Any, prefix: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    out = {}
    for topic in TOPICS:
        out[topic] = [
            (entry_id.decode(), json.loads(fields[b"event"]))
            for entry_id, fields in client.xrange(prefix + topic, "-", "+")
        ]
    return out


def _wait_for_streams(client: Any, prefix: str, timeout: float, why: str = "") -> dict[str, Any]:
    """Wait until every committed event is in its stream; returns the streams."""
    expected = _all_events()
    want = {t: sum(1 for e in expected if e["topic"] == t) for t in TOPICS}
    deadline = time.monotonic() + timeout
    while True:
        have = {t: client.xlen(prefix + t) for t in TOPICS}
        if have == want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert have == want, f"streams {have} != committed {want} {why}"
    return _streams(client, prefix)


def _assert_streams_are_the_feed(streams: dict[str, Any]) -> None:
    """Each stream holds exactly its topic's events, ids `<seq>-0`, in seq order, payload as the
    feed shows it; each aggregate's versions are contiguous from 1 (nothing lost, nothing twice)."""
    expected = _all_events()
    for topic in TOPICS:
        want = [e for e in expected if e["topic"] == topic]
        got = streams[topic]
        assert [i for i, _ in got] == [f"{e['seq']}-0" for e in want]
        assert [e for _, e in got] == want
        versions: dict[str, list[int]] = defaultdict(list)
        for _, event in got:
            versions[event["aggregateId"]].append(event["version"])
        for aggregate, seen in versions.items():
            assert seen == list(range(1, len(seen) + 1)), (aggregate, seen)


def _database_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        auth = f"{user}@" if user else ""
        if db.get("PASSWORD"):
            auth = f"{user}:{quote(str(db['PASSWORD']), safe='')}@"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        host = quote(db.get("HOST") or "localhost", safe="")
        return {"DATABASE_URL": f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"}
    return {"DATABASE_URL": "", "SQLITE_PATH": str(db["NAME"])}


class PublisherProcess:
    """`manage.py publish_events --sink streams` in a subprocess, on this test's database."""

    def __init__(self, redis_url: str, prefix: str, log: Path) -> None:
        env = {
            **os.environ,
            **_database_env(),
            "DJANGO_SETTINGS_MODULE": "oms.settings",
            "OMS_STREAM_REDIS_URL": redis_url,
            "OMS_STREAM_PREFIX": prefix,
            "OMS_EVENT_SINKS": "streams",
            "OMS_INPROCESS_WORKERS": "0",
            "OMS_PUBLISH_POLL_MS": "20",
            "DB_POOL_MIN": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "publish_events", "--sink", "streams"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "publish_events: started" not in self.output():
            assert self.process.poll() is None, f"publisher exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"publisher not started:\n{self.output()[-3000:]}"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def publishers(tmp_path: Path) -> Iterator[Callable[[str, str], PublisherProcess]]:
    started: list[PublisherProcess] = []

    def start(redis_url: str, prefix: str) -> PublisherProcess:
        p = PublisherProcess(redis_url, prefix, tmp_path / f"publisher-{len(started)}.log")
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


# --- the feed the publisher reads -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_publisher_reads_the_event_feed_in_one_statement() -> None:
    from django.test.utils import CaptureQueriesContext

    _order_with_fill()

    with CaptureQueriesContext(connection) as queries:
        batch = publishing.read_events(0, 1000)

    assert len(queries.captured_queries) == 1  # one statement: one snapshot of every event table
    assert batch == eventfeed.events_after(0, 1000)
    assert {e["topic"] for e in batch} == {*TOPICS, "rule-events"}  # and the seeded routing rules
    assert [e["seq"] for e in batch] == list(range(batch[0]["seq"], batch[0]["seq"] + len(batch)))
    assert publishing.read_events(batch[1]["seq"], 2) == batch[2:4]


@pytest.mark.django_db(transaction=True)
def test_seq_order_is_commit_order_so_a_tailing_reader_never_sees_a_hole() -> None:
    """The core's claim, checked under concurrent writers (on PostgreSQL: real row locks): every
    batch read after the last seq seen continues it without a hole, so no event commits late."""
    holes: list[tuple[int, int]] = []
    done = threading.Event()
    cursor = 0

    def reader() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            batch = publishing.read_events(cursor, 500)
            if batch and batch[0]["seq"] != cursor + 1:
                holes.append((cursor, batch[0]["seq"]))
            for event in publishing.contiguous(cursor, batch):
                cursor = event["seq"]
            if finished and not batch:
                return

    reading = Threads([reader])
    writing = Threads([lambda: [_order_with_fill() for _ in range(6)] for _ in range(4)])
    writing.join()
    done.set()
    reading.join()

    assert holes == []
    seeded = RuleEvent.objects.count()  # the default routing rules, seeded after the flush
    assert cursor == publishing.last_seq() == len(_all_events())
    # and the orders' positions (oms/positions), in the same commits
    assert sum(e["topic"] not in ("position-events", "rule-events") for e in _all_events()) == 4 * 6 * 7
    assert sum(e["topic"] == "rule-events" for e in _all_events()) == seeded


def test_contiguous_takes_the_run_that_continues_the_cursor() -> None:
    events = [{"seq": s} for s in (5, 6, 8)]
    assert publishing.contiguous(4, events) == events[:2]
    assert publishing.contiguous(3, events) == []
    assert publishing.contiguous(7, events[2:]) == events[2:]


class _ListSink(Sink):
    durable = False
    name = "list"

    def __init__(self) -> None:
        self.got: list[int] = []

    async def publish(self, events: Any) -> int:
        self.got.extend(e["seq"] for e in events)
        return len(events)


def _feed_with_a_hole(monkeypatch: pytest.MonkeyPatch, recorded: str) -> None:
    feed = [{"seq": s, "recordedAt": recorded} for s in (1, 2, 4, 5)]
    monkeypatch.setattr(publishing.feed, "last_seq", lambda: 0)
    monkeypatch.setattr(
        publishing.feed,
        "read_events",
        lambda after, n, as_json=False: [e for e in feed if e["seq"] > after][:n],
    )


def test_a_recent_hole_in_seq_is_waited_for_then_passed_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _feed_with_a_hole(monkeypatch, dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"))
    sink = _ListSink()
    runner = publishing.SinkRunner(sink, publishing._Db(), gap_timeout=0.3)

    async def go() -> list[int]:
        first = [await runner.step(), await runner.step()]  # 1-2, then wait at the hole
        await asyncio.sleep(0.35)
        return [*first, await runner.step()]

    assert asyncio.run(go()) == [2, 0, 2]
    assert sink.got == [1, 2, 4, 5]
    assert runner.stats.gaps == 1
    assert "seq 3..3 missing" in caplog.text


def test_an_old_hole_left_by_a_purge_is_passed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _feed_with_a_hole(monkeypatch, "2020-01-01T00:00:00Z")
    sink = _ListSink()
    runner = publishing.SinkRunner(sink, publishing._Db(), gap_timeout=60)

    async def go() -> list[int]:
        return [await runner.step(), await runner.step(), await runner.step()]

    assert asyncio.run(go()) == [2, 2, 0]
    assert sink.got == [1, 2, 4, 5]
    assert runner.stats.gaps == 0


@pytest.mark.django_db
def test_unknown_sink_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event sink"):
        publishing.build_sinks(["kafka"])
    with pytest.raises(CommandError, match="unknown event sink"):
        call_command("publish_events", "--once", "--sink", "kafka")


@pytest.mark.django_db(transaction=True)
def test_a_one_shot_publish_against_a_redis_that_is_down_fails_cleanly(settings: Any) -> None:
    _order_with_fill()
    settings.OMS_EVENT_SINKS = {"streams": {"BACKEND": "oms.core.publishing.RedisStreamSink"}}
    settings.OMS_STREAM_REDIS_URL = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    settings.OMS_STREAM_PREFIX = "down:"

    with pytest.raises(CommandError, match="publishing failed: ConnectionError"):
        call_command("publish_events", "--once")

    assert PublisherCursor.objects.get(name="redis-streams:down:").last_seq == 0  # nothing confirmed


# --- Redis Streams --------------------------------------------------------------------------------


@needs_redis
def test_a_stream_refuses_an_id_it_holds_so_republishing_adds_nothing(prefix: str) -> None:
    def ev(seq: int, topic: str) -> dict[str, Any]:
        return {"seq": seq, "topic": topic, "type": "T", "aggregateId": f"A{seq}", "version": 1}

    async def go() -> list[int]:
        sink = RedisStreamSink(url=settings.REDIS_URL, prefix=prefix, maxlen=0)
        await sink.open()
        try:
            first = await sink.publish(
                [ev(1, "order-events"), ev(2, "execution-events"), ev(3, "order-events")]
            )
            # an overlapping publisher re-sends 2..3 and adds 4: only 4 goes in
            again = await sink.publish(
                [ev(2, "execution-events"), ev(3, "order-events"), ev(4, "order-events")]
            )
            held = await sink.confirmed_through(4)
            return [first, again, held]
        finally:
            await sink.close()

    assert asyncio.run(go()) == [3, 1, 4]
    client = _redis()
    try:
        assert [i for i, _ in client.xrange(prefix + "order-events")] == [b"1-0", b"3-0", b"4-0"]
        assert [i for i, _ in client.xrange(prefix + "execution-events")] == [b"2-0"]
        client.delete(prefix + "oms-publisher:watermark")  # Redis "restarted empty"
    finally:
        client.close()

    async def after_loss() -> int:
        sink = RedisStreamSink(url=settings.REDIS_URL, prefix=prefix)
        await sink.open()
        try:
            return await sink.confirmed_through(4)
        finally:
            await sink.close()

    assert asyncio.run(after_loss()) == 0  # the publisher rewinds and rebuilds the streams


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_killed_publishers_restart_and_catch_up_without_loss_or_duplicates(
    prefix: str, publishers: Callable[[str, str], PublisherProcess]
) -> None:
    client = _redis()
    try:
        first = publishers(settings.REDIS_URL, prefix)
        first.wait_started()

        restarted = threading.Event()

        def writer() -> None:
            # writes until the publishers are back, so the kill always lands mid-stream and a
            # backlog is written while none runs (a fixed count could all be published first)
            written = 0
            while written < 8 or not restarted.is_set():
                _order_with_fill()
                written += 1
                if written >= 400:
                    break

        writing = Threads([writer, writer, writer])
        deadline = time.monotonic() + 60
        while client.xlen(prefix + "order-events") < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.process.send_signal(signal.SIGKILL)  # mid-stream: writers are committing right now
        first.process.wait(timeout=10)
        published_at_kill = client.xlen(prefix + "order-events")
        time.sleep(0.3)  # a backlog builds up while no publisher runs

        # two publishers restart at once, and a Celery drain overlaps them
        again = [publishers(settings.REDIS_URL, prefix), publishers(settings.REDIS_URL, prefix)]
        for p in again:
            p.wait_started()
        restarted.set()
        with override_prefix(prefix):
            publish_events.apply(kwargs={"max_seconds": 20}).get()
        writing.join()

        streams = _wait_for_streams(client, prefix, 60, why="\n".join(p.output()[-2000:] for p in again))

        assert 20 <= published_at_kill < len(streams["order-events"])
        _assert_streams_are_the_feed(streams)
        assert all(p.process.poll() is None for p in again)
        cursor = PublisherCursor.objects.get(name=f"redis-streams:{prefix}")
        deadline = time.monotonic() + 10
        while cursor.last_seq < publishing.last_seq() and time.monotonic() < deadline:
            time.sleep(0.05)
            cursor.refresh_from_db()
        assert cursor.last_seq == publishing.last_seq()
    finally:
        client.close()


class override_prefix:
    """OMS_STREAM_PREFIX (and the Redis URL) for code running in this process."""

    def __init__(self, prefix: str, url: str | None = None) -> None:
        from django.test import override_settings

        self._override = override_settings(
            OMS_STREAM_PREFIX=prefix,
            OMS_STREAM_REDIS_URL=url or settings.REDIS_URL,
            OMS_EVENT_SINKS={"streams": {"BACKEND": "oms.core.publishing.RedisStreamSink"}},
        )

    def __enter__(self) -> None:
        self._override.enable()

    def __exit__(self, *exc: object) -> None:
        self._override.disable()


@needs_redis
@pytest.mark.django_db(transaction=True)
def test_overlapping_celery_drains_publish_each_event_once(prefix: str) -> None:
    for _ in range(5):
        _order_with_fill()
    counts: list[int] = []

    def drain() -> None:
        counts.append(publish_events.apply(kwargs={"max_seconds": 20}).get())

    with override_prefix(prefix):
        Threads([drain, drain, drain]).join()
        again = publish_events.apply().get()

    client = _redis()
    try:
        _assert_streams_are_the_feed(_wait_for_streams(client, prefix, 5))
    finally:
        client.close()
    assert again == 0
    assert PublisherCursor.objects.get(name=f"redis-streams:{prefix}").last_seq == publishing.last_seq()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own, without persistence: a restart loses everything."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir, self.process = port, workdir, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
@pytest.mark.django_db(transaction=True)
def test_publisher_waits_out_a_missing_redis_and_rebuilds_streams_after_a_restart_that_lost_them(
    tmp_path: Path, publishers: Callable[[str, str], PublisherProcess]
) -> None:
    import redis

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = PrivateRedis(port, tmp_path)
    prefix = "restart:"
    publisher = publishers(url, prefix)  # nothing listens on that port yet
    try:
        publisher.wait_started()
        for _ in range(3):
            _order_with_fill()
        time.sleep(1.0)  # several failed attempts with backoff
        assert publisher.process.poll() is None, publisher.output()[-3000:]
        assert "publishing failed (ConnectionError" in publisher.output()

        server.start()
        client = redis.Redis(port=port)
        _assert_streams_are_the_feed(_wait_for_streams(client, prefix, 30, why=publisher.output()[-3000:]))

        server.kill()  # Redis dies and comes back empty (no persistence)
        for _ in range(2):
            _order_with_fill()
        time.sleep(0.3)
        server.start()
        _assert_streams_are_the_feed(_wait_for_streams(client, prefix, 30, why=publisher.output()[-3000:]))
        assert "Redis lost data" in publisher.output()
        client.close()

        publisher.process.send_signal(signal.SIGTERM)  # a clean stop
        assert publisher.process.wait(timeout=20) == 0, publisher.output()[-3000:]
        assert "publish_events: stopped" in publisher.output()
    finally:
        server.kill()


# --- the channel layer --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_blotter_group_receives_each_batch_in_seq_order(settings: Any) -> None:
    from channels.layers import channel_layers, get_channel_layer

    if settings.REDIS_URL:  # a private prefix: nothing else in this Redis database sees it
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"test-pub-{uuid.uuid4().hex[:8]}"},
            }
        }
    channel_layers.backends.clear()
    _order_with_fill()  # before the publisher starts: live only, not sent
    before = len(_all_events())
    # the feed opens with the seeded routing rules; the second order finds its positions open
    # already (no PositionOpened this time)
    per_order = sum(e["topic"] != "rule-events" and e["type"] != "PositionOpened" for e in _all_events())

    async def go() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("blotter.events", channel)
        publisher = Publisher([ChannelLayerSink(group="blotter.events")], poll_interval=0.02)
        stop = asyncio.Event()
        running = asyncio.ensure_future(publisher.run(stop))
        while publisher.runners[0].cursor is None:
            await asyncio.sleep(0.01)
        await sync_to_async(_order_with_fill, thread_sensitive=False)()
        events: list[dict[str, Any]] = []
        try:
            while len(events) < per_order:
                message = await asyncio.wait_for(layer.receive(channel), timeout=10)
                assert message["type"] == "oms.events"
                events.extend(message["events"])
        finally:
            stop.set()
            await running
            await layer.group_discard("blotter.events", channel)
        return events

    try:
        events = asyncio.run(go())
    finally:
        channel_layers.backends.clear()

    assert events == _all_events()[before:]
    assert {e["topic"] for e in events} == set(TOPICS)
