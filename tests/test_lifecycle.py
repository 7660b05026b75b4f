"""Expiry: Day orders at the end of the trading day, GTD orders at their expireTime, whole trees
bottom-up, quotes and quote requests at their validUntilTime, overlapping runs, the beat entries,
the Celery task and `manage.py expire_due`.

Runs take `now` as a parameter, so the boundary tests move the clock instead of waiting for it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from oms.celery import app as celery_app
from oms.core.parsing import iso
from oms.lifecycle import expiry
from oms.lifecycle.expiry import ACTOR, expire_due, parse_time, trading_day_boundary
from oms.lifecycle.tasks import expire_due as expire_due_task
from oms.orders.models import Order, OrderEvent
from tests.lifecycle import D, Desk, new_quote, new_request, q
from tests.test_celery_worker import celery_worker, task_queue  # noqa: F401  (fixtures: a real worker)

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def created(order: dict[str, Any]) -> dt.datetime:
    return parse_time(order["createdAt"])


def next_boundary(after: dt.datetime) -> dt.datetime:
    """The first end of trading day strictly after `after`."""
    return trading_day_boundary(after) + dt.timedelta(days=1)


def expired_events(order_id: str) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(aggregate_id=order_id, type="OrderExpired"))


# --- the boundary ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "end", "boundary"),
    [
        ("2026-11-21T20:59:59Z", "21:00", "2026-11-20T21:00:00Z"),
        ("2026-11-21T21:00:00Z", "21:00", "2026-11-21T21:00:00Z"),
        ("2026-11-22T03:00:00Z", "21:00", "2026-11-21T21:00:00Z"),
        ("2026-11-21T00:00:00Z", "00:00", "2026-11-21T00:00:00Z"),
    ],
)
def test_trading_day_boundary_is_the_latest_end_of_day_at_or_before_now(
    now: str, end: str, boundary: str
) -> None:
    got = trading_day_boundary(parse_time(now), dt.time.fromisoformat(end))
    assert got == parse_time(boundary)


def test_day_order_expires_at_the_end_of_its_trading_day_not_before(trader: Desk) -> None:
    order = trader.client_order(100)
    assert order["timeInForce"] == "Day"
    boundary = next_boundary(created(order))

    before = expire_due(boundary - dt.timedelta(microseconds=1))
    assert before.orders_expired == 0
    assert trader.refresh(order)["status"] == "New"

    report = expire_due(boundary)
    assert (report.orders_due, report.orders_expired, report.trees) == (1, 1, 1)
    after = trader.refresh(order)
    assert q(after) == ("Expired", D(100), D(0), D(0))
    (event,) = expired_events(order["orderId"])
    assert event.actor == ACTOR and event.correlation_id == report.correlation_id
    assert "end of trading day" in (event.data.get("text") or "")


def test_configured_end_of_day_is_honoured(trader: Desk, settings: Any) -> None:
    order = trader.client_order(10)
    start = created(order)
    # the trading day ends one minute after the order was created
    end = (start + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    settings.OMS_TRADING_DAY_END_UTC = end.strftime("%H:%M")
    boundary = trading_day_boundary(end)
    assert boundary > start
    assert expire_due(boundary - dt.timedelta(seconds=1)).orders_expired == 0
    assert expire_due(boundary).orders_expired == 1


def test_catch_up_after_downtime_expires_days_old_orders(trader: Desk) -> None:
    order = trader.client_order(10)
    gtc = trader.client_order(10, timeInForce="GTC")
    report = expire_due(created(order) + dt.timedelta(days=5))
    assert report.orders_expired == 1
    assert trader.refresh(order)["status"] == "Expired"
    assert trader.refresh(gtc)["status"] == "New"  # GTC never expires by the clock


def test_gtd_order_expires_at_its_expire_time(trader: Desk) -> None:
    expire_at = (dt.datetime.now(UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    order = trader.client_order(10, timeInForce="GTD", expireTime=iso(expire_at))
    # GTD ignores the end of the trading day
    assert expire_due(expire_at - dt.timedelta(seconds=1)).orders_expired == 0
    assert trader.refresh(order)["status"] == "New"
    report = expire_due(expire_at)
    assert report.orders_expired == 1
    (event,) = expired_events(order["orderId"])
    assert "expireTime" in event.data["text"]


# --- trees ----------------------------------------------------------------------------------------


def test_tree_expires_bottom_up_and_partially_filled_orders_keep_their_fills(trader: Desk) -> None:
    client = trader.client_order(100)
    market = trader.do("AcceptOrderCommand", trader.child(client, 60))
    # a GTC slice under a Day market order: it inherits its ancestors' expiry
    slice_ = trader.do("AcceptOrderCommand", trader.child(market, 40, timeInForce="GTC"))
    trader.fill(slice_, 15, "10")
    idle = trader.do("AcceptOrderCommand", trader.child(client, 20))  # a second market order

    report = expire_due(next_boundary(created(client)))
    assert (report.orders_expired, report.orders_skipped, report.trees) == (4, 0, 1)
    s, m, i, c = (trader.refresh(o) for o in (slice_, market, idle, client))
    assert q(s) == ("Expired", D(40), D(15), D(0))
    assert q(m) == ("Expired", D(60), D(15), D(0))
    assert q(i) == ("Expired", D(20), D(0), D(0))
    assert q(c) == ("Expired", D(100), D(15), D(0))
    seq = {o["orderId"]: expired_events(o["orderId"])[0].seq for o in (slice_, market, idle, client)}
    # deepest first: the slice before its market order, every child before the client order
    assert seq[slice_["orderId"]] < seq[market["orderId"]] < seq[client["orderId"]]
    assert seq[idle["orderId"]] < seq[client["orderId"]]
    assert f"inherited from {market['orderId']}" in expired_events(slice_["orderId"])[0].data["text"]
    assert "inherited" not in expired_events(market["orderId"])[0].data["text"]


def test_day_child_of_a_gtc_client_order_expires_alone(trader: Desk) -> None:
    client = trader.client_order(100, timeInForce="GTC")
    market = trader.do("AcceptOrderCommand", trader.child(client, 50, timeInForce="Day"))
    report = expire_due(next_boundary(created(market)))
    assert report.orders_expired == 1
    assert trader.refresh(market)["status"] == "Expired"
    after = trader.refresh(client)
    assert after["status"] == "New" and after["workingChildren"] == 0 and D(after["placedQty"]) == 0


def test_filled_and_done_orders_are_left_alone(trader: Desk) -> None:
    market = trader.venue_order(10)
    trader.fill(market, 10)
    dfd = trader.venue_order(10)
    dfd = trader.do("DoneForDayCommand", dfd)
    report = expire_due(next_boundary(created(market)) + dt.timedelta(days=1))
    filled_market = trader.refresh(market)
    assert filled_market["status"] == "Filled"
    assert trader.refresh(dfd)["status"] == "DoneForDay"
    # the client order above the DoneForDay market order is still New (working): it expires
    assert trader.get(dfd["parentId"])["status"] == "Expired"
    assert trader.get(market["parentId"])["status"] == "Filled"
    assert report.orders_expired == 1


def test_pending_cancel_and_replace_expire_and_a_waiting_cascade_completes(trader: Desk) -> None:
    # a venue order with a replace pending: the day is over whatever the venue would have said
    replacing = trader.venue_order(10)
    replacing = trader.replace(replacing, price=None, orderQty=20)
    assert replacing["status"] == "PendingReplace"
    # a client order whose cancel waits for its market order
    client = trader.client_order(30)
    market = trader.do("AcceptOrderCommand", trader.child(client, 30))
    client = trader.cancel(client)
    assert client["status"] == "PendingCancel"
    assert trader.refresh(market)["status"] == "PendingCancel"

    report = expire_due(next_boundary(created(client)))
    r = trader.refresh(replacing)
    assert q(r) == ("Expired", D(10), D(0), D(0)) and r["pending"] is None
    assert trader.refresh(market)["status"] == "Expired"
    # the desk asked for a cancel: the client order ends Canceled once its child is gone
    assert trader.refresh(client)["status"] == "Canceled"
    assert report.errors == []


# --- overlapping runs -------------------------------------------------------------------------------


def test_a_second_run_changes_nothing(trader: Desk) -> None:
    client = trader.client_order(10)
    trader.do("AcceptOrderCommand", trader.child(client, 10))
    now = next_boundary(created(client))
    first = expire_due(now)
    count = OrderEvent.objects.count()
    second = expire_due(now)
    assert first.orders_expired == 2
    assert (second.orders_due, second.orders_expired) == (0, 0)
    assert OrderEvent.objects.count() == count


def test_a_run_working_from_a_stale_plan_is_refused_quietly(trader: Desk, monkeypatch: Any) -> None:
    """Two runs overlap: B planned before A expired the tree; B's expiries are refused, not errors."""
    client = trader.client_order(10)
    trader.do("AcceptOrderCommand", trader.child(client, 10))
    now = next_boundary(created(client))
    due = expiry.due_orders(now, trading_day_boundary(now))
    stale = {client["rootId"]: expiry._tree_plan(client["rootId"], due)}
    assert expire_due(now).orders_expired == 2  # run A

    monkeypatch.setattr(expiry, "due_orders", lambda *_: due)
    monkeypatch.setattr(expiry, "_tree_plan", lambda root, _: stale[root])
    count = OrderEvent.objects.count()
    b = expire_due(now)
    assert (b.orders_expired, b.orders_skipped, b.errors) == (0, 2, [])
    assert OrderEvent.objects.count() == count
    assert len(expired_events(client["orderId"])) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_expire_each_order_exactly_once() -> None:
    trader = Desk("dispatch")
    clients = [trader.client_order(10) for _ in range(3)]
    for c in clients:
        trader.do("AcceptOrderCommand", trader.child(c, 10))
    now = next_boundary(max(created(c) for c in clients))
    reports: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(expire_due(now))
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == [] and len(reports) == 2
    assert sum(r.orders_expired for r in reports) == 6
    assert all(r.errors == [] for r in reports)
    ids = Order.objects.filter(root_id__in=[c["orderId"] for c in clients]).values_list("order_id", flat=True)
    assert sorted(len(expired_events(oid)) for oid in ids) == [1] * 6
    assert set(Order.objects.filter(order_id__in=ids).values_list("status", flat=True)) == {"Expired"}


# --- quotes -----------------------------------------------------------------------------------------


def test_quotes_and_quote_requests_expire_at_valid_until_time(trader: Desk) -> None:
    due_at = dt.datetime.now(UTC) + dt.timedelta(seconds=1.5)  # room for the creates on a slow box
    soon = iso(due_at)
    later = iso(dt.datetime.now(UTC) + dt.timedelta(hours=1))
    quoted = new_request(side="Buy", orderQty="2", validUntilTime=later)
    quote = new_quote(quoted, bidPx=None, bidSize=None, offerPx="100", offerSize="2", validUntilTime=soon)
    short = new_request(side="Sell", orderQty="1", validUntilTime=soon)
    # the handlers check validUntilTime against the real clock
    time.sleep(max(0.0, (due_at - dt.datetime.now(UTC)).total_seconds()) + 0.05)

    report = expire_due()
    assert report.quotes_available
    assert (report.quotes_expired, report.quote_requests_expired) == (1, 1)
    from oms.quotes.models import Quote, QuoteRequest

    assert Quote.objects.get(pk=quote["quoteId"]).status == "Expired"
    assert QuoteRequest.objects.get(pk=short["quoteRequestId"]).status == "Expired"
    assert QuoteRequest.objects.get(pk=quoted["quoteRequestId"]).status in ("Open", "Quoted")
    assert expire_due().quotes_expired == 0  # idempotent


# --- history ------------------------------------------------------------------------------------------


def test_history_shows_who_did_what_when_for_desk_and_lifecycle_actions(desk: Any, trader: Desk) -> None:
    order = trader.client_order(10)
    report = expire_due(next_boundary(created(order)))
    response = desk.get(f"/api/queries/orders/{order['orderId']}/events")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["type"] for e in events] == ["OrderCreated", "OrderExpired"]
    made, expired = events
    assert made["actor"] == "trader" and expired["actor"] == "system:lifecycle"
    assert expired["correlationId"] == report.correlation_id
    assert made["correlationId"] and made["correlationId"] != expired["correlationId"]
    for e in events:
        assert parse_time(e["recordedAt"]) and parse_time(e["occurredAt"])
    assert parse_time(expired["recordedAt"]) >= parse_time(made["recordedAt"])
    assert expired["command"]["commandType"] == "ExpireOrderCommand"


# --- scheduling and entry points -----------------------------------------------------------------------


def test_beat_schedule_has_the_lifecycle_entries_and_their_tasks_are_registered() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    expire, purge = schedule["lifecycle-expire-due"], schedule["lifecycle-purge"]
    assert expire["task"] == "lifecycle.expire_due" and purge["task"] == "lifecycle.purge"
    assert 0 < float(expire["schedule"]) <= 300
    assert float(purge["schedule"]) == 24 * 3600
    celery_app.loader.import_default_modules()
    assert {"lifecycle.expire_due", "lifecycle.purge"} <= set(celery_app.tasks)


def test_expiry_task_runs_through_celery(trader: Desk) -> None:
    order = trader.client_order(10)
    now = next_boundary(created(order))
    result = expire_due_task.delay(iso(now)).get()
    assert result["orders_expired"] == 1 and result["now"] == iso(now)
    assert trader.refresh(order)["status"] == "Expired"


def test_management_command(trader: Desk) -> None:
    order = trader.client_order(10)
    out = io.StringIO()
    call_command("expire_due", "--now", iso(next_boundary(created(order))), stdout=out)
    assert json.loads(out.getvalue())["orders_expired"] == 1
    assert trader.refresh(order)["status"] == "Expired"
    with pytest.raises(CommandError, match="ISO-8601"):
        call_command("expire_due", "--now", "yesterday", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)  # committed rows: a real worker reads them on its own connection
def test_expiry_task_runs_on_a_real_worker(celery_worker: Any, task_queue: str) -> None:  # noqa: F811
    """With REDIS_URL: the beat entry's task, sent to a real `celery worker` on its own queue."""
    trader = Desk("dispatch")
    order = trader.client_order(10)
    now = next_boundary(created(order))
    if celery_worker is None:
        assert celery_app.conf.task_always_eager
    result = expire_due_task.apply_async(args=[iso(now)], queue=task_queue)
    deadline = time.monotonic() + (30 if celery_worker else 0)
    while Order.objects.get(pk=order["orderId"]).status != "Expired" and time.monotonic() < deadline:
        time.sleep(0.1)
    log = celery_worker.output()[-3000:] if celery_worker else ""
    assert Order.objects.get(pk=order["orderId"]).status == "Expired", log
    (event,) = expired_events(order["orderId"])
    assert event.actor == ACTOR
    if celery_worker is not None:
        assert "lifecycle.expire_due" in celery_worker.output()
    else:
        assert result.get()["orders_expired"] == 1
