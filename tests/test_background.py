"""The in-process background runner of the embedded default (oms/core/background.py): started by
the ASGI application itself, it publishes committed events to the in-memory channel layer from
inside the server's event loop and runs the interval entries of CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from celery import Celery, shared_task
from celery.schedules import crontab, schedule
from channels.layers import channel_layers, get_channel_layer
from channels.testing import ApplicationCommunicator, HttpCommunicator

from oms.celery import app as celery_app
from oms.core import background
from oms.core.dispatch import dispatch
from oms.orders.models import OrderEvent
from tests.conftest import uid

TICKS: list[float] = []
_lock = threading.Lock()


@shared_task(name="tests.test_background.tick")
def tick(label: str) -> str:
    assert label == "beat"
    with _lock:
        TICKS.append(time.monotonic())
    return label


@pytest.fixture
def embedded(settings: Any) -> Iterator[None]:
    """The embedded default whatever the environment: in-memory layer, runner on, blotter sink only,
    one fast beat entry."""
    settings.OMS_INPROCESS_WORKERS = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.OMS_EVENT_SINKS = {
        "blotter": {"BACKEND": "oms.core.publishing.ChannelLayerSink", "OPTIONS": {"group": "blotter.events"}}
    }
    settings.CELERY_BEAT_SCHEDULE = {
        "tick": {"task": "tests.test_background.tick", "schedule": 0.05, "args": ["beat"]},
        "nightly": {"task": "tests.test_background.tick", "schedule": crontab(hour=3)},
    }
    channel_layers.backends.clear()
    TICKS.clear()
    yield
    channel_layers.backends.clear()


def _create_order() -> str:
    return dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("BG"),
            "symbol": "ACME",
            "side": "Sell",
            "orderQty": "5",
            "ordType": "Limit",
            "price": "101",
            "account": "ACC-BG",
            "handling": "Desk",
        },
        actor="t",
    ).body["order"]["orderId"]


@pytest.mark.django_db(transaction=True)
def test_the_asgi_app_starts_the_runner_which_publishes_commits_to_the_in_memory_layer(
    embedded: None, settings: Any
) -> None:
    from oms.asgi import application

    # a poll far slower than the lag allowed below: only the wake-up on commit can deliver in time
    settings.OMS_PUBLISH_POLL_MS = 4000

    async def go() -> tuple[list[dict[str, Any]], float, background.BackgroundRunner]:
        assert background.current() is None
        response = await HttpCommunicator(
            application, "GET", "/no-such-page/", headers=[(b"host", b"testserver")]
        ).get_response(timeout=10)
        assert response["status"] == 404
        runner = background.current()
        assert runner is not None and runner.publisher is not None
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("blotter.events", channel)
        while runner.publisher.runners[0].cursor is None:  # live: it starts at the end of the feed
            await asyncio.sleep(0.01)

        committed_at = 0.0

        def commit() -> str:
            nonlocal committed_at
            order_id = _create_order()
            committed_at = time.monotonic()
            return order_id

        order_id = await sync_to_async(commit, thread_sensitive=False)()
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        lag = time.monotonic() - committed_at
        # beat entries keep running meanwhile (every 50 ms; a loaded machine may take longer)
        deadline = time.monotonic() + 10
        while runner.runs.get("tick", 0) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await background.stop_current()
        assert message["type"] == "oms.events"
        # the order's events, and its position's (its open quantity, in the same commit)
        assert {e["aggregateId"] for e in message["events"] if e["topic"] == "order-events"} == {order_id}
        assert {e["topic"] for e in message["events"]} <= {"order-events", "position-events"}
        return message["events"], lag, runner

    events, lag, runner = asyncio.run(go())

    stored = OrderEvent.objects.get(seq=events[0]["seq"])
    assert events[0]["type"] == stored.type == "OrderCreated"
    assert events[0]["state"] == stored.state
    assert lag < 1.0  # woken by the commit, not by a slow poll
    assert runner.runs["tick"] >= 3 and len(TICKS) >= 3
    assert "nightly" not in runner.runs  # crontab entries need celery beat
    assert all(t.done() for t in runner.tasks)


def test_lifespan_starts_and_stops_the_runner(embedded: None) -> None:
    from oms.asgi import application

    async def go() -> None:
        comm = ApplicationCommunicator(application, {"type": "lifespan"})
        await comm.send_input({"type": "lifespan.startup"})
        assert await comm.receive_output(timeout=5) == {"type": "lifespan.startup.complete"}
        runner = background.current()
        assert runner is not None
        await comm.send_input({"type": "lifespan.shutdown"})
        assert await comm.receive_output(timeout=15) == {"type": "lifespan.shutdown.complete"}
        assert background.current() is None
        assert runner.stop_event.is_set()

    asyncio.run(go())


def test_nothing_starts_when_in_process_workers_are_off(settings: Any) -> None:
    settings.OMS_INPROCESS_WORKERS = False

    async def go() -> None:
        assert background.ensure_started(celery_app) is None
        assert background.current() is None

    asyncio.run(go())


def test_interval_schedules_are_understood_and_crontab_is_left_to_celery_beat() -> None:
    assert background.interval_seconds(10) == 10.0
    assert background.interval_seconds(2.5) == 2.5
    assert background.interval_seconds(dt.timedelta(minutes=1)) == 60.0
    assert background.interval_seconds(schedule(run_every=dt.timedelta(seconds=30))) == 30.0
    assert background.interval_seconds(crontab(minute=0)) is None
    assert background.interval_seconds(True) is None


def test_beat_entries_run_on_the_celery_app_the_runner_is_given() -> None:
    # the core imports no Celery app: oms/asgi.py passes the project's, here a probe of our own
    probe = Celery("probe", set_as_current=False)

    @probe.task(name="probe.echo")
    def echo(value: str) -> str:
        return f"probe:{value}"

    assert "probe.echo" not in celery_app.tasks
    assert background.run_task(probe, "probe.echo", ["x"]) == "probe:x"
    assert background.BackgroundRunner(probe).celery_app is probe


def test_beat_runs_import_the_task_modules_once_not_on_every_run() -> None:
    # Celery's import_modules signal makes its Django fixup run Django's whole system-check
    # suite; the venue stream's entry runs every 0.2 s, so the runner sends it once per app
    from celery import signals

    probe = Celery("probe-imports", set_as_current=False)

    @probe.task(name="probe.count")
    def count() -> int:
        return 1

    sent: list[Any] = []

    def on_import(sender: Any, **kwargs: Any) -> None:
        if sender is probe:
            sent.append(sender)

    signals.import_modules.connect(on_import, weak=False)
    try:
        assert [background.run_task(probe, "probe.count") for _ in range(3)] == [1, 1, 1]
    finally:
        signals.import_modules.disconnect(on_import)
    assert len(sent) == 1
