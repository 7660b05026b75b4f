"""The ccxt adapter against ccxt's recorded venue answers: its typed records say what ccxt parsed.

Each case of tests/data/ccxt is fed to a real ccxt exchange through a stubbed transport; the
adapter's records are compared, field by field, with the case's `parsedResponse`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.venues.adapter import PlaceRequest, ReplaceRequest, VenueOrderStatus, VenueOrdType, VenueSide
from oms.venues.ccxt import mapping
from tests.ccxt_support import ErrorBody, case_id, cases, environment_for, num, stubbed_adapter

BINANCE_AND_BYBIT = ("binance", "bybit")


def _cases(method: str, exchanges: tuple[str, ...] = BINANCE_AND_BYBIT) -> list[Any]:
    return [pytest.param(ex, c, id=f"{ex}-{case_id(c)}") for ex in exchanges for c in cases(ex, method)]


def _ms(when: dt.datetime | None) -> int | None:
    return None if when is None else mapping.to_millis(when)


STATUS = {"open": {"New", "PartiallyFilled"}, "closed": {"Filled"}, "canceled": {"Canceled"}}


def _assert_report_matches(report: Any, parsed: dict[str, Any]) -> None:
    assert report.venue_order_id == parsed["id"]
    assert report.cl_ord_id == parsed["clientOrderId"]
    assert report.symbol == parsed["symbol"]
    assert report.side.value.lower() == parsed["side"]
    assert report.order_qty == num(parsed["amount"])
    assert report.cum_qty == num(parsed["filled"])
    assert report.price == (num(parsed["price"]) or None)
    assert report.status.value in STATUS[parsed["status"]]
    assert _ms(report.ts_event) == (parsed["lastUpdateTimestamp"] or parsed["timestamp"])


# --- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exchange_id", "case"), _cases("createOrder"))
def test_place_order_sends_the_clordid_as_client_order_id_and_reports_what_ccxt_parsed(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("POST", "order", case["httpResponse"])
    symbol, kind, side, amount, price = case["input"][:5]
    parsed = case["parsedResponse"]
    request = PlaceRequest(
        cl_ord_id=parsed["clientOrderId"],
        symbol=symbol,
        side=VenueSide.BUY if side == "buy" else VenueSide.SELL,
        order_qty=num(amount),
        ord_type=VenueOrdType.LIMIT if kind == "limit" else VenueOrdType.MARKET,
        price=num(price),
        time_in_force="GTC",
    )

    report = adapter.place_order(request)

    (sent,) = transport.requests("POST")
    assert parsed["clientOrderId"] in (sent.params.get("newClientOrderId"), sent.params.get("orderLinkId"))
    assert report.venue_order_id == parsed["id"]
    assert report.cl_ord_id == parsed["clientOrderId"]
    assert report.symbol == parsed["symbol"] == symbol
    # bybit acknowledges with ids only (ccxt parses no side, amount or status): what was sent fills in
    assert report.side == request.side
    assert report.order_qty == (num(parsed["amount"]) or request.order_qty)
    assert report.status == VenueOrderStatus.NEW
    assert report.cum_qty == (num(parsed["filled"]) or 0)


def test_place_order_sends_to_the_sandbox_by_default():
    adapter, transport = stubbed_adapter("binance")
    case = cases("binance", "createOrder")[0]
    transport.on("POST", "order", case["httpResponse"])

    adapter.place_order(
        PlaceRequest(
            cl_ord_id="x-1", symbol="SOL/USDT", side=VenueSide.BUY, order_qty=Decimal("0.05"),
            ord_type=VenueOrdType.LIMIT, price=Decimal(241), time_in_force="GTC",
        )
    )  # fmt: skip

    assert transport.sent[0].url.startswith("https://testnet.binance.vision/")


@pytest.mark.parametrize(("exchange_id", "case"), _cases("fetchOpenOrders"))
def test_open_orders_are_reported_as_ccxt_parsed_them(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])
    symbol, _, _, *params = case["input"]

    reports = adapter.fetch_open_orders(symbol=symbol) if not params else None
    if reports is None:  # portfolio-margin case: the call with its params, through the same mapping
        orders = adapter.exchange.fetch_open_orders(*case["input"])
        reports = [mapping.order_report(adapter.venue, o) for o in orders]

    assert len(reports) == len(case["parsedResponse"]) > 0
    for report, parsed in zip(reports, case["parsedResponse"], strict=True):
        _assert_report_matches(report, parsed)


@pytest.mark.parametrize(
    ("exchange_id", "case"),
    # bybit's recorded open order was placed without a client id (orderLinkId ""): not ours to ask for
    [
        p
        for p in _cases("fetchOpenOrder") + _cases("fetchOrder", ("binance",))
        if p.values[1]["parsedResponse"]["clientOrderId"]
    ],
)
def test_fetch_order_by_clordid_asks_by_client_id_and_reports_the_order(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])
    parsed = case["parsedResponse"]

    report = adapter.fetch_order(cl_ord_id=parsed["clientOrderId"], symbol=parsed["symbol"])

    assert report is not None
    _assert_report_matches(report, parsed)
    (sent,) = transport.sent
    assert parsed["clientOrderId"] in (sent.params.get("origClientOrderId"), sent.params.get("orderLinkId"))


def test_replace_amends_through_edit_order_where_the_exchange_has_it():
    adapter, transport = stubbed_adapter("bybit")
    case = cases("bybit", "editOrder")[0]
    parsed = case["parsedResponse"]
    # the venue's view of the order before the amend (bybit's realtime-order answer, built here
    # in its recorded shape for the editOrder case's order: LTCUSDT spot, clientOrderId bybit1)
    before = {
        "retCode": 0, "retMsg": "OK", "time": 1763738830000,
        "result": {"category": "spot", "list": [{
            "orderId": parsed["id"], "orderLinkId": "bybit1", "symbol": "LTCUSDT", "side": "Buy",
            "orderType": "Limit", "price": "70", "qty": "0.2", "cumExecQty": "0", "leavesQty": "0.2",
            "orderStatus": "New", "timeInForce": "GTC", "createdTime": "1763738820000",
            "updatedTime": "1763738820000", "avgPrice": "",
        }]},
    }  # fmt: skip
    transport.on("GET", "/v5/order/realtime", before)
    transport.on("POST", "/v5/order/amend", case["httpResponse"])
    assert adapter.has["replace"] is True

    report = adapter.replace_order(
        ReplaceRequest(
            cl_ord_id="bybit1-r",
            orig_cl_ord_id="bybit1",
            symbol="LTC/USDT",
            order_qty=Decimal("0.22"),
            price=Decimal(73),
        )
    )

    (amend,) = transport.requests("POST", "/v5/order/amend")
    assert (amend.params["qty"], amend.params["price"]) == ("0.22", "73")
    assert amend.params["orderId"] == parsed["id"]
    assert "acknowledged" not in amend.params
    assert (report.venue_order_id, report.cl_ord_id) == (parsed["id"], parsed["clientOrderId"])
    assert (report.order_qty, report.price, report.status) == (
        Decimal("0.22"),
        Decimal(73),
        VenueOrderStatus.NEW,
    )


# --- fills ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exchange_id", "case"), _cases("fetchMyTrades"))
def test_fills_are_the_trades_ccxt_parsed(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "rades", case["httpResponse"])  # binance myTrades/userTrades
    transport.on("GET", "/v5/execution/list", case["httpResponse"])
    symbol, _since, _limit, *params = case["input"]
    trades = (
        adapter.exchange.fetch_my_trades(*case["input"]) if params else None
    )  # venue-specific params: ccxt's call, the adapter's mapping

    fills = (
        [mapping.fill(adapter.venue, t, cl_ord_id=mapping.trade_client_id(t) or "") for t in trades]
        if trades is not None
        else adapter.fetch_fills(symbol=symbol)
    )

    parsed = sorted(case["parsedResponse"], key=lambda t: (t["timestamp"], t["id"]))
    assert len(fills) == len(parsed) > 0
    for got, want in zip(fills, parsed, strict=True):
        assert got.exec_id == want["id"]
        assert got.venue_order_id == want["order"]
        assert got.symbol == want["symbol"]
        assert got.side.value.lower() == want["side"]
        assert got.last_qty == num(want["amount"])
        assert got.last_px == num(want["price"])
        assert _ms(got.ts_event) == want["timestamp"]
        if want.get("fee") and want["fee"].get("cost") is not None:
            assert got.fee == num(want["fee"]["cost"])
            assert got.fee_currency == want["fee"]["currency"]
        if exchange_id == "bybit":  # bybit's executions name the order's link id
            assert got.cl_ord_id == want["info"]["orderLinkId"]


def test_a_fill_without_client_id_takes_it_from_the_order_the_adapter_has_seen():
    adapter, transport = stubbed_adapter("binance")
    order_case = cases("binance", "fetchOpenOrders")[0]
    trade_case = cases("binance", "fetchMyTrades")[0]
    trade_order_id = trade_case["parsedResponse"][0]["order"]
    # the venue's open order (recorded) is the one the trade belongs to
    opened = [{**order_case["httpResponse"][0], "orderId": trade_order_id}]
    transport.on("GET", "openOrders", opened)
    transport.on("GET", "myTrades", trade_case["httpResponse"])
    adapter.fetch_open_orders(symbol="LTC/USDT")

    (got,) = adapter.fetch_fills(symbol="LTC/USDT", since=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    assert got.cl_ord_id == order_case["parsedResponse"][0]["clientOrderId"]
    assert got.account == "desk-1"
    (trades_request,) = transport.requests("GET", "myTrades")
    assert trades_request.params["startTime"] == str(
        mapping.to_millis(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    )


def test_a_fill_of_an_unseen_order_asks_the_venue_for_its_client_id_once():
    adapter, transport = stubbed_adapter("binance")
    order_case = cases("binance", "fetchOrder")[0]
    trade_case = cases("binance", "fetchMyTrades")[0]
    trade = trade_case["httpResponse"][0]
    transport.on("GET", "myTrades", [trade, {**trade, "id": int(trade["id"]) + 1}])
    transport.on("GET", "/api/v3/order", {**order_case["httpResponse"], "orderId": trade["orderId"]})

    fills = adapter.fetch_fills(symbol="LTC/USDT")

    assert [f.cl_ord_id for f in fills] == [order_case["parsedResponse"]["clientOrderId"]] * 2
    assert len(transport.requests("GET", "/api/v3/order")) == 1


# --- positions, balances, books ------------------------------------------------------------------


@pytest.mark.parametrize(("exchange_id", "case"), _cases("fetchPositions"))
def test_positions_are_signed_quantities_of_what_ccxt_parsed(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])
    rows = adapter.exchange.fetch_positions(*case["input"])  # the case's own symbols and params

    positions = [mapping.position(adapter.venue, adapter.account, p) for p in rows]

    assert len(positions) == len(case["parsedResponse"]) > 0
    for got, want in zip(positions, case["parsedResponse"], strict=True):
        sign = -1 if want["side"] == "short" else 1
        assert got.symbol == want["symbol"]
        assert got.qty == sign * num(want["contracts"])
        assert got.avg_px == num(want["entryPrice"])
        assert _ms(got.ts_event) == want["timestamp"]
        assert got.account == "desk-1"


def test_fetch_positions_reports_a_short_as_a_negative_quantity():
    adapter, transport = stubbed_adapter("binance", environment="demo")
    case = cases("binance", "fetchPositions")[3]  # the inverse BTCUSD_PERP short of 3 contracts
    transport.on("GET", "", case["httpResponse"])
    adapter.exchange.options["defaultSubType"] = "inverse"

    (position,) = adapter.fetch_positions()

    assert (position.symbol, position.qty) == ("BTC/USD:BTC", Decimal(-3))


@pytest.mark.parametrize(("exchange_id", "case"), _cases("fetchBalance"))
def test_balances_are_ccxt_totals_and_frees_by_currency(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])
    balance = adapter.exchange.fetch_balance(*case["input"])

    records = {b.currency: b for b in mapping.balances(adapter.venue, balance)}

    want = {c: v for c, v in case["parsedResponse"]["total"].items() if v is not None}
    assert set(records) == set(want) and want
    for currency, total in want.items():
        assert records[currency].total == num(total)
        assert records[currency].free == (num(case["parsedResponse"]["free"].get(currency)) or 0)


@pytest.mark.parametrize(("exchange_id", "case"), _cases("fetchOrderBook"))
def test_books_are_ccxt_levels_best_first(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])
    symbol, depth = case["input"]

    book = adapter.fetch_book(symbol, depth=depth)

    parsed = case["parsedResponse"]
    assert book.symbol == parsed["symbol"] == symbol
    assert book.bids == tuple((num(p), num(q)) for p, q, *_ in parsed["bids"])
    assert book.asks == tuple((num(p), num(q)) for p, q, *_ in parsed["asks"])
    assert book.bids[0][0] < book.asks[0][0]
    assert book.seq == parsed["nonce"]


# --- capabilities --------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange_id", BINANCE_AND_BYBIT)
def test_capabilities_follow_ccxt_has(exchange_id):
    adapter, _ = stubbed_adapter(exchange_id)

    assert adapter.name == "ccxt" and adapter.adapter_name == f"ccxt:{exchange_id}"
    assert adapter.has["replace"] == bool(adapter.exchange.has["editOrder"])
    assert adapter.has["positions"] == bool(adapter.exchange.has["fetchPositions"])
    assert adapter.has["watchExecutions"] and adapter.has["watchBook"]


def test_an_open_order_entered_at_the_venue_without_client_id_is_reported_with_an_empty_clordid():
    adapter, transport = stubbed_adapter("bybit")
    case = cases("bybit", "fetchOpenOrder")[0]  # recorded with orderLinkId ""
    transport.on("GET", "/v5/order/realtime", case["httpResponse"])

    (report,) = adapter.fetch_open_orders(symbol="BTC/USDT:USDT")

    assert (report.venue_order_id, report.cl_ord_id) == (case["parsedResponse"]["id"], "")


def test_a_fill_of_an_order_the_venue_does_not_know_is_asked_for_once_and_has_an_empty_clordid():
    adapter, transport = stubbed_adapter("binance")
    trade_case = cases("binance", "fetchMyTrades")[0]
    transport.on("GET", "myTrades", trade_case["httpResponse"])
    transport.on("GET", "/api/v3/order", ErrorBody(400, {"code": -2013, "msg": "Order does not exist."}))

    first = adapter.fetch_fills(symbol="LTC/USDT")
    again = adapter.fetch_fills(symbol="LTC/USDT")

    assert [f.cl_ord_id for f in first + again] == ["", ""]
    assert len(transport.requests("GET", "/api/v3/order")) == 1


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_a_ccxt_float_becomes_the_decimal_of_its_shortest_repr_in_plain_notation(value):
    got = mapping.dec(value)

    assert got == Decimal(repr(value))
    assert Decimal(mapping.plain(got)) == got
    assert "E" not in mapping.plain(got)


@given(st.integers(min_value=0, max_value=253402300799999))  # to the last millisecond of year 9999
def test_millisecond_timestamps_round_trip_exactly(ms):
    assert mapping.to_millis(mapping.timestamp(ms)) == ms


@pytest.mark.parametrize(
    ("exchange_id", "case"), [p for p in _cases("fetchBalance") if p.values[1]["input"] == []]
)
def test_fetch_balances_through_the_adapter_lists_every_currency_the_venue_holds(exchange_id, case):
    adapter, transport = stubbed_adapter(exchange_id, environment=environment_for(exchange_id, case))
    transport.on("GET", "", case["httpResponse"])

    balances = adapter.fetch_balances()

    want = {c: num(v) for c, v in case["parsedResponse"]["total"].items() if v is not None}
    assert {b.currency: b.total for b in balances} == want
    assert all(b.venue == adapter.venue and b.free <= b.total for b in balances)


def test_all_fills_of_a_venue_whose_trade_query_needs_a_symbol_are_asked_symbol_by_symbol():
    adapter, transport = stubbed_adapter("binance")
    order_case = cases("binance", "fetchOpenOrders")[0]  # an open LTC/USDT order
    trade_case = cases("binance", "fetchMyTrades")[0]  # a LTC/USDT trade
    transport.on("GET", "openOrders", order_case["httpResponse"])
    transport.on("GET", "myTrades", trade_case["httpResponse"])
    transport.on("GET", "/api/v3/order", order_case["httpResponse"][0])
    assert adapter.fetch_fills() == []  # no order seen yet: no symbol to ask (ccxt needs one)
    adapter.fetch_open_orders(symbol="LTC/USDT")

    (fill,) = adapter.fetch_fills()

    assert fill.exec_id == trade_case["parsedResponse"][0]["id"]
    (asked,) = transport.requests("GET", "myTrades")
    assert asked.params["symbol"] == "LTCUSDT"
