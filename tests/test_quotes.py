"""RFQ through the command bus: quote requests and quotes, every command's happy path and refusals,
accepting a quote (one transaction creating the client order at the quoted price), expiry (by the
lifecycle job's commands, and refused acceptance before the job ran), the due selectors and replay.

The helpers and the `clock` fixture at the top are shared with tests/test_quotes_api.py.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from oms.core import dispatch as dispatch_module
from oms.core.dispatch import CommandResult, dispatch
from oms.core.errors import ApplicationError
from oms.core.eventstore import CommandContext
from oms.core.replay import replay
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from oms.quotes.models import Quote, QuoteEvent, QuoteIdKey, QuoteReqIdKey, QuoteRequest, QuoteRequestEvent
from oms.quotes.selectors import due_quote_requests, due_quotes
from tests.lifecycle import new_quote, new_request, quote_body, request_body

pytestmark = pytest.mark.django_db

# --- helpers (shared by tests/test_quotes_api.py) ------------------------------------------------


class Clock:
    """The time every command sees (CommandContext.now), moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def later(self, **delta: float) -> str:
        return (self.now + dt.timedelta(**delta)).isoformat().replace("+00:00", "Z")

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    real = CommandContext
    monkeypatch.setattr(dispatch_module, "CommandContext", lambda **kw: real(now=c.now, **kw))
    return c


def cmd(topic: str, command_type: str, actor: str = "trader", **fields: Any) -> CommandResult:
    return dispatch(topic, {"commandType": command_type, **fields}, actor=actor)


def refused(topic: str, command_type: str | None = None, **fields: Any) -> ApplicationError:
    """Send a command that must be refused; it must append nothing and change no row.

    `refused(topic, "XCommand", field=...)`, or `refused(topic, **body)` with a whole body."""
    body = {"commandType": command_type, **fields} if command_type else fields
    before = snapshot()
    with pytest.raises(ApplicationError) as info:
        dispatch(topic, body, actor="trader")
    assert snapshot() == before, f"{command_type} refused ({info.value.code}) but changed something"
    return info.value


def snapshot() -> tuple[Any, ...]:
    return (
        dict(QuoteRequest.objects.values_list("pk", "version")),
        dict(Quote.objects.values_list("pk", "version")),
        dict(Order.objects.values_list("pk", "version")),
        QuoteRequestEvent.objects.count(),
        QuoteEvent.objects.count(),
        OrderEvent.objects.count(),
        QuoteReqIdKey.objects.count(),
        QuoteIdKey.objects.count(),
        ClOrdIdKey.objects.count(),
    )


def state(model: type, pk: str) -> dict[str, Any]:
    return model.objects.get(pk=pk).doc  # type: ignore[attr-defined,no-any-return]  # the model is passed as a plain type: the manager and doc are not known


def assert_replays() -> None:
    report = replay()
    assert report.ok, "\n".join(str(d) for d in report.differences[:20])


# --- quote requests ------------------------------------------------------------------------------


def test_create_quote_request(clock: Clock) -> None:
    result = cmd(
        "quote-requests",
        "CreateQuoteRequestCommand",
        quoteReqID="RFQ-1",
        symbol="BTC-PERP",
        side="Sell",
        orderQty="2.5",
        account="ACC9",
        validUntilTime=clock.later(minutes=5),
        text="axe",
    )
    assert result.status_code == 201
    req = result.body["quoteRequest"]
    assert req["quoteRequestId"].startswith("R")
    assert (req["quoteReqID"], req["symbol"], req["side"], req["orderQty"], req["account"]) == (
        "RFQ-1",
        "BTC-PERP",
        "Sell",
        "2.5",
        "ACC9",
    )
    assert (req["status"], req["version"], req["quoteIds"], req["orderId"]) == ("Open", 1, [], None)
    assert req["validUntilTime"] == clock.later(minutes=5)
    assert [(e["topic"], e["type"], e["actor"]) for e in result.events] == [
        ("quote-request-events", "QuoteRequestCreated", "trader")
    ]
    assert state(QuoteRequest, req["quoteRequestId"]) == req
    row = QuoteRequest.objects.get(pk=req["quoteRequestId"])
    assert (row.status, row.symbol, row.side, str(row.order_qty.normalize())) == (
        "Open",
        "BTC-PERP",
        "Sell",
        "2.5",
    )


def test_quote_request_validation_reports_every_field() -> None:
    err = refused(
        "quote-requests",
        "CreateQuoteRequestCommand",
        side="Hold",
        orderQty="-1",
        validUntilTime="tomorrow",
    )
    assert err.code == "validation_failed"
    assert set(err.fields) == {"quoteReqID", "symbol", "side", "orderQty", "account", "validUntilTime"}
    assert "is not one of" in err.fields["side"][0]
    assert err.fields["orderQty"] == ["Must be greater than zero."]


def test_quote_request_valid_until_time_must_be_in_the_future(clock: Clock) -> None:
    err = refused("quote-requests", **request_body(validUntilTime=clock.later(seconds=-1)))
    assert (err.code, err.fields) == ("validation_failed", {"validUntilTime": ["Must be in the future."]})


def test_quote_req_id_is_idempotent_and_refuses_different_content() -> None:
    body = request_body()
    first = dispatch("quote-requests", body, actor="trader")
    again = dispatch("quote-requests", dict(body), actor="trader")
    assert (again.status_code, again.body["duplicate"], again.events) == (200, True, [])
    assert again.body["quoteRequest"] == first.body["quoteRequest"]
    err = refused("quote-requests", **{**body, "orderQty": "11"})
    assert (err.code, list(err.fields)) == ("duplicate_cl_ord_id", ["quoteReqID"])
    assert QuoteRequest.objects.count() == 1


def test_cancel_quote_request_closes_its_active_quotes() -> None:
    req = new_request()
    q1, q2 = new_quote(req), new_quote(req)
    cmd("quotes", "CancelQuoteCommand", quoteId=q2["quoteId"])
    result = cmd(
        "quote-requests", "CancelQuoteRequestCommand", quoteRequestId=req["quoteRequestId"], text="no more"
    )
    assert result.body["quoteRequest"]["status"] == "Canceled"
    assert result.body["quoteRequest"]["text"] == "no more"
    assert [(e["type"], e["aggregateId"]) for e in result.events] == [
        ("QuoteRequestCanceled", req["quoteRequestId"]),
        ("QuoteCanceled", q1["quoteId"]),
    ]
    assert result.events[1]["data"]["reason"] == "QuoteRequestCanceled"
    assert state(Quote, q1["quoteId"])["status"] == "Canceled"
    assert state(Quote, q2["quoteId"])["version"] == 2  # already canceled: not touched again
    assert_replays()


def test_reject_quote_request_by_the_desk() -> None:
    req = new_request()
    result = cmd(
        "quote-requests", "RejectQuoteRequestCommand", quoteRequestId=req["quoteRequestId"], text="no axe"
    )
    assert (result.body["quoteRequest"]["status"], result.body["quoteRequest"]["text"]) == (
        "Rejected",
        "no axe",
    )
    assert [e["type"] for e in result.events] == ["QuoteRequestRejected"]


@pytest.mark.parametrize(
    "command_type", ["CancelQuoteRequestCommand", "RejectQuoteRequestCommand", "ExpireQuoteRequestCommand"]
)
def test_closed_quote_request_refuses_every_command(clock: Clock, command_type: str) -> None:
    req = new_request(validUntilTime=clock.later(seconds=30))
    cmd("quote-requests", "CancelQuoteRequestCommand", quoteRequestId=req["quoteRequestId"])
    clock.advance(minutes=1)
    err = refused("quote-requests", command_type, quoteRequestId=req["quoteRequestId"])
    assert (err.code, err.extra["current"]) == ("invalid_transition", "Canceled")
    err = refused("quotes", **quote_body(req))
    assert (err.code, err.extra["current"], err.extra["trigger"]) == (
        "invalid_transition",
        "Canceled",
        "CreateQuote",
    )


def test_unknown_ids_are_404() -> None:
    for topic, command_type, field in (
        ("quote-requests", "CancelQuoteRequestCommand", "quoteRequestId"),
        ("quote-requests", "ExpireQuoteRequestCommand", "quoteRequestId"),
        ("quotes", "AcceptQuoteCommand", "quoteId"),
        ("quotes", "RejectQuoteCommand", "quoteId"),
        ("quotes", "CancelQuoteCommand", "quoteId"),
        ("quotes", "ExpireQuoteCommand", "quoteId"),
    ):
        err = refused(topic, command_type, **{field: "nope"})
        assert (err.code, list(err.fields)) == ("not_found", [field]), command_type
        err = refused(topic, command_type)
        assert (err.code, list(err.fields)) == ("validation_failed", [field]), command_type


def test_expected_version_mismatch_is_a_version_conflict() -> None:
    req = new_request()
    quote = new_quote(req)
    err = refused(
        "quote-requests", "CancelQuoteRequestCommand", quoteRequestId=req["quoteRequestId"], expectedVersion=1
    )
    assert (err.code, err.fields) == ("version_conflict", {"expectedVersion": ["Current version is 2."]})
    err = refused("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"], expectedVersion=7)
    assert err.code == "version_conflict"
    err = refused("quotes", "CancelQuoteCommand", quoteId=quote["quoteId"], expectedVersion=0)
    assert err.code == "version_conflict"
    ok = cmd("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"], expectedVersion=1)
    assert ok.body["quote"]["status"] == "Accepted"


# --- quotes --------------------------------------------------------------------------------------


def test_create_quote_marks_the_request_quoted() -> None:
    req = new_request(side="Buy", orderQty="10")
    result = cmd(
        "quotes",
        "CreateQuoteCommand",
        actor="dealer",
        quoteID="QT-1",
        quoteReqID=req["quoteReqID"],
        offerPx="101.5",
        offerSize="4",
    )
    assert result.status_code == 201
    quote, request = result.body["quote"], result.body["quoteRequest"]
    assert quote["quoteId"].startswith("Q") and quote["quoteID"] == "QT-1"
    assert (
        quote["quoteRequestId"],
        quote["quoteReqID"],
        quote["symbol"],
        quote["side"],
        quote["account"],
    ) == (
        req["quoteRequestId"],
        req["quoteReqID"],
        "BTC-PERP",
        "Buy",
        "ACC1",
    )
    assert (quote["status"], quote["offerPx"], quote["offerSize"], quote["bidPx"], quote["version"]) == (
        "Active",
        "101.5",
        "4",
        None,
        1,
    )
    assert (request["status"], request["quoteIds"], request["version"]) == ("Quoted", [quote["quoteId"]], 2)
    assert [(e["topic"], e["type"]) for e in result.events] == [
        ("quote-events", "QuoteCreated"),
        ("quote-request-events", "QuoteRequestQuoted"),
    ]
    assert result.events[1]["seq"] == result.events[0]["seq"] + 1
    assert {e["correlationId"] for e in result.events} == {result.events[0]["correlationId"]}
    second = new_quote(req, offerPx="101")
    assert state(QuoteRequest, req["quoteRequestId"])["quoteIds"] == [quote["quoteId"], second["quoteId"]]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"bidPx": None, "offerPx": None, "bidSize": None, "offerSize": None}, {"non_field_errors"}),
        ({"bidPx": "102", "offerPx": "101"}, {"offerPx"}),  # crossed
        ({"bidPx": None}, {"bidSize"}),  # a size without its price
        ({"offerPx": "0", "bidSize": "-1"}, {"offerPx", "bidSize"}),
        ({"quoteID": None, "quoteReqID": None, "bidPx": "x"}, {"quoteID", "quoteReqID", "bidPx"}),
        ({"validUntilTime": "soon"}, {"validUntilTime"}),
    ],
)
def test_quote_validation(overrides: dict[str, Any], fields: set[str]) -> None:
    req = new_request()
    err = refused("quotes", **quote_body(req, **overrides))
    assert err.code == "validation_failed"
    assert set(err.fields) == fields, err.fields


def test_quote_must_price_the_side_the_client_trades() -> None:
    buy, sell = new_request(side="Buy"), new_request(side="SellShort")
    err = refused("quotes", **quote_body(buy, offerPx=None, offerSize=None))
    assert (err.code, list(err.fields)) == ("validation_failed", ["offerPx"])
    err = refused("quotes", **quote_body(sell, bidPx=None, bidSize=None))
    assert (err.code, list(err.fields)) == ("validation_failed", ["bidPx"])
    assert new_quote(sell, offerPx=None, offerSize=None)["bidPx"] == "99"  # one-way quotes are fine


def test_quote_for_an_unknown_request_is_404() -> None:
    err = refused("quotes", **quote_body({"quoteReqID": "missing"}))
    assert (err.code, list(err.fields)) == ("not_found", ["quoteReqID"])


def test_quote_id_is_idempotent_and_refuses_different_content() -> None:
    req = new_request()
    body = quote_body(req)
    first = dispatch("quotes", body, actor="dealer")
    again = dispatch("quotes", dict(body), actor="dealer")
    assert (again.status_code, again.body["duplicate"], again.events) == (200, True, [])
    assert again.body["quote"] == first.body["quote"]
    err = refused("quotes", **{**body, "offerPx": "100.5"})
    assert (err.code, list(err.fields)) == ("duplicate_cl_ord_id", ["quoteID"])


def test_quote_validity(clock: Clock) -> None:
    req = new_request(validUntilTime=clock.later(minutes=1))
    err = refused("quotes", **quote_body(req, validUntilTime=clock.later(seconds=0)))
    assert (err.code, err.fields) == ("validation_failed", {"validUntilTime": ["Must be in the future."]})
    clock.advance(minutes=1)  # the request's validUntilTime: expired, even before the job ran
    err = refused("quotes", **quote_body(req))
    assert (err.code, err.extra["trigger"]) == ("invalid_transition", "CreateQuote")
    assert "expired" in err.message


def test_reject_and_cancel_quote() -> None:
    req = new_request()
    q1, q2 = new_quote(req), new_quote(req)
    rejected = cmd("quotes", "RejectQuoteCommand", quoteId=q1["quoteId"], text="too wide")
    assert (rejected.body["quote"]["status"], rejected.body["quote"]["text"]) == ("Rejected", "too wide")
    assert [e["type"] for e in rejected.events] == ["QuoteRejected"]
    canceled = cmd("quotes", "CancelQuoteCommand", quoteId=q2["quoteId"])
    assert canceled.body["quote"]["status"] == "Canceled"
    for command_type in ("RejectQuoteCommand", "CancelQuoteCommand", "AcceptQuoteCommand"):
        for quote in (q1, q2):
            err = refused("quotes", command_type, quoteId=quote["quoteId"])
            assert err.code == "invalid_transition"
    # the request stays open for another quote
    assert state(QuoteRequest, req["quoteRequestId"])["status"] == "Quoted"
    new_quote(req)


# --- accepting a quote ---------------------------------------------------------------------------


def test_accept_buy_creates_the_client_order_at_the_offer_in_one_transaction() -> None:
    req = new_request(side="Buy", orderQty="10")
    taken = new_quote(req, offerPx="101.25", offerSize="6")
    other = new_quote(req, offerPx="102")
    dead = new_quote(req)
    cmd("quotes", "RejectQuoteCommand", quoteId=dead["quoteId"])
    result = cmd("quotes", "AcceptQuoteCommand", actor="client1", quoteId=taken["quoteId"], text="done")
    assert result.status_code == 200
    order, quote, request = result.body["order"], result.body["quote"], result.body["quoteRequest"]
    # the client order: the request's terms at the quoted price, for what the quote covers
    assert (order["kind"], order["status"], order["side"], order["symbol"], order["account"]) == (
        "Client",
        "New",
        "Buy",
        "BTC-PERP",
        "ACC1",
    )
    assert (order["ordType"], order["price"], order["orderQty"], order["timeInForce"]) == (
        "Limit",
        "101.25",
        "6",
        "Day",
    )
    assert order["clOrdID"] == f"{taken['quoteId']}-A"
    assert order["attributes"] == {
        "quoteId": taken["quoteId"],
        "quoteID": taken["quoteID"],
        "quoteRequestId": req["quoteRequestId"],
        "quoteReqID": req["quoteReqID"],
    }
    assert order["handling"] == "Desk"  # no venue: the desk places it
    assert (quote["status"], quote["orderId"], quote["acceptedPx"], quote["acceptedQty"]) == (
        "Accepted",
        order["orderId"],
        "101.25",
        "6",
    )
    assert quote["orderClOrdID"] == order["clOrdID"]
    assert (request["status"], request["orderId"], request["acceptedQuoteId"]) == (
        "Accepted",
        order["orderId"],
        taken["quoteId"],
    )
    assert result.body["closedQuotes"][0]["quoteId"] == other["quoteId"]
    # one commit: contiguous seq, one correlation id, the accept command on every event
    # (the new order's open quantity follows on position-events, in the same commit)
    mine = [e for e in result.events if e["topic"] != "position-events"]
    assert [(e["type"], e["aggregateId"]) for e in mine] == [
        ("OrderCreated", order["orderId"]),
        ("QuoteAccepted", taken["quoteId"]),
        ("QuoteRequestAccepted", req["quoteRequestId"]),
        ("QuoteCanceled", other["quoteId"]),
    ]
    seqs = [e["seq"] for e in result.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(result.events)))
    assert {e["correlationId"] for e in result.events} == {result.events[0]["correlationId"]}
    assert {e["command"]["commandType"] for e in result.events} == {"AcceptQuoteCommand"}
    assert {e["actor"] for e in result.events} == {"client1"}
    assert mine[3]["data"]["reason"] == "OtherQuoteAccepted"
    assert state(Order, order["orderId"]) == order
    assert state(Quote, other["quoteId"])["status"] == "Canceled"
    assert state(Quote, dead["quoteId"])["status"] == "Rejected"
    assert ClOrdIdKey.objects.filter(pk=order["clOrdID"], order_id=order["orderId"]).exists()
    assert_replays()


def test_accept_sell_takes_the_bid_and_caps_the_quantity_at_the_request() -> None:
    req = new_request(side="Sell", orderQty="3")
    quote = new_quote(req, bidPx="98.5", bidSize="50", offerPx=None, offerSize=None)
    order = cmd("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"], clOrdID="MY-ORDER-1").body["order"]
    assert (order["side"], order["price"], order["orderQty"], order["clOrdID"]) == (
        "Sell",
        "98.5",
        "3",
        "MY-ORDER-1",
    )


def test_accept_without_a_size_takes_the_requested_quantity() -> None:
    req = new_request(side="Buy", orderQty="7")
    quote = new_quote(req, offerSize=None)
    order = cmd("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"]).body["order"]
    assert (order["price"], order["orderQty"]) == ("101", "7")


def test_accepted_auto_order_is_placed_like_any_client_order(django_capture_on_commit_callbacks: Any) -> None:
    req = new_request(side="Buy", orderQty="5")
    quote = new_quote(req)
    with django_capture_on_commit_callbacks(execute=True):
        order = cmd(
            "quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"], venue="BINANCE", handling="Auto"
        ).body["order"]
    assert order["handling"] == "Auto"
    children = list(Order.objects.filter(parent_id=order["orderId"]).values_list("doc", flat=True))
    assert [(c["kind"], c["venue"], c["orderQty"], c["price"]) for c in children] == [
        ("Market", "BINANCE", "5", "101")
    ]


def test_accept_with_a_used_clordid_appends_nothing() -> None:
    used = cmd(
        "orders",
        "CreateOrderCommand",
        clOrdID="TAKEN",
        symbol="X",
        side="Buy",
        orderQty="1",
        ordType="Market",
        account="A",
        handling="Desk",
    )
    assert used.status_code == 201
    req = new_request()
    quote = new_quote(req)
    err = refused("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"], clOrdID="TAKEN")
    assert (err.code, list(err.fields)) == ("duplicate_cl_ord_id", ["clOrdID"])
    assert state(Quote, quote["quoteId"])["status"] == "Active"


def test_accept_validation_errors_per_field() -> None:
    quote = new_quote(new_request())
    err = refused(
        "quotes",
        "AcceptQuoteCommand",
        quoteId=quote["quoteId"],
        handling="Robot",
        clOrdID="x" * 65,
        expectedVersion=-1,
    )
    assert err.code == "validation_failed"
    assert set(err.fields) == {"handling", "clOrdID", "expectedVersion"}


def test_a_quote_is_accepted_once_and_its_siblings_cannot_be_accepted_after() -> None:
    req = new_request()
    q1, q2 = new_quote(req), new_quote(req)
    cmd("quotes", "AcceptQuoteCommand", quoteId=q1["quoteId"])
    err = refused("quotes", "AcceptQuoteCommand", quoteId=q1["quoteId"])
    assert (err.code, err.extra["current"], err.extra["trigger"]) == (
        "invalid_transition",
        "Accepted",
        "AcceptQuote",
    )
    err = refused("quotes", "AcceptQuoteCommand", quoteId=q2["quoteId"])
    assert (err.code, err.extra["current"]) == ("invalid_transition", "Canceled")
    err = refused("quotes", **quote_body(req))
    assert (err.code, err.extra["current"]) == ("invalid_transition", "Accepted")
    err = refused("quote-requests", "CancelQuoteRequestCommand", quoteRequestId=req["quoteRequestId"])
    assert err.code == "invalid_transition"
    assert Order.objects.count() == 1


def test_expired_quote_cannot_be_accepted_before_the_job_ran(clock: Clock) -> None:
    req = new_request(validUntilTime=clock.later(minutes=10))
    quote = new_quote(req, validUntilTime=clock.later(seconds=30))
    clock.advance(seconds=30)  # validUntilTime <= now
    err = refused("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"])
    assert (err.code, err.extra["trigger"]) == ("invalid_transition", "AcceptQuote")
    assert "expired" in err.message
    assert Order.objects.count() == 0


def test_quote_of_an_expired_request_cannot_be_accepted(clock: Clock) -> None:
    req = new_request(validUntilTime=clock.later(seconds=30))
    quote = new_quote(req, validUntilTime=clock.later(minutes=10))
    clock.advance(minutes=1)
    err = refused("quotes", "AcceptQuoteCommand", quoteId=quote["quoteId"])
    assert err.code == "invalid_transition" and "quote request expired" in err.message


def test_accept_with_an_idempotency_key_replays_the_first_answer() -> None:
    quote = new_quote(new_request())
    body = {"commandType": "AcceptQuoteCommand", "quoteId": quote["quoteId"]}
    first = dispatch("quotes", body, actor="trader", idempotency_key="k-1")
    before = snapshot()
    again = dispatch("quotes", dict(body), actor="trader", idempotency_key="k-1")
    assert (again.status_code, again.body) == (first.status_code, first.body)
    assert snapshot() == before


# --- expiry (the lifecycle job's commands) and the due selectors ---------------------------------


def test_expire_commands_refuse_what_is_not_due(clock: Clock) -> None:
    req = new_request(validUntilTime=clock.later(minutes=1))
    quote = new_quote(req, validUntilTime=clock.later(seconds=30))
    forever = new_quote(req)
    for topic, command_type, field, target in (
        ("quote-requests", "ExpireQuoteRequestCommand", "quoteRequestId", req["quoteRequestId"]),
        ("quotes", "ExpireQuoteCommand", "quoteId", quote["quoteId"]),
        ("quotes", "ExpireQuoteCommand", "quoteId", forever["quoteId"]),
    ):
        err = refused(topic, command_type, **{field: target})
        assert err.code == "invalid_transition" and "not yet due" in err.message


def test_due_selectors_and_expiry(clock: Clock) -> None:
    t0 = clock.now
    early = new_request(validUntilTime=clock.later(seconds=10))
    late = new_request(validUntilTime=clock.later(minutes=10))
    never = new_request()
    done = new_request(validUntilTime=clock.later(seconds=5))
    cmd("quote-requests", "CancelQuoteRequestCommand", quoteRequestId=done["quoteRequestId"])
    q_early = new_quote(late, validUntilTime=clock.later(seconds=20))
    q_late = new_quote(late, validUntilTime=clock.later(minutes=5))
    q_never = new_quote(never)
    q_taken = new_quote(early, validUntilTime=clock.later(seconds=1))
    cmd("quotes", "AcceptQuoteCommand", quoteId=q_taken["quoteId"])
    early = state(QuoteRequest, early["quoteRequestId"])

    assert due_quote_requests(t0) == [] and due_quotes(t0) == []
    at = t0 + dt.timedelta(seconds=20)
    assert due_quote_requests(at) == []  # `early` was accepted
    assert due_quotes(at) == [q_early["quoteId"]]
    at = t0 + dt.timedelta(minutes=10)
    assert due_quote_requests(at) == [late["quoteRequestId"]]
    assert due_quotes(at) == [q_early["quoteId"], q_late["quoteId"]]
    assert due_quotes(at, limit=1) == [q_early["quoteId"]]

    clock.advance(minutes=10)
    for quote_id in due_quotes(clock.now):
        result = cmd("quotes", "ExpireQuoteCommand", actor="system:lifecycle", quoteId=quote_id)
        assert result.body["quote"]["status"] == "Expired"
        assert [(e["type"], e["actor"]) for e in result.events] == [("QuoteExpired", "system:lifecycle")]
    for request_id in due_quote_requests(clock.now):
        result = cmd(
            "quote-requests", "ExpireQuoteRequestCommand", actor="system:lifecycle", quoteRequestId=request_id
        )
        assert result.body["quoteRequest"]["status"] == "Expired"
        assert [e["type"] for e in result.events] == ["QuoteRequestExpired"]  # its quotes already expired
    assert due_quotes(clock.now) == [] and due_quote_requests(clock.now) == []
    assert state(Quote, q_never["quoteId"])["status"] == "Active"
    assert state(QuoteRequest, never["quoteRequestId"])["status"] == "Quoted"
    assert state(QuoteRequest, early["quoteRequestId"])["status"] == "Accepted"
    assert_replays()


def test_expiring_a_request_closes_its_active_quotes(clock: Clock) -> None:
    req = new_request(validUntilTime=clock.later(seconds=10))
    quote = new_quote(req)
    clock.advance(seconds=10)
    result = cmd(
        "quote-requests",
        "ExpireQuoteRequestCommand",
        actor="system:lifecycle",
        quoteRequestId=req["quoteRequestId"],
    )
    assert [e["type"] for e in result.events] == ["QuoteRequestExpired", "QuoteCanceled"]
    assert state(Quote, quote["quoteId"])["status"] == "Canceled"
    assert result.events[1]["data"]["reason"] == "QuoteRequestExpired"


# --- replay --------------------------------------------------------------------------------------


def test_replay_verifies_and_rebuilds_quotes_and_their_natural_keys(clock: Clock) -> None:
    req = new_request()
    taken, other = new_quote(req), new_quote(req)
    cmd("quotes", "AcceptQuoteCommand", quoteId=taken["quoteId"])
    canceled = new_request()
    new_quote(canceled)
    cmd("quote-requests", "CancelQuoteRequestCommand", quoteRequestId=canceled["quoteRequestId"])
    assert_replays()
    report = replay()
    assert {t.name: t.aggregates for t in report.types}["quote"] == 3
    assert {t.name: t.aggregates for t in report.types}["quote_request"] == 2

    # damage: a state row, a typed column and a natural key
    row = Quote.objects.get(pk=other["quoteId"])
    Quote.objects.filter(pk=row.pk).update(doc={**row.doc, "status": "Active"}, status="Active")
    QuoteRequest.objects.filter(pk=req["quoteRequestId"]).update(symbol="ETH-PERP")
    QuoteReqIdKey.objects.filter(pk=canceled["quoteReqID"]).delete()
    report = replay()
    found = {(d.aggregate, d.where, d.field) for d in report.differences}
    assert ("quote", "state row", "status") in found
    assert ("quote", "column", "status") in found
    assert ("quote_request", "column", "symbol") in found
    assert ("quote_request", "index quote_req_id_keys", canceled["quoteReqID"]) in found
    with pytest.raises(CommandError):
        call_command("replay", "--verify", "--type", "quote", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("replay", "--rebuild", stdout=out, stderr=io.StringIO())
    assert "quote_request: 2 aggregates" in out.getvalue()
    out = io.StringIO()
    call_command("replay", "--verify", "--type", "quote", "--type", "quote_request", stdout=out)
    assert "0 difference(s)" in out.getvalue()
    assert_replays()
    assert state(Quote, other["quoteId"])["status"] == "Canceled"
    assert QuoteReqIdKey.objects.filter(pk=canceled["quoteReqID"]).exists()


# --- concurrency ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_of_one_request_let_exactly_one_win() -> None:
    """Each thread has its own connection and commits: the request row lock (PostgreSQL) or the
    database lock (SQLite) lets one accept through; the others find their quote closed (409)."""
    import threading

    from django.db import connections

    req = new_request(orderQty="10")
    quotes = [new_quote(req, offerPx=str(100 + i)) for i in range(4)]
    outcomes: list[Any] = []
    barrier = threading.Barrier(len(quotes))

    def accept(quote_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes.append(cmd("quotes", "AcceptQuoteCommand", quoteId=quote_id).status_code)
        except ApplicationError as exc:
            outcomes.append(exc.code)
        except BaseException as exc:  # asserted below
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(q["quoteId"],)) for q in quotes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(map(str, outcomes)) == [
        "200",
        "invalid_transition",
        "invalid_transition",
        "invalid_transition",
    ]
    statuses = sorted(
        Quote.objects.filter(quote_request_id=req["quoteRequestId"]).values_list("status", flat=True)
    )
    assert statuses == ["Accepted", "Canceled", "Canceled", "Canceled"]
    assert Order.objects.count() == 1
    assert_replays()
