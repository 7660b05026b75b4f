"""The ccxt adapter when the venue fails: which typed error, and what it does (and never does) next.

The venue's failures are raised where they happen live: inside ccxt's `fetch` (a timeout after the
request went out, a 429) or as the venue's recorded error bodies, which ccxt's own `handle_errors`
turns into its exceptions.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from oms.venues.adapter import (
    CancelRequest,
    NotSupported,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    TransientVenueError,
    UnknownOutcome,
    VenueOrderStatus,
    VenueOrdType,
    VenueRejected,
    VenueSide,
)
from oms.venues.ccxt.errors import Operation, translate
from tests.ccxt_support import ErrorBody, cases, stubbed_adapter

# binance's answer to "is there an order with this clientOrderId": the recorded open LTC/USDT:USDT
# futures order (fetchOpenOrder case); our clOrdID is the one it was placed with
OPEN = cases("binance", "fetchOpenOrder")[0]
CL_ORD_ID = OPEN["parsedResponse"]["clientOrderId"]
ORDER_PATH = "/fapi/v1/order"
NO_SUCH_ORDER = ErrorBody(400, {"code": -2013, "msg": "Order does not exist."})


def _request(**overrides: object) -> PlaceRequest:
    fields: dict[str, object] = {
        "cl_ord_id": CL_ORD_ID,
        "symbol": "LTC/USDT:USDT",
        "side": VenueSide.BUY,
        "order_qty": Decimal("0.2"),
        "ord_type": VenueOrdType.LIMIT,
        "price": Decimal(50),
        "time_in_force": "GTC",
    }
    return PlaceRequest(**{**fields, **overrides})  # type: ignore[arg-type]  # the overrides are deliberately loosely typed test values


def _binance():
    return stubbed_adapter("binance", environment="demo")


# --- create: unknown outcome, resolved by clientOrderId, never resent ---------------------------


def test_a_create_timing_out_after_send_is_resolved_by_its_clordid_and_not_resent():
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ccxt.RequestTimeout("binance POST /fapi/v1/order"))
    transport.on("GET", ORDER_PATH, OPEN["httpResponse"])

    report = adapter.place_order(_request())

    assert len(transport.requests("POST")) == 1  # never resent
    (query,) = transport.requests("GET", ORDER_PATH)
    assert query.params["origClientOrderId"] == CL_ORD_ID
    assert (report.cl_ord_id, report.venue_order_id) == (CL_ORD_ID, OPEN["parsedResponse"]["id"])
    assert report.status == VenueOrderStatus.NEW


def test_a_create_timing_out_whose_order_the_venue_does_not_show_is_an_unknown_outcome_not_a_reject():
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ccxt.RequestTimeout("binance POST /fapi/v1/order"))
    transport.on("GET", ORDER_PATH, NO_SUCH_ORDER)
    transport.on("GET", "/fapi/v1/openOrders", [])

    with pytest.raises(UnknownOutcome) as raised:
        adapter.place_order(_request())

    assert not isinstance(raised.value, VenueRejected)
    assert isinstance(raised.value.__cause__, ccxt.RequestTimeout)
    assert len(transport.requests("POST")) == 1
    # the order may still land: asking again later is the caller's (and reconciliation's) move
    transport.routes.clear()
    transport.on("GET", ORDER_PATH, OPEN["httpResponse"])
    assert adapter.fetch_order(cl_ord_id=CL_ORD_ID, symbol="LTC/USDT:USDT") is not None


def test_a_create_whose_resolution_also_times_out_stays_unknown():
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ccxt.RequestTimeout("POST"))
    transport.on("GET", ORDER_PATH, ccxt.RequestTimeout("GET"))

    with pytest.raises(UnknownOutcome):
        adapter.place_order(_request())

    assert len(transport.requests("POST")) == 1


@pytest.mark.parametrize(
    "failure",
    [
        ccxt.NetworkError("connection reset after send"),
        ccxt.ExchangeNotAvailable("503 execution status unknown"),
        ErrorBody(
            400,
            {
                "code": -1007,
                "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            },
        ),
    ],
    ids=["connection-reset", "503", "binance-1007"],
)
def test_a_create_failing_in_any_way_that_may_have_executed_is_an_unknown_outcome(failure):
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, failure)
    transport.on("GET", ORDER_PATH, NO_SUCH_ORDER)
    transport.on("GET", "/fapi/v1/openOrders", [])

    with pytest.raises(UnknownOutcome):
        adapter.place_order(_request())

    assert len(transport.requests("POST")) == 1


def test_a_create_refused_as_a_duplicate_clordid_answers_the_order_already_there():
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ErrorBody(400, {"code": -4116, "msg": "ClientOrderId is duplicated."}))
    transport.on("GET", ORDER_PATH, OPEN["httpResponse"])

    report = adapter.place_order(_request())

    assert report.cl_ord_id == CL_ORD_ID and report.status == VenueOrderStatus.NEW
    assert len(transport.requests("POST")) == 1


# --- create: refusals ----------------------------------------------------------------------------


def test_a_rate_limited_create_is_rate_limited_and_nothing_is_asked_after_it():
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ErrorBody(429, {"code": -1003, "msg": "Too many requests."}))

    with pytest.raises(RateLimited) as raised:
        adapter.place_order(_request())

    assert isinstance(raised.value, TransientVenueError) and raised.value.retry_after > 0
    assert [s.method for s in transport.sent] == ["POST"]


@pytest.mark.parametrize(
    ("body", "ccxt_error"),
    [
        ({"code": -2010, "msg": "Order would immediately trigger."}, ccxt.InvalidOrder),
        ({"code": -2019, "msg": "Margin is insufficient."}, ccxt.InsufficientFunds),
        ({"code": -1121, "msg": "Invalid symbol."}, ccxt.BadSymbol),
    ],
    ids=["invalid-order", "insufficient-margin", "bad-symbol"],
)
def test_a_create_the_venue_refuses_is_rejected(body, ccxt_error):
    adapter, transport = _binance()
    transport.on("POST", ORDER_PATH, ErrorBody(400, body))

    with pytest.raises(VenueRejected) as raised:
        adapter.place_order(_request())

    assert isinstance(raised.value.__cause__, ccxt_error)
    assert body["msg"] in raised.value.message
    assert [s.method for s in transport.sent] == ["POST"]


def test_a_symbol_ccxt_does_not_know_is_rejected_before_anything_is_sent():
    adapter, transport = _binance()

    with pytest.raises(VenueRejected):
        adapter.place_order(_request(symbol="NOPE/USDT"))

    assert transport.sent == []


@pytest.mark.parametrize(
    "overrides",
    [{"time_in_force": "GTD"}, {"price": None}, {"ord_type": VenueOrdType.STOP, "stop_px": None}],
    ids=["gtd", "limit-without-price", "stop-without-stop-px"],
)
def test_an_order_ccxt_cannot_express_is_rejected_before_anything_is_sent(overrides):
    adapter, transport = _binance()

    with pytest.raises(VenueRejected):
        adapter.place_order(_request(**overrides))

    assert transport.sent == []


@pytest.mark.parametrize(
    "overrides",
    [{"order_qty": Decimal("0.0015")}, {"price": Decimal("50.005")}, {"order_qty": Decimal("0.0001")}],
    ids=["off-lot-qty", "off-tick-price", "below-one-lot"],
)
def test_an_order_off_the_markets_steps_is_rejected_rather_than_truncated_by_ccxt(overrides):
    adapter, transport = _binance()  # LTC/USDT:USDT: tick 0.01, lot 0.001

    with pytest.raises(VenueRejected, match=r"step|tick|precision"):
        adapter.place_order(_request(**overrides))

    assert transport.sent == []


def test_a_stop_order_is_sent_with_its_trigger_price():
    adapter, transport = _binance()
    transport.on("POST", "/fapi/v1/algoOrder", {**OPEN["httpResponse"], "type": "STOP"})
    transport.on("POST", ORDER_PATH, {**OPEN["httpResponse"], "type": "STOP"})

    adapter.place_order(_request(ord_type=VenueOrdType.STOP_LIMIT, stop_px=Decimal(55)))

    (sent,) = transport.requests("POST")
    assert (sent.params["type"], Decimal(sent.params["triggerPrice"]), Decimal(sent.params["price"])) == (
        "STOP",
        55,
        50,
    )
    assert CL_ORD_ID in (sent.params.get("clientAlgoId"), sent.params.get("newClientOrderId"))


# --- cancel --------------------------------------------------------------------------------------

CLOSED = cases("binance", "fetchOrder")[0]  # a FILLED LTC/USDT spot order


def _cancel(symbol: str = "LTC/USDT", venue_order_id: str | None = "3397148653") -> CancelRequest:
    return CancelRequest(
        cl_ord_id="cxl-1",
        orig_cl_ord_id=CLOSED["parsedResponse"]["clientOrderId"],
        symbol=symbol,
        venue_order_id=venue_order_id,
    )


def test_a_cancel_of_an_order_the_venue_no_longer_has_is_order_not_found_when_it_filled():
    adapter, transport = stubbed_adapter("binance")
    transport.on("DELETE", "/api/v3/order", ErrorBody(400, {"code": -2011, "msg": "Unknown order sent."}))
    transport.on("GET", "/api/v3/order", CLOSED["httpResponse"])

    with pytest.raises(OrderNotFound):
        adapter.cancel_order(_cancel())

    assert len(transport.requests("DELETE")) == 1


def test_a_repeated_cancel_of_a_canceled_order_answers_the_canceled_order():
    adapter, transport = stubbed_adapter("binance")
    transport.on("DELETE", "/api/v3/order", ErrorBody(400, {"code": -2011, "msg": "Unknown order sent."}))
    transport.on("GET", "/api/v3/order", {**CLOSED["httpResponse"], "status": "CANCELED", "executedQty": "0"})

    report = adapter.cancel_order(_cancel())

    assert report.status == VenueOrderStatus.CANCELED and report.leaves_qty == 0


def test_a_cancel_without_venue_order_id_names_the_order_by_its_clordid():
    adapter, transport = stubbed_adapter("binance")
    transport.on(
        "DELETE", "/api/v3/order", {**CLOSED["httpResponse"], "status": "CANCELED", "executedQty": "0"}
    )

    report = adapter.cancel_order(_cancel(venue_order_id=None))

    (sent,) = transport.requests("DELETE")
    assert sent.params["origClientOrderId"] == CLOSED["parsedResponse"]["clientOrderId"]
    assert report.status == VenueOrderStatus.CANCELED


def test_a_cancel_timing_out_is_resolved_by_the_order_and_is_unknown_while_it_still_works():
    adapter, transport = _binance()
    transport.on("DELETE", ORDER_PATH, ccxt.RequestTimeout("DELETE"))
    transport.on("GET", ORDER_PATH, OPEN["httpResponse"], {**OPEN["httpResponse"], "status": "CANCELED"})
    request = CancelRequest(
        cl_ord_id="cxl-2", orig_cl_ord_id=CL_ORD_ID, symbol="LTC/USDT:USDT", venue_order_id="664082074"
    )

    with pytest.raises(UnknownOutcome):
        adapter.cancel_order(request)  # the venue still shows it working: the cancel may yet land
    report = adapter.cancel_order(request)  # the venue now shows it canceled

    assert report.status == VenueOrderStatus.CANCELED
    assert len(transport.requests("DELETE")) == 2


# --- reads and the translation table -------------------------------------------------------------


def test_a_read_that_times_out_is_transient_not_unknown():
    adapter, transport = _binance()
    transport.on("GET", "/fapi/v1/openOrders", ccxt.RequestTimeout("GET"))

    with pytest.raises(TransientVenueError) as raised:
        adapter.fetch_open_orders(symbol="LTC/USDT:USDT")

    assert not isinstance(raised.value, UnknownOutcome)


def test_a_fetch_order_of_an_order_the_venue_never_had_is_none():
    adapter, transport = _binance()
    transport.on("GET", ORDER_PATH, NO_SUCH_ORDER)
    transport.on("GET", "/fapi/v1/openOrders", [])

    assert adapter.fetch_order(cl_ord_id="never-sent", symbol="LTC/USDT:USDT") is None


@pytest.mark.parametrize(
    ("exc", "on_read", "on_place"),
    [
        (ccxt.RequestTimeout("t"), TransientVenueError, UnknownOutcome),
        (ccxt.NetworkError("n"), TransientVenueError, UnknownOutcome),
        (ccxt.ExchangeNotAvailable("503"), TransientVenueError, UnknownOutcome),
        (ccxt.BadResponse("garbled"), TransientVenueError, UnknownOutcome),
        (ccxt.OnMaintenance("maintenance"), TransientVenueError, TransientVenueError),
        (ccxt.RateLimitExceeded("429"), RateLimited, RateLimited),
        (ccxt.DDoSProtection("418"), RateLimited, RateLimited),
        (ccxt.InvalidNonce("clock"), TransientVenueError, TransientVenueError),
        (ccxt.InvalidOrder("bad"), VenueRejected, VenueRejected),
        (ccxt.InsufficientFunds("poor"), VenueRejected, VenueRejected),
        (ccxt.BadSymbol("what"), VenueRejected, VenueRejected),
        (ccxt.AuthenticationError("keys"), VenueRejected, VenueRejected),
        (ccxt.OrderNotFound("gone"), OrderNotFound, OrderNotFound),
        (ccxt.NotSupported("no"), NotSupported, NotSupported),
        (KeyError("odd answer"), TransientVenueError, UnknownOutcome),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.__name__,
)
def test_ccxt_errors_translate_by_what_the_request_could_have_done(exc, on_read, on_place):
    read = translate(exc, "ccxt:x", Operation.READ)
    for changing in (Operation.PLACE, Operation.CANCEL, Operation.REPLACE):
        assert type(translate(exc, "ccxt:x", changing)) is on_place
    assert type(read) is on_read
    assert read.venue == "ccxt:x" and str(exc) in read.message
