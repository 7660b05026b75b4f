"""The blotter's RFQ forms over Django's test client (blotter/rfq_forms.py through blotter/form_views.py).

Every form: GET renders with its prefill (409 when it does not apply, 404 for an unknown target),
a valid POST sends exactly one command through dispatch as the logged-in user, bad input answers
400 with the error next to its field and appends nothing, the handler's refusals come back onto the
form, a resubmitted form appends once, accepting a large notional needs the confirmation, viewers
are refused. Helpers are tests/test_blotter_forms.py's.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from oms.core import dispatch as dispatch_module
from oms.core.dispatch import dispatch
from oms.core.eventstore import CommandContext
from oms.orders.models import Order
from oms.quotes.models import Quote, QuoteRequest
from tests.conftest import uid
from tests.test_blotter_forms import (
    URL,
    event_count,
    events_since,
    field_errors,
    fill_in,
    form_data,
    login,
    ok,
    one_command,
    render,
    submit,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
RFQ_FORMS = (
    "rfq-new",
    "rfq-quote",
    "rfq-cancel",
    "rfq-reject",
    "quote-accept",
    "quote-reject",
    "quote-cancel",
)


@pytest.fixture
def web(desk_user: User) -> Client:
    return login(desk_user)


# --- setup through the command bus (another desk member, not the form under test) ---------------------
def rfq(side: str = "Buy", qty: str = "100", **fields: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateQuoteRequestCommand",
        "quoteReqID": uid("RQ"),
        "symbol": "ACME",
        "side": side,
        "orderQty": qty,
        "account": "ACC1",
        **fields,
    }
    return dispatch("quote-requests", body, actor="setup").body["quoteRequest"]


def quote(request: dict[str, Any], **prices: str) -> dict[str, Any]:
    body = {"commandType": "CreateQuoteCommand", "quoteID": uid("QQ"), "quoteReqID": request["quoteReqID"]}
    body.update(prices or {"bidPx": "9.5", "offerPx": "10.5"})
    return dispatch("quotes", body, actor="setup").body["quote"]


def request_doc(request: dict[str, Any]) -> dict[str, Any]:
    return QuoteRequest.objects.get(pk=request["quoteRequestId"]).doc


def quote_doc(q: dict[str, Any]) -> dict[str, Any]:
    return Quote.objects.get(pk=q["quoteId"]).doc


def non_field(response: Any) -> str:
    form = response.context["form"]
    return " ".join([*form.non_field_errors(), *form.hidden_errors])


def in_the_past(monkeypatch: pytest.MonkeyPatch, **kw: float) -> str:
    """A validUntilTime that has passed, accepted by a handler that believes it is an hour ago."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    real = CommandContext
    monkeypatch.setattr(
        dispatch_module, "CommandContext", lambda **ctx: real(now=now - dt.timedelta(hours=1), **ctx)
    )
    return (now - dt.timedelta(**kw)).isoformat().replace("+00:00", "Z")


NEW_RFQ = {
    "side": "Buy",
    "symbol": "ACME",
    "orderQty": "250",
    "account": "ACC9",
    "text": "client on the phone",
}


# --- who may use them -----------------------------------------------------------------------------------
def test_viewer_is_refused_on_every_rfq_form_and_nothing_changes(viewer_user: User) -> None:
    request = rfq()
    q = quote(request)
    web = login(viewer_user)
    before = event_count()
    params = {"quoteRequestId": request["quoteRequestId"], "quoteId": q["quoteId"]}
    for action in RFQ_FORMS:
        response = web.get(URL.format(action), params)
        assert response.status_code == 403, action
        assert response.json()["error"]["code"] == "permission_denied"
    assert web.post(URL.format("rfq-new"), {**NEW_RFQ, "token": "a" * 32}).status_code == 403
    forged = web.post(URL.format("quote-accept"), {"quoteId": q["quoteId"], "token": "b" * 32})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "permission_denied"
    assert event_count() == before
    assert quote_doc(q)["status"] == "Active" and not Order.objects.exists()


def test_unknown_rfq_targets_are_404(web: Client) -> None:
    response = web.get(URL.format("rfq-quote"), {"quoteRequestId": "R-missing"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No quote request 'R-missing'.",
        "fields": {},
    }
    response = web.get(URL.format("quote-accept"), {"quoteId": "Q-missing"})
    assert response.status_code == 404 and response.json()["error"]["message"] == "No quote 'Q-missing'."


def test_anonymous_user_is_sent_to_login(client: Client) -> None:
    response = client.get(URL.format("rfq-new"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- new quote request ------------------------------------------------------------------------------------
def test_new_rfq_renders_with_a_generated_key_and_sends_one_create_as_the_user(web: Client) -> None:
    page = render(web, "rfq-new")
    html = page.content.decode()
    assert 'data-oms-form="rfq-new"' in html and "csrfmiddlewaretoken" in html and "novalidate" in html
    form = page.context["form"]
    assert form["quoteReqID"].value() == "RFQ-" + form["token"].value()[:12].upper()
    assert form["side"].value() is None  # the desk picks the client's side on purpose
    data = {**form_data(page), **NEW_RFQ, "validUntilTime": "2099-01-02T15:30"}
    before = event_count()

    body = ok(submit(web, "rfq-new", data))

    assert one_command(before) == {
        "commandType": "CreateQuoteRequestCommand",
        "quoteReqID": data["quoteReqID"],
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "250",
        "account": "ACC9",
        "validUntilTime": "2099-01-02T15:30:00Z",
        "text": "client on the phone",
    }
    request = QuoteRequest.objects.get(quote_req_id=data["quoteReqID"]).doc
    assert body["result"]["quoteRequest"] == request and request["status"] == "Open"
    assert body["message"] == f"RFQ {data['quoteReqID']}: client Buy 250 ACME (ACC9) is Open"
    assert body["replayed"] is False


def test_new_rfq_resubmitted_appends_once_with_the_key_from_the_token(web: Client) -> None:
    data = {**form_data(render(web, "rfq-new")), **NEW_RFQ, "quoteReqID": ""}
    before = event_count()
    first = ok(submit(web, "rfq-new", data))
    after_first = event_count()
    second = ok(submit(web, "rfq-new", data))

    assert after_first == before + 1 and event_count() == after_first
    assert second["replayed"] is True and second["result"]["quoteRequest"] == first["result"]["quoteRequest"]
    assert first["result"]["quoteRequest"]["quoteReqID"] == "RFQ-" + data["token"][:12].upper()
    assert QuoteRequest.objects.count() == 1


def test_new_rfq_bad_input_shows_field_errors_and_appends_nothing(web: Client) -> None:
    before = event_count()
    response = fill_in(
        web, "rfq-new", symbol="", orderQty="-3", side="Sideways", account="ACC1", validUntilTime="soon"
    )
    errors = field_errors(response)
    assert errors["symbol"] == ["This field is required."]
    assert errors["orderQty"] == ["Must be greater than zero."]
    assert errors["validUntilTime"] == ["Enter a valid date/time."]
    assert "side" in errors
    assert response["X-OMS-Error-Code"] == "validation_failed"
    assert 'data-field="orderQty"' in response.content.decode()
    assert event_count() == before


def test_new_rfq_refused_by_the_handler_lands_on_the_fields(web: Client) -> None:
    taken = rfq(qty="5")["quoteReqID"]
    page = render(web, "rfq-new")
    before = event_count()

    past = submit(web, "rfq-new", {**form_data(page), **NEW_RFQ, "validUntilTime": "2001-01-01T10:00"})
    assert field_errors(past)["validUntilTime"] == ["Must be in the future."]
    assert past["X-OMS-Error-Code"] == "validation_failed"
    assert past.context["form"]["token"].value() != form_data(page)["token"]  # a fresh token

    data = {**form_data(render(web, "rfq-new")), **NEW_RFQ, "quoteReqID": taken}
    duplicate = submit(web, "rfq-new", data)
    assert field_errors(duplicate)["quoteReqID"] == ["Already used with different content."]
    assert duplicate["X-OMS-Error-Code"] == "duplicate_cl_ord_id"
    # the refused form posted again with its old token: dispatch's recorded refusal, once more
    again = submit(web, "rfq-new", data)
    assert field_errors(again)["quoteReqID"] == ["Already used with different content."]
    assert again["X-OMS-Error-Code"] == "duplicate_cl_ord_id"
    assert event_count() == before


# --- quote a request -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "prefilled", "empty"),
    [
        ("Buy", "offerSize", "bidSize"),
        ("Sell", "bidSize", "offerSize"),
        ("SellShort", "bidSize", "offerSize"),
    ],
)
def test_quote_prefills_the_request_and_the_size_the_client_trades(
    web: Client, side: str, prefilled: str, empty: str
) -> None:
    request = rfq(side, "40")
    page = render(web, "rfq-quote", quoteRequestId=request["quoteRequestId"])
    form = page.context["form"]
    assert form["quoteReqID"].value() == request["quoteReqID"]
    assert form[prefilled].value() == "40" and form[empty].value() is None
    assert form["quoteID"].value() == "QT-" + form["token"].value()[:12].upper()
    assert form["quoteRequestId"].value() == request["quoteRequestId"]
    html = page.content.decode()
    assert f"RFQ {request['quoteReqID']}" in html and "disabled" in html


def test_quote_sends_one_create_quote_with_the_requests_key(web: Client) -> None:
    request = rfq("Buy", "100")
    page = render(web, "rfq-quote", quoteRequestId=request["quoteRequestId"])
    # a forged quoteReqID changes nothing: the key is the target request's
    data = {**form_data(page), "bidPx": "9.9", "offerPx": "10.1", "bidSize": "50", "quoteReqID": "OTHER"}
    before = event_count()

    body = ok(submit(web, "rfq-quote", data))

    assert one_command(before) == {
        "commandType": "CreateQuoteCommand",
        "quoteID": data["quoteID"],
        "quoteReqID": request["quoteReqID"],
        "bidPx": "9.9",
        "offerPx": "10.1",
        "bidSize": "50",
        "offerSize": "100",
    }
    assert request_doc(request)["status"] == "Quoted"
    q = body["result"]["quote"]
    assert q == Quote.objects.get(fix_quote_id=data["quoteID"]).doc and q["status"] == "Active"
    assert (
        body["message"]
        == f"Quote {data['quoteID']} on RFQ {request['quoteReqID']}: bid 50 @ 9.9 / offer 10.1 x 100"
    )


def test_quote_double_submitted_is_one_quote(web: Client) -> None:
    request = rfq("Sell")
    data = {**form_data(render(web, "rfq-quote", quoteRequestId=request["quoteRequestId"])), "bidPx": "9"}
    data["quoteID"] = ""
    before = event_count()
    first = ok(submit(web, "rfq-quote", data))
    middle = event_count()
    second = ok(submit(web, "rfq-quote", data))
    assert middle == before + 2 == event_count()  # QuoteCreated + QuoteRequestQuoted, once
    assert second["replayed"] is True and second["result"]["quote"] == first["result"]["quote"]
    assert Quote.objects.filter(quote_request_id=request["quoteRequestId"]).count() == 1


def test_quote_bad_input_shows_field_errors_and_appends_nothing(web: Client) -> None:
    request = rfq("Buy")
    before = event_count()
    response = fill_in(
        web,
        "rfq-quote",
        {"quoteRequestId": request["quoteRequestId"]},
        bidPx="-1",
        offerPx="x",
        offerSize="0",
    )
    assert field_errors(response) == {
        "bidPx": ["Must be greater than zero."],
        "offerPx": ["Enter a number."],
        "offerSize": ["Must be greater than zero."],
    }
    assert event_count() == before


@pytest.mark.parametrize(
    ("prices", "field", "message"),
    [
        # the client's side has no price
        ({"bidPx": "9", "offerSize": ""}, "offerPx", "Required: the request is a Buy."),
        ({"bidPx": "9"}, "offerSize", "An offerSize needs an offerPx."),  # the prefilled size, unpriced
        ({"bidPx": "11", "offerPx": "10"}, "offerPx", "Must not be below bidPx (a crossed quote)."),
        ({"bidSize": "5", "offerPx": "10"}, "bidSize", "A bidSize needs a bidPx."),
        ({"validUntilTime": "2001-01-01T00:00", "offerPx": "10"}, "validUntilTime", "Must be in the future."),
    ],
)
def test_quote_refused_by_the_handler_lands_on_the_field(
    web: Client, prices: dict[str, str], field: str, message: str
) -> None:
    request = rfq("Buy")
    before = event_count()
    response = fill_in(web, "rfq-quote", {"quoteRequestId": request["quoteRequestId"]}, **prices)
    assert field_errors(response)[field] == [message]
    assert response["X-OMS-Error-Code"] == "validation_failed"
    assert event_count() == before and request_doc(request)["status"] == "Open"


def test_quote_without_any_price_is_a_form_error(web: Client) -> None:
    request = rfq("Buy")
    before = event_count()
    response = fill_in(web, "rfq-quote", {"quoteRequestId": request["quoteRequestId"]}, offerSize="")
    assert response.status_code == 400 and "Give bidPx, offerPx or both." in non_field(response)
    assert event_count() == before


def test_quote_duplicate_quote_id_lands_on_the_quote_id(web: Client) -> None:
    request = rfq("Buy")
    taken = quote(request)["quoteID"]
    before = event_count()
    response = fill_in(
        web, "rfq-quote", {"quoteRequestId": request["quoteRequestId"]}, quoteID=taken, offerPx="10.7"
    )
    assert field_errors(response)["quoteID"] == ["Already used with different content."]
    assert response["X-OMS-Error-Code"] == "duplicate_cl_ord_id" and event_count() == before


def test_quote_does_not_apply_to_a_closed_or_expired_request(
    web: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = rfq("Buy")
    page = render(web, "rfq-quote", quoteRequestId=request["quoteRequestId"])
    dispatch(
        "quote-requests",
        {"commandType": "CancelQuoteRequestCommand", "quoteRequestId": request["quoteRequestId"]},
        actor="setup",
    )
    before = event_count()
    late = submit(web, "rfq-quote", {**form_data(page), "offerPx": "10"})  # opened before the cancel
    assert late.status_code == 400 and "The quote request is Canceled" in non_field(late)
    assert event_count() == before
    refused = web.get(URL.format("rfq-quote"), {"quoteRequestId": request["quoteRequestId"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_applicable"

    expired = rfq("Buy", validUntilTime=in_the_past(monkeypatch, minutes=5))
    response = web.get(URL.format("rfq-quote"), {"quoteRequestId": expired["quoteRequestId"]})
    assert response.status_code == 409 and "expired at" in response.json()["error"]["message"]


# --- cancel and reject a request ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "command_type", "status"),
    [
        ("rfq-cancel", "CancelQuoteRequestCommand", "Canceled"),
        ("rfq-reject", "RejectQuoteRequestCommand", "Rejected"),
    ],
)
def test_cancel_and_reject_rfq_close_the_request_and_its_quotes(
    web: Client, action: str, command_type: str, status: str
) -> None:
    request = rfq()
    q = quote(request)
    before = event_count()

    body = ok(fill_in(web, action, {"quoteRequestId": request["quoteRequestId"]}, text="no appetite"))

    assert one_command(before) == {
        "commandType": command_type,
        "quoteRequestId": request["quoteRequestId"],
        "text": "no appetite",
    }
    assert request_doc(request)["status"] == status == body["result"]["quoteRequest"]["status"]
    assert quote_doc(q)["status"] == "Canceled"
    assert body["message"] == f"RFQ {request['quoteReqID']} is {status}, 1 active quote canceled"
    again = web.get(URL.format(action), {"quoteRequestId": request["quoteRequestId"]})
    assert again.status_code == 409 and status in again.json()["error"]["message"]


def test_reject_rfq_double_submitted_appends_once(web: Client) -> None:
    request = rfq()
    data = form_data(render(web, "rfq-reject", quoteRequestId=request["quoteRequestId"]))
    before = event_count()
    ok(submit(web, "rfq-reject", data))
    after = event_count()
    assert ok(submit(web, "rfq-reject", data))["replayed"] is True
    assert after == before + 1 == event_count()


def test_cancel_rfq_raced_by_a_reject_is_refused_and_appends_nothing(web: Client) -> None:
    request = rfq()
    page = render(web, "rfq-cancel", quoteRequestId=request["quoteRequestId"])
    dispatch(
        "quote-requests",
        {"commandType": "RejectQuoteRequestCommand", "quoteRequestId": request["quoteRequestId"]},
        actor="setup",
    )
    before = event_count()
    response = submit(web, "rfq-cancel", form_data(page))
    assert response.status_code == 400 and "The quote request is Rejected" in non_field(response)
    assert event_count() == before


# --- accept a quote -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "prices", "price", "qty"),
    [
        ("Buy", {"bidPx": "9.5", "offerPx": "10.5", "offerSize": "60"}, "10.5", "60"),  # takes the offer
        ("Sell", {"bidPx": "9.5", "bidSize": "150", "offerPx": "10.5"}, "9.5", "100"),  # hits the bid
        ("SellShort", {"bidPx": "9.25"}, "9.25", "100"),  # no size: the request's quantity
    ],
)
def test_accept_shows_the_order_and_creates_it_with_one_command(
    web: Client, side: str, prices: dict[str, str], price: str, qty: str
) -> None:
    request = rfq(side, "100")
    q = quote(request, **prices)
    page = render(web, "quote-accept", quoteId=q["quoteId"])
    html = page.content.decode()
    assert f'data-term="price">{price}</dd>' in html
    assert f'data-term="orderQty">{qty}</dd>' in html
    assert f"{side} {qty} ACME Limit @ {price} Day for ACC1" in html
    assert f"empty: {q['quoteId']}-A" in html  # the clOrdID the order gets by default
    data = {**form_data(page), "venue": "MANUAL", "text": "client lifted"}
    before = event_count()

    body = ok(submit(web, "quote-accept", data))

    assert one_command(before) == {
        "commandType": "AcceptQuoteCommand",
        "quoteId": q["quoteId"],
        "venue": "MANUAL",
        "text": "client lifted",
    }
    types = sorted(e["type"] for e in events_since(before) if e["topic"] != "position-events")
    assert types == ["OrderCreated", "QuoteAccepted", "QuoteRequestAccepted"]
    order = Order.objects.get(cl_ord_id=f"{q['quoteId']}-A").doc
    assert (order["side"], order["price"], order["orderQty"], order["ordType"]) == (side, price, qty, "Limit")
    assert order["kind"] == "Client" and order["venue"] == "MANUAL"
    assert body["result"]["order"]["orderId"] == order["orderId"]
    assert quote_doc(q)["status"] == "Accepted" and request_doc(request)["status"] == "Accepted"
    assert (
        body["message"]
        == f"Accepted {q['quoteID']}: client order {q['quoteId']}-A {side} {qty} ACME @ {price} is New"
    )


def test_accept_with_a_cl_ord_id_and_handling(web: Client) -> None:
    request = rfq("Buy", "10")
    q = quote(request)
    other = quote(request, offerPx="10.6")
    before = event_count()
    body = ok(fill_in(web, "quote-accept", {"quoteId": q["quoteId"]}, clOrdID="ACC-Q-1", handling="Desk"))
    command = one_command(before)
    assert (command["clOrdID"], command["handling"]) == ("ACC-Q-1", "Desk")
    assert body["result"]["order"]["clOrdID"] == "ACC-Q-1" and body["result"]["order"]["handling"] == "Desk"
    assert quote_doc(other)["status"] == "Canceled"  # the request's other quote is closed with it


def test_accept_double_submitted_creates_one_order(web: Client) -> None:
    q = quote(rfq("Buy", "10"))
    data = form_data(render(web, "quote-accept", quoteId=q["quoteId"]))
    before = event_count()
    first = ok(submit(web, "quote-accept", data))
    after = event_count()
    second = ok(submit(web, "quote-accept", data))
    assert event_count() == after  # the repeat appended nothing
    # OrderCreated, QuoteAccepted, QuoteRequestAccepted (and the order's position events)
    assert sum(e["topic"] != "position-events" for e in events_since(before)) == 3
    assert second["replayed"] is True and second["result"]["order"] == first["result"]["order"]
    assert Order.objects.count() == 1


def test_accept_large_notional_needs_a_ticked_confirmation(web: Client, settings: Any) -> None:
    settings.OMS_CONFIRM_NOTIONAL = "1000"
    q = quote(rfq("Buy", "100"), offerPx="10")  # 100 x 10 = 1,000
    data = form_data(render(web, "quote-accept", quoteId=q["quoteId"]))
    before = event_count()
    first = submit(web, "quote-accept", data)
    assert "Notional 1,000.00 is at or above 1,000" in field_errors(first)["confirm"][0]
    assert first["X-OMS-Error-Code"] == "validation_failed" and 'name="confirm"' in first.content.decode()
    assert event_count() == before
    ok(submit(web, "quote-accept", {**data, "confirm": "on"}))
    assert quote_doc(q)["status"] == "Accepted"


def test_accept_with_a_used_cl_ord_id_lands_on_the_cl_ord_id(web: Client) -> None:
    q = quote(rfq("Buy", "10"))
    taken = dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("C"),
            "symbol": "XYZ",
            "side": "Sell",
            "orderQty": "1",
            "ordType": "Market",
            "account": "ACC1",
        },
        actor="setup",
    ).body["order"]["clOrdID"]
    before = event_count()
    response = fill_in(web, "quote-accept", {"quoteId": q["quoteId"]}, clOrdID=taken)
    assert field_errors(response)["clOrdID"] == ["Already used with different content."]
    assert response["X-OMS-Error-Code"] == "duplicate_cl_ord_id"
    assert event_count() == before and quote_doc(q)["status"] == "Active"


def test_accept_does_not_apply_to_a_closed_or_expired_quote(
    web: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = rfq("Buy")
    q, other = quote(request), quote(request, offerPx="10.4")
    page = render(web, "quote-accept", quoteId=q["quoteId"])
    dispatch("quotes", {"commandType": "AcceptQuoteCommand", "quoteId": other["quoteId"]}, actor="setup")
    before = event_count()
    late = submit(web, "quote-accept", form_data(page))  # opened before the other was taken
    assert late.status_code == 400 and "The quote is Canceled" in non_field(late)
    assert event_count() == before
    assert web.get(URL.format("quote-accept"), {"quoteId": q["quoteId"]}).status_code == 409

    expired = quote(rfq("Buy"), offerPx="10", validUntilTime=in_the_past(monkeypatch, seconds=30))
    response = web.get(URL.format("quote-accept"), {"quoteId": expired["quoteId"]})
    assert response.status_code == 409 and "The quote expired at" in response.json()["error"]["message"]


# --- reject and cancel a quote --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "command_type", "status"),
    [("quote-reject", "RejectQuoteCommand", "Rejected"), ("quote-cancel", "CancelQuoteCommand", "Canceled")],
)
def test_reject_and_cancel_quote(web: Client, action: str, command_type: str, status: str) -> None:
    request = rfq()
    q = quote(request)
    page = render(web, action, quoteId=q["quoteId"])
    assert f"Quote {q['quoteID']} on RFQ {request['quoteReqID']}" in page.content.decode()
    data = {**form_data(page), "text": "passed"}
    before = event_count()

    body = ok(submit(web, action, data))

    assert one_command(before) == {"commandType": command_type, "quoteId": q["quoteId"], "text": "passed"}
    assert quote_doc(q)["status"] == status == body["result"]["quote"]["status"]
    assert request_doc(request)["status"] == "Quoted"  # the request stays open for another quote
    assert body["message"] == f"Quote {q['quoteID']} is {status}"
    after = event_count()
    assert ok(submit(web, action, data))["replayed"] is True and event_count() == after
    again = web.get(URL.format(action), {"quoteId": q["quoteId"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_applicable"


def test_reject_quote_refused_by_the_state_machine_is_a_form_error(web: Client) -> None:
    q = quote(rfq())
    page = render(web, "quote-reject", quoteId=q["quoteId"])
    dispatch("quotes", {"commandType": "CancelQuoteCommand", "quoteId": q["quoteId"]}, actor="setup")
    before = event_count()
    response = submit(web, "quote-reject", form_data(page))
    assert response.status_code == 400 and "The quote is Canceled" in non_field(response)
    assert event_count() == before


# --- the page's side --------------------------------------------------------------------------------------------
def test_every_rfq_action_is_in_forms_js_and_no_shortcut_is_taken_twice() -> None:
    from blotter.form_views import ACTIONS

    script = (ROOT / "static" / "blotter" / "forms.js").read_text()
    for action in RFQ_FORMS:
        assert action in ACTIONS and f'id: "{action}"' in script
    keys = re.findall(r'\bkey: "(\w)"', script)
    assert len(keys) == len(set(keys)), keys
    assert {"e", "q", "t"} <= set(keys)


def test_the_page_help_lists_the_rfq_shortcuts(web: Client) -> None:
    html = web.get("/").content.decode()
    for key, words in (("E", "new RFQ"), ("Q", "quote the selected request"), ("T", "accept (take)")):
        assert f"<dt>{key}</dt><dd>{words}" in html
