"""Throttles (issue 10, step 3): `maxOrdersPerSecond` refuses `throttled` per account and symbol,
`maxCancelReplacePerMinute` refuses replaces `spam_suppressed` per order and per account and
symbol; cancels are never refused and count as cycles. Windows are fixed and tested exactly at
their boundaries with an injected clock (no sleeps)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from oms.orders.models import Order
from rules import counters
from rules.models import Limit, ThrottleCount
from rules.tasks import purge_idle_throttles
from tests.conftest import uid
from tests.controls_support import ok, order_body, refusals, send

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)  # on a second's and a minute's boundary
TICK = dt.timedelta(microseconds=1)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    with counters.clock(c):
        yield c


def limits(client: Any, account: str = "*", symbol: str = "*", **fields: Any) -> None:
    ok(client, "limits", {"commandType": "SetLimitsCommand", "account": account, "symbol": symbol, **fields})


def create(client: Any, **terms: Any) -> tuple[int, dict[str, Any]]:
    return send(client, "orders", order_body(**terms))


def replace(client: Any, order_id: str, **terms: Any) -> tuple[int, dict[str, Any]]:
    body = {"commandType": "ReplaceOrderCommand", "orderId": order_id, "clOrdID": uid("R"), **terms}
    return send(client, "orders", body)


def cancel(client: Any, order_id: str) -> tuple[int, dict[str, Any]]:
    return send(
        client, "orders", {"commandType": "CancelOrderCommand", "orderId": order_id, "clOrdID": uid("X")}
    )


# --- maxOrdersPerSecond -----------------------------------------------------------------------


def test_orders_beyond_the_limit_in_one_second_are_throttled_until_the_next_second(
    boss: Any, desk: Any, clock: Clock
) -> None:
    limits(boss, account="ACC1", symbol="ACME", maxOrdersPerSecond=3)
    for at in (T0, T0 + dt.timedelta(milliseconds=500), T0 + dt.timedelta(seconds=1) - TICK):
        clock.at = at
        assert create(desk)[0] == 201
    before = Order.objects.count()
    status, js = create(desk)  # the fourth, still in the last microsecond of T0's second
    assert status == 422, js
    err = js["error"]
    assert (err["code"], err["rule"]) == ("rule_refused", "throttled")
    assert err["details"] == {
        "limit": 3,
        "value": 4,
        "windowSeconds": 1,
        "windowStart": "2026-11-30T12:00:00Z",
        "scope": {"account": "ACC1", "symbol": "ACME"},
    }
    assert Order.objects.count() == before
    assert refusals("throttled")[-1]["details"]["value"] == 4  # recorded for the desk
    clock.at = T0 + dt.timedelta(seconds=1)  # exactly the next second: a new window
    assert create(desk)[0] == 201


def test_a_refused_order_does_not_use_up_the_window(boss: Any, desk: Any, clock: Clock) -> None:
    limits(boss, maxOrdersPerSecond=1)
    assert create(desk)[0] == 201
    for _ in range(3):
        status, js = create(desk)
        assert status == 422 and js["error"]["details"]["value"] == 2  # not 2, 3, 4: nothing counted
    clock.at = T0 + dt.timedelta(seconds=1)
    assert create(desk)[0] == 201


def test_a_repeated_cl_ord_id_answers_the_order_and_counts_nothing(
    boss: Any, desk: Any, clock: Clock
) -> None:
    limits(boss, maxOrdersPerSecond=2)
    body = order_body()
    assert send(desk, "orders", body)[0] == 201
    for _ in range(3):
        status, js = send(desk, "orders", body)
        assert status == 200 and js["duplicate"] is True
    assert create(desk)[0] == 201  # the second order of the second
    assert create(desk)[1]["error"]["details"]["value"] == 3


def test_a_stale_guess_of_another_process_limit_counts_nothing(boss: Any, desk: Any, clock: Clock) -> None:
    """The process's snapshot says a throttle applies, so the count goes out with the reservation;
    another process removed the limit meanwhile: the count is taken back."""
    limits(boss, maxOrdersPerSecond=1)
    assert create(desk, symbol="WARM")[0] == 201  # this process now holds the throttle
    Limit.objects.filter(account="*", symbol="*").update(doc={"maxOrdersPerSecond": None})  # elsewhere
    for _ in range(3):
        assert create(desk)[0] == 201
    assert not ThrottleCount.objects.filter(bucket="orders|ACC1|ACME").exclude(count=0).exists()


def test_the_throttle_counts_per_account_and_symbol(boss: Any, desk: Any, clock: Clock) -> None:
    limits(boss, maxOrdersPerSecond=1)
    assert create(desk, account="A1", symbol="S1")[0] == 201
    assert create(desk, account="A1", symbol="S2")[0] == 201  # another symbol
    assert create(desk, account="A2", symbol="S1")[0] == 201  # another account
    assert create(desk, account="A1", symbol="S1")[1]["error"]["rule"] == "throttled"


def test_the_most_specific_throttle_wins(boss: Any, desk: Any, clock: Clock) -> None:
    limits(boss, maxOrdersPerSecond=1)
    limits(boss, account="FAST", maxOrdersPerSecond=3)
    limits(boss, account="FAST", symbol="SLOW", maxOrdersPerSecond=2)
    accepted = {}
    for account, symbol in (("FAST", "ACME"), ("FAST", "SLOW"), ("OTHER", "ACME")):
        accepted[(account, symbol)] = sum(
            create(desk, account=account, symbol=symbol)[0] == 201 for _ in range(5)
        )
    assert accepted == {("FAST", "ACME"): 3, ("FAST", "SLOW"): 2, ("OTHER", "ACME"): 1}
    details = create(desk, account="FAST", symbol="SLOW")[1]["error"]["details"]
    assert details["scope"] == {"account": "FAST", "symbol": "SLOW"} and details["limit"] == 2


def test_child_orders_count_toward_the_throttle(boss: Any, desk: Any, run: Any, clock: Clock) -> None:
    parent = run("orders", order_body(orderQty="100")).body["order"]  # before the limit exists
    limits(boss, maxOrdersPerSecond=1)
    child = {"commandType": "CreateOrderCommand", "parentId": parent["orderId"], "venue": "MANUAL"}
    assert send(desk, "orders", {**child, "clOrdID": uid("M"), "orderQty": "10"})[0] == 201
    status, js = send(desk, "orders", {**child, "clOrdID": uid("M"), "orderQty": "10"})
    assert status == 422 and js["error"]["rule"] == "throttled"


def test_cancels_and_replaces_are_not_throttled(boss: Any, desk: Any, clock: Clock) -> None:
    first = ok(desk, "orders", order_body())["order"]
    second = ok(desk, "orders", order_body())["order"]
    limits(boss, maxOrdersPerSecond=1)
    assert create(desk)[0] == 201
    assert create(desk)[1]["error"]["rule"] == "throttled"  # the second is full
    assert replace(desk, first["orderId"], orderQty="90")[0] == 200
    assert cancel(desk, second["orderId"])[0] == 200


def test_the_preview_shows_the_throttle_and_counts_nothing(boss: Any, desk: Any, clock: Clock) -> None:
    limits(boss, maxOrdersPerSecond=1)
    preview = order_body()
    for _ in range(3):
        status, js = send(desk, "orders/preview", preview)
        assert status == 200 and js["accepted"] is True
    assert create(desk)[0] == 201  # the previews used none of the second
    status, js = send(desk, "orders/preview", order_body())
    assert js["accepted"] is False
    assert [(r["rule"], r["details"]["value"]) for r in js["refusals"]] == [("throttled", 2)]


# --- maxCancelReplacePerMinute ----------------------------------------------------------------


def test_replaces_of_one_order_beyond_the_limit_are_spam_suppressed_until_the_next_minute(
    boss: Any, desk: Any, clock: Clock
) -> None:
    order = ok(desk, "orders", order_body(orderQty="100"))["order"]
    limits(boss, account="ACC1", maxCancelReplacePerMinute=2)
    assert replace(desk, order["orderId"], orderQty="90")[0] == 200
    clock.at = T0 + dt.timedelta(seconds=60) - TICK
    assert replace(desk, order["orderId"], orderQty="80")[0] == 200
    version = Order.objects.get(pk=order["orderId"]).version
    status, js = replace(desk, order["orderId"], orderQty="70")
    assert status == 422, js
    err = js["error"]
    assert err["rule"] == "spam_suppressed"
    assert err["details"] == {
        "limit": 2,
        "value": 3,
        "counter": "order",
        "windowSeconds": 60,
        "windowStart": "2026-11-30T12:00:00Z",
        "orderId": order["orderId"],
        "scope": {"account": "ACC1", "symbol": "*"},
    }
    assert Order.objects.get(pk=order["orderId"]).version == version  # nothing written
    assert refusals("spam_suppressed")[-1]["orderId"] == order["orderId"]
    clock.at = T0 + dt.timedelta(seconds=60)  # exactly the next minute
    assert replace(desk, order["orderId"], orderQty="70")[0] == 200


def test_replaces_count_per_symbol_across_orders(boss: Any, desk: Any, clock: Clock) -> None:
    a = ok(desk, "orders", order_body())["order"]
    b = ok(desk, "orders", order_body())["order"]
    other = ok(desk, "orders", order_body(symbol="OTHER"))["order"]
    limits(boss, maxCancelReplacePerMinute=2)
    assert replace(desk, a["orderId"], orderQty="90")[0] == 200
    assert replace(desk, b["orderId"], orderQty="90")[0] == 200
    status, js = replace(desk, a["orderId"], orderQty="80")  # the order's second, the symbol's third
    assert status == 422 and js["error"]["details"]["counter"] == "symbol"
    assert js["error"]["details"]["value"] == 3
    assert replace(desk, other["orderId"], orderQty="90")[0] == 200  # another symbol


def test_every_replace_is_a_cycle_even_one_that_changes_no_price_or_quantity(
    boss: Any, desk: Any, clock: Clock
) -> None:
    order = ok(desk, "orders", order_body(timeInForce="Day"))["order"]
    limits(boss, maxCancelReplacePerMinute=1)
    assert replace(desk, order["orderId"], timeInForce="GTC")[0] == 200
    status, js = replace(desk, order["orderId"], timeInForce="Day")
    assert status == 422 and js["error"]["rule"] == "spam_suppressed"


def test_cancels_are_never_refused_but_count_toward_the_symbols_cycles(
    boss: Any, desk: Any, clock: Clock
) -> None:
    orders = [ok(desk, "orders", order_body())["order"] for _ in range(4)]
    limits(boss, maxCancelReplacePerMinute=2)
    assert cancel(desk, orders[0]["orderId"])[0] == 200
    assert cancel(desk, orders[1]["orderId"])[0] == 200
    assert cancel(desk, orders[2]["orderId"])[0] == 200  # over the limit: a cancel still passes
    status, js = replace(desk, orders[3]["orderId"], orderQty="90")
    assert status == 422 and (js["error"]["details"]["counter"], js["error"]["details"]["value"]) == (
        "symbol",
        4,
    )
    clock.at = T0 + dt.timedelta(minutes=1)
    assert replace(desk, orders[3]["orderId"], orderQty="90")[0] == 200


def test_without_a_cycle_limit_cancels_and_replaces_count_nothing(desk: Any, clock: Clock) -> None:
    order = ok(desk, "orders", order_body())["order"]
    assert replace(desk, order["orderId"], orderQty="90")[0] == 200
    assert cancel(desk, order["orderId"])[0] == 200
    assert not ThrottleCount.objects.exists()


# --- the counter itself -----------------------------------------------------------------------


def test_windows_are_aligned_on_the_epoch_to_the_microsecond() -> None:
    assert counters.window_start(T0, 1) == counters.window_start(T0 + dt.timedelta(seconds=1) - TICK, 1)
    assert counters.window_start(T0 + dt.timedelta(seconds=1), 1) == counters.window_start(T0, 1) + 1
    assert counters.window_start(T0 + dt.timedelta(seconds=59), 60) == counters.window_start(T0, 60)
    assert counters.window_start(T0 - TICK, 60) == counters.window_start(T0, 60) - 60


def test_a_lagging_clock_counts_into_the_newer_window_never_resets_it() -> None:
    start = counters.window_start(T0, 1)
    assert counters.count(["b"], start) == {"b": 1}
    assert counters.count(["b"], start + 1) == {"b": 1}  # a new window restarts
    assert counters.count(["b"], start) == {"b": 2}  # a process whose clock lags adds to it
    assert counters.peek(["b", "c"], start + 1) == {"b": 3, "c": 1}
    assert counters.peek(["b"], start + 2) == {"b": 1}


def test_idle_counters_are_purged(clock: Clock) -> None:
    counters.count(["old"], counters.window_start(T0 - dt.timedelta(hours=2), 1))
    counters.count(["new"], counters.window_start(T0, 1))
    assert counters.purge_idle() == 1
    assert list(ThrottleCount.objects.values_list("bucket", flat=True)) == ["new"]


def test_beat_purges_idle_counters_through_the_rules_task(clock: Clock) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["rules-purge-idle-throttles"]
    assert entry["task"] == purge_idle_throttles.name
    counters.count(["idle"], counters.window_start(T0 - dt.timedelta(hours=3), 60))
    assert purge_idle_throttles.delay().get() == 1
    assert not ThrottleCount.objects.exists()
