"""Limits and pre-trade risk (issue 10, step 3): SetLimitsCommand, specificity per field, each
check refusing exactly what it must (422 rule_refused with details, nothing written, an
OrderRefused recorded), replaces that raise exposure, cancels never refused."""

from __future__ import annotations

from typing import Any

import pytest

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from rules.limits import effective_limits
from tests.conftest import uid
from tests.controls_support import instrument, ok, order_body, refusals, send

pytestmark = pytest.mark.django_db


def limits(client: Any, account: str = "*", symbol: str = "*", **fields: Any) -> dict[str, Any]:
    return ok(
        client, "limits", {"commandType": "SetLimitsCommand", "account": account, "symbol": symbol, **fields}
    )["limit"]


def book(client: Any, symbol: str = "ACME", bid: str = "99", ask: str = "101", venue: str = "XNAS") -> None:
    ok(
        client,
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": venue,
            "symbol": symbol,
            "bids": [[bid, "10"]],
            "asks": [[ask, "10"]],
        },
    )


def refused(client: Any, rule: str, **terms: Any) -> dict[str, Any]:
    before = Order.objects.count()
    status, js = send(client, "orders", order_body(**terms))
    assert status == 422 and js["error"]["rule"] == rule, js
    assert js["error"]["code"] == "rule_refused"
    assert Order.objects.count() == before
    return js["error"]["details"]


def test_with_no_limits_nothing_is_refused(desk: Any) -> None:
    assert ok(desk, "orders", order_body(orderQty="1000000000", price="1000000"))
    assert ok(desk, "orders", order_body(ordType="Market", price=None))


def test_set_limits_is_superuser_only_versioned_and_keeps_absent_fields(boss: Any, desk: Any) -> None:
    status, js = send(
        desk, "limits", {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "1"}
    )
    assert status == 403
    first = limits(boss, maxOrderQty="100", priceCollarPct="5")
    second = limits(boss, maxOrderNotional="1000")
    assert second["limitId"] == first["limitId"] and second["version"] == 2
    assert (second["maxOrderQty"], second["priceCollarPct"], second["maxOrderNotional"]) == (
        "100",
        "5",
        "1000",
    )
    cleared = limits(boss, priceCollarPct=None)
    assert cleared["priceCollarPct"] is None and cleared["maxOrderQty"] == "100"
    listed = boss.get("/api/queries/limits").json()["results"]
    assert [row["limitId"] for row in listed] == [first["limitId"]]
    events = boss.get(f"/api/queries/limits/{first['limitId']}/events").json()["results"]
    assert [e["type"] for e in events] == ["LimitsSet", "LimitsChanged", "LimitsChanged"]
    assert events[0]["topic"] == "limit-events" and events[1]["actor"] == "boss"
    status, js = send(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "-1"},
    )
    assert status == 400 and "maxOrderQty" in js["error"]["fields"]


def test_the_most_specific_scope_wins_per_field(boss: Any) -> None:
    limits(boss, maxOrderQty="1", maxOrderNotional="1", priceCollarPct="1", maxOpenNotional="1")
    limits(boss, symbol="S", maxOrderQty="2", maxOrderNotional="2", priceCollarPct="2")
    limits(boss, account="A", maxOrderQty="3", maxOrderNotional="3")
    limits(boss, account="A", symbol="S", maxOrderQty="4")
    got = effective_limits("A", "S")
    assert {k: str(v.value) for k, v in got.items()} == {
        "maxOrderQty": "4",
        "maxOrderNotional": "3",
        "priceCollarPct": "2",
        "maxOpenNotional": "1",
    }
    assert (got["maxOrderNotional"].account, got["maxOrderNotional"].symbol) == ("A", "*")
    other = effective_limits("B", "T")
    assert str(other["maxOrderQty"].value) == "1"


def test_max_order_qty_and_notional(boss: Any, desk: Any) -> None:
    limits(boss, account="ACC1", maxOrderQty="100", maxOrderNotional="5000")
    details = refused(desk, "max_order_qty", orderQty="101")
    assert (details["limit"], details["value"]) == ("100", "101")
    details = refused(desk, "max_order_notional", orderQty="60", price="100")
    assert (details["limit"], details["value"]) == ("5000", "6000")
    assert ok(desk, "orders", order_body(orderQty="50", price="100"))
    assert ok(desk, "orders", order_body(orderQty="500", account="OTHER"))  # another account: no limit


def test_notional_counts_the_instrument_multiplier(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "XBT-FUT", kind="Future", multiplier="10", tickSize="1", lotSize="1", minQty="1")
    limits(boss, maxOrderNotional="5000")
    details = refused(desk, "max_order_notional", symbol="XBT-FUT", venue="SIM", orderQty="6", price="100")
    assert (details["value"], details["multiplier"]) == ("6000", "10")


def test_market_orders_use_the_reference_price_and_can_be_disabled(boss: Any, desk: Any) -> None:
    limits(boss, maxOrderNotional="1000")
    details = refused(desk, "no_reference_price", ordType="Market", price=None, venue="XNAS")
    assert details["check"] == "max_order_notional"
    book(desk)
    details = refused(desk, "max_order_notional", ordType="Market", price=None, venue="XNAS", orderQty="10")
    assert (details["referencePx"], details["value"]) == ("101", "1010")
    assert ok(desk, "orders", order_body(ordType="Market", price=None, venue="XNAS", orderQty="9"))
    limits(boss, account="ACC1", symbol="ACME", allowMarketOrders=False)
    refused(desk, "market_orders_disabled", ordType="Market", price=None, venue="XNAS", orderQty="1")
    assert ok(desk, "orders", order_body(venue="XNAS", orderQty="1"))


def test_price_collar_against_the_far_touch(boss: Any, desk: Any) -> None:
    limits(boss, priceCollarPct="10")
    details = refused(desk, "no_reference_price", venue="XNAS")
    assert details["check"] == "price_collar"
    book(desk, bid="190", ask="200")
    details = refused(desk, "price_collar", venue="XNAS", price="220.01")  # buy: ask 200 x 1.10
    assert (details["referencePx"], details["bound"], details["limit"]) == ("200", "220", "10")
    assert ok(desk, "orders", order_body(venue="XNAS", price="220"))
    refused(desk, "price_collar", venue="XNAS", side="Sell", price="170.99")  # sell: bid 190 x 0.90
    assert ok(desk, "orders", order_body(venue="XNAS", side="Sell", price="171"))
    # a venue-less order takes the freshest book of its symbol
    refused(desk, "price_collar", price="999999")
    limits(boss, priceCollarPct=None)
    assert ok(desk, "orders", order_body(symbol="NOBOOK", price="999999"))


def test_max_open_notional_counts_open_orders_worst_case(boss: Any, desk: Any) -> None:
    limits(boss, account="ACC1", maxOpenNotional="10000")
    first = ok(desk, "orders", order_body(orderQty="60", price="100"))["order"]
    assert ok(desk, "orders", order_body(side="Sell", orderQty="60", price="100"))  # the other side
    details = refused(desk, "max_open_notional", orderQty="50", price="100")
    assert (details["value"], details["openBuy"], details["limit"]) == ("11000", "11000", "10000")
    ok(
        desk,
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": first["orderId"], "clOrdID": uid("X")},
    )
    assert ok(desk, "orders", order_body(orderQty="50", price="100"))


def test_replace_is_checked_only_when_it_raises_exposure_and_cancels_always_pass(
    boss: Any, desk: Any
) -> None:
    order = ok(desk, "orders", order_body(orderQty="100", price="100"))["order"]
    limits(boss, maxOrderQty="50")
    replace = {"commandType": "ReplaceOrderCommand", "orderId": order["orderId"]}
    status, js = send(desk, "orders", {**replace, "clOrdID": uid("R"), "orderQty": "120"})
    assert status == 422 and js["error"]["rule"] == "max_order_qty"
    assert refusals("max_order_qty")[-1]["orderId"] == order["orderId"]
    # smaller (still above the new limit) and more passive: it lowers exposure, it passes
    assert ok(desk, "orders", {**replace, "clOrdID": uid("R"), "orderQty": "90", "price": "99"})
    assert ok(
        desk,
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": order["orderId"], "clOrdID": uid("X")},
    )


def test_child_orders_are_checked_at_market_level_in_process(boss: Any, run: Any) -> None:
    parent = run("orders", order_body(orderQty="100", price="100")).body["order"]
    limits(boss, maxOrderQty="50")
    with pytest.raises(ApplicationError) as err:
        dispatch(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": uid("M"),
                "parentId": parent["orderId"],
                "orderQty": "60",
                "venue": "MANUAL",
            },
            actor="tester",
        )
    assert err.value.rule == "max_order_qty"
    assert (
        run(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": uid("M"),
                "parentId": parent["orderId"],
                "orderQty": "40",
                "venue": "MANUAL",
            },
        ).status_code
        == 201
    )
