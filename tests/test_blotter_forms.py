"""The blotter's desk forms over Django's test client (blotter/forms.py, blotter/form_views.py).

Every form: GET renders with its prefill, a valid POST sends exactly one command through
dispatch as the logged-in user, bad input answers 400 with the error next to its field and
appends nothing, a handler's refusal comes back onto the form, a resubmitted form appends once,
large notionals need a ticked confirmation, viewers are refused and anonymous users sent to log in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from executions.enums import REVIEW_REASON_TEXT
from executions.models import Execution
from oms.core import eventfeed
from oms.orders.models import Order
from tests.lifecycle import Desk, uid

pytestmark = pytest.mark.django_db

URL = "/blotter/forms/{}/"


# --- helpers -----------------------------------------------------------------------------------------
def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(desk_user: User) -> Client:
    return login(desk_user)


def event_count() -> int:
    return eventfeed.count_events_after(0)


def events_since(count: int) -> list[dict[str, Any]]:
    return eventfeed.events_after(0, 100_000)[count:]


def render(client: Client, action: str, **params: str) -> Any:
    response = client.get(URL.format(action), params)
    assert response.status_code == 200, response.content[:500]
    return response


def form_data(response: Any) -> dict[str, str]:
    """What the browser would post back from a rendered form: every field's current value."""
    form = response.context["form"]
    data: dict[str, str] = {}
    for field in form:
        value = field.value()
        if field.name == "confirm":
            continue
        data[field.name] = "" if value is None else str(value)
    return data


def submit(client: Client, action: str, data: dict[str, Any]) -> Any:
    return client.post(URL.format(action), {k: v for k, v in data.items() if v is not None})


def fill_in(client: Client, action: str, params: dict[str, str] | None = None, **changes: Any) -> Any:
    """GET the form, change some fields, POST it back: the desk's round trip."""
    data = form_data(render(client, action, **(params or {})))
    data.update({k: str(v) for k, v in changes.items()})
    return submit(client, action, data)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content.decode()[:2000]
    body = response.json()
    assert body["ok"] is True
    return body


def field_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 400, response.content[:500]
    form = response.context["form"]
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def one_command(before: int, actor: str = "trader") -> dict[str, Any]:
    """The events appended since `before` all come from one command by `actor`: that command."""
    new = events_since(before)
    assert new, "nothing was appended"
    commands = {str(sorted(e["command"].items())) for e in new}
    assert len(commands) == 1, commands
    assert {e["actor"] for e in new} == {actor}
    return new[0]["command"]


NEW_ORDER = {
    "side": "Buy",
    "symbol": "BTC-PERP",
    "orderQty": "2",
    "ordType": "Limit",
    "price": "50000",
    "timeInForce": "Day",
    "account": "ACC1",
    "venue": "MANUAL",
    "handling": "",
    "text": "from the desk",
}


# --- who may use the forms ----------------------------------------------------------------------------
def test_anonymous_user_is_sent_to_login(client: Client) -> None:
    before = event_count()
    for response in (client.get(URL.format("new")), client.post(URL.format("new"), NEW_ORDER)):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert event_count() == before


def test_viewer_is_refused_on_every_form_and_nothing_changes(viewer_user: User, trader: Desk) -> None:
    order = trader.venue_order(10)
    web = login(viewer_user)
    before = event_count()
    for action in ("new", "place", "cancel", "replace", "fill", "accept", "exec-allocate"):
        assert web.get(URL.format(action), {"orderId": order["orderId"]}).status_code == 403
    response = web.post(URL.format("new"), {**NEW_ORDER, "token": "a" * 32})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    forged = web.post(
        URL.format("fill"), {"orderId": order["orderId"], "lastQty": "1", "lastPx": "10", "token": "b" * 32}
    )
    assert forged.status_code == 403
    assert event_count() == before
    assert trader.refresh(order)["cumQty"] == "0"


def test_unknown_form_and_unknown_target_are_404(web: Client) -> None:
    assert web.get(URL.format("nope")).status_code == 404
    response = web.get(URL.format("cancel"), {"orderId": "O-missing"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- new client order -----------------------------------------------------------------------------------
def test_new_order_renders_with_defaults_and_sends_one_create_as_the_user(web: Client) -> None:
    page = render(web, "new")
    html = page.content.decode()
    assert 'data-oms-form="new"' in html and "csrfmiddlewaretoken" in html
    form = page.context["form"]
    assert form["ordType"].value() == "Limit" and form["timeInForce"].value() == "Day"
    assert form["clOrdID"].value().startswith("N-")
    assert form["side"].value() is None  # no default side: the desk chooses on purpose
    data = {**form_data(page), **NEW_ORDER}
    before = event_count()

    body = ok(submit(web, "new", data))

    command = one_command(before)
    assert command == {
        "commandType": "CreateOrderCommand",
        "clOrdID": data["clOrdID"],
        "symbol": "BTC-PERP",
        "side": "Buy",
        "orderQty": "2",
        "ordType": "Limit",
        "price": "50000",
        "timeInForce": "Day",
        "account": "ACC1",
        "venue": "MANUAL",
        "text": "from the desk",
    }
    order = Order.objects.get(cl_ord_id=data["clOrdID"]).doc
    assert body["result"]["order"]["orderId"] == order["orderId"]
    assert order["handling"] == "Desk" and order["status"] == "New"
    assert "BTC-PERP" in body["message"] and body["replayed"] is False


def test_resubmitting_the_same_form_appends_once_and_answers_the_first_result(web: Client) -> None:
    data = {**form_data(render(web, "new")), **NEW_ORDER, "clOrdID": ""}  # generated from the token
    before = event_count()
    first = ok(submit(web, "new", data))
    after_first = event_count()
    second = ok(submit(web, "new", data))

    assert event_count() == after_first > before
    assert second["result"]["order"] == first["result"]["order"]
    assert second["replayed"] is True
    assert first["result"]["order"]["clOrdID"] == "N-" + data["token"][:12].upper()
    assert Order.objects.filter(symbol="BTC-PERP").count() == 1


def test_new_order_bad_input_shows_field_errors_and_appends_nothing(web: Client) -> None:
    before = event_count()
    response = fill_in(web, "new", symbol="", orderQty="abc", side="Sideways", account="ACC1", price="-5")

    errors = field_errors(response)
    assert errors["symbol"] == ["This field is required."]
    assert errors["orderQty"] == ["Enter a number."]
    assert "side" in errors and errors["price"] == ["Must be greater than zero."]
    html = response.content.decode()
    assert 'data-field="orderQty"' in html and "Enter a number." in html
    assert event_count() == before


def test_new_order_refused_by_the_handler_lands_on_the_field_with_a_fresh_token(web: Client) -> None:
    data = {**form_data(render(web, "new")), **NEW_ORDER, "price": ""}  # Limit without a price
    before = event_count()

    response = submit(web, "new", data)

    assert field_errors(response)["price"] == ["Required for Limit and StopLimit orders."]
    assert response["X-OMS-Error-Code"] == "validation_failed"
    assert response.context["form"]["token"].value() != data["token"]
    assert event_count() == before


def test_new_order_duplicate_cl_ord_id_is_shown_on_the_cl_ord_id_field(web: Client, trader: Desk) -> None:
    taken = trader.client_order(5, symbol="ETH-PERP")["clOrdID"]
    before = event_count()
    response = fill_in(web, "new", **{**NEW_ORDER, "clOrdID": taken})
    assert field_errors(response)["clOrdID"] == ["Already used with different content."]
    assert response["X-OMS-Error-Code"] == "duplicate_cl_ord_id"
    assert event_count() == before


def test_bad_token_is_refused(web: Client) -> None:
    before = event_count()
    response = submit(web, "new", {**NEW_ORDER, "token": "not-a-token"})
    assert "expired" in " ".join(
        response.context["form"].non_field_errors() + response.context["form"].hidden_errors
    )
    assert response.status_code == 400 and event_count() == before


# --- large notional ------------------------------------------------------------------------------------
def test_large_notional_needs_a_ticked_confirmation(web: Client, settings: Any) -> None:
    settings.OMS_CONFIRM_NOTIONAL = "1000000"
    data = {**form_data(render(web, "new")), **NEW_ORDER, "orderQty": "20", "price": "50000"}  # 1,000,000
    before = event_count()

    first = submit(web, "new", data)

    assert "tick to confirm" in field_errors(first)["confirm"][0]
    assert 'name="confirm"' in first.content.decode()
    assert event_count() == before
    ok(submit(web, "new", {**data, "confirm": "on"}))
    assert Order.objects.filter(cl_ord_id=data["clOrdID"]).exists()


def test_unpriced_order_is_checked_against_the_symbols_reference_price(
    web: Client, trader: Desk, settings: Any
) -> None:
    settings.OMS_CONFIRM_NOTIONAL = "1000000"
    market = trader.venue_order(1, symbol="BTC-PERP")
    trader.fill(market, 1, "60000")  # the reference: BTC-PERP last traded at 60,000
    small = fill_in(web, "new", **{**NEW_ORDER, "ordType": "Market", "price": "", "orderQty": "20"})
    assert "confirm" in field_errors(small)
    ok(fill_in(web, "new", **{**NEW_ORDER, "ordType": "Market", "price": "", "orderQty": "1"}))


# --- place a desk order -------------------------------------------------------------------------------
def test_place_prefills_what_is_left_and_creates_a_market_order_child(web: Client, trader: Desk) -> None:
    client = trader.client_order(100, ordType="Limit", price="10")
    trader.child(client, 30)
    page = render(web, "place", orderId=client["orderId"])
    form = page.context["form"]
    assert form["orderQty"].value() == "70"
    assert form["venue"].value() == "MANUAL" and form["price"].value() == "10"
    assert form.heading == "Place market order"
    before = event_count()

    body = ok(submit(web, "place", form_data(page)))

    command = one_command(before)
    assert command["parentId"] == client["orderId"] and command["orderQty"] == "70"
    market = body["result"]["order"]
    assert (market["kind"], market["parentId"], market["orderQty"]) == ("Market", client["orderId"], "70")
    assert trader.refresh(client)["placedQty"] == "100"


def test_place_under_a_market_order_creates_a_slice(web: Client, trader: Desk) -> None:
    market = trader.venue_order(50)
    body = ok(fill_in(web, "place", {"orderId": market["orderId"]}, orderQty="20"))
    assert body["result"]["order"]["kind"] == "Slice"
    assert render(web, "place", orderId=market["orderId"]).context["form"]["orderQty"].value() == "30"


def test_place_beyond_what_is_left_is_refused_on_the_quantity(web: Client, trader: Desk) -> None:
    client = trader.client_order(100)
    page = render(web, "place", orderId=client["orderId"])
    trader.child(client, 60)  # someone placed meanwhile
    before = event_count()
    response = submit(web, "place", {**form_data(page), "orderQty": "50"})
    assert field_errors(response)["orderQty"] == ["At most 40 is left to place."]
    assert response["X-OMS-Error-Code"] == "exceeds_parent_quantity"
    assert event_count() == before


def test_place_does_not_apply_to_a_slice(web: Client, trader: Desk) -> None:
    market = trader.venue_order(50)
    slice_ = trader.child(market, 10)
    response = web.get(URL.format("place"), {"orderId": slice_["orderId"]})
    assert response.status_code == 409
    assert "slice cannot have child" in response.json()["error"]["message"]


# --- cancel and replace ------------------------------------------------------------------------------
def test_cancel_generates_a_cl_ord_id_and_cancels(web: Client, trader: Desk) -> None:
    client = trader.client_order(10)
    page = render(web, "cancel", orderId=client["orderId"])
    assert page.context["form"]["clOrdID"].value().startswith("C-")
    before = event_count()
    body = ok(submit(web, "cancel", {**form_data(page), "text": "client called"}))
    command = one_command(before)
    assert command["commandType"] == "CancelOrderCommand" and command["text"] == "client called"
    assert body["result"]["order"]["status"] == "Canceled"


def test_cancel_refused_by_the_state_machine_is_a_non_field_error(web: Client, trader: Desk) -> None:
    client = trader.client_order(10)
    page = render(web, "cancel", orderId=client["orderId"])
    trader.cancel(client)
    before = event_count()
    response = submit(web, "cancel", form_data(page))
    assert response.status_code == 400
    assert "Canceled" in " ".join(response.context["form"].non_field_errors())
    assert event_count() == before
    assert web.get(URL.format("cancel"), {"orderId": client["orderId"]}).status_code == 409


def test_replace_prefills_the_terms_and_sends_only_what_changed(web: Client, trader: Desk) -> None:
    client = trader.client_order(100, ordType="Limit", price="10", timeInForce="GTC")
    page = render(web, "replace", orderId=client["orderId"])
    form = page.context["form"]
    assert (form["orderQty"].value(), form["price"].value(), form["timeInForce"].value()) == (
        "100",
        "10",
        "GTC",
    )
    assert form["expectedVersion"].value() == client["version"]
    before = event_count()

    body = ok(submit(web, "replace", {**form_data(page), "price": "10.5"}))

    command = one_command(before)
    assert {k: v for k, v in command.items() if k not in ("clOrdID",)} == {
        "commandType": "ReplaceOrderCommand",
        "orderId": client["orderId"],
        "expectedVersion": client["version"],
        "price": "10.5",
    }
    assert body["result"]["order"]["price"] == "10.5"


def test_replace_without_a_change_is_refused(web: Client, trader: Desk) -> None:
    client = trader.client_order(100, ordType="Limit", price="10")
    before = event_count()
    response = fill_in(web, "replace", {"orderId": client["orderId"]})
    assert "Change at least one" in response.context["form"].non_field_errors()[0]
    assert response.status_code == 400 and event_count() == before


def test_replace_of_an_order_that_changed_meanwhile_asks_again(web: Client, trader: Desk) -> None:
    client = trader.client_order(100, ordType="Limit", price="10")
    page = render(web, "replace", orderId=client["orderId"])
    trader.replace(client, price="11")  # someone else replaced it first
    before = event_count()

    response = submit(web, "replace", {**form_data(page), "orderQty": "120"})

    assert response.status_code == 400 and response["X-OMS-Error-Code"] == "version_conflict"
    assert "changed while this form was open" in response.context["form"].non_field_errors()[0]
    assert event_count() == before
    again = response.context["form"]
    assert str(again["expectedVersion"].value()) == str(trader.refresh(client)["version"])
    data = {f.name: "" if f.value() is None else str(f.value()) for f in again if f.name != "confirm"}
    assert ok(submit(web, "replace", data))["result"]["order"]["orderQty"] == "120"


# --- MANUAL venue reports -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("setup", "action", "status"),
    [
        ("new", "accept", "New"),
        ("new", "reject", "Rejected"),
        ("cancel", "confirm-cancel", "Canceled"),
        ("cancel", "reject-cancel", "New"),
        ("replace", "confirm-replace", "New"),
        ("replace", "reject-replace", "New"),
    ],
)
def test_manual_venue_reports(web: Client, trader: Desk, setup: str, action: str, status: str) -> None:
    market = trader.venue_order(10, accept=setup != "new")
    if setup == "cancel":
        market = trader.cancel(market)
        assert market["status"] == "PendingCancel"
    elif setup == "replace":
        market = trader.replace(market, orderQty="8")
        assert market["status"] == "PendingReplace"
    before = event_count()

    body = ok(fill_in(web, action, {"orderId": market["orderId"]}, text="venue said so"))

    command = one_command(before)
    assert command["orderId"] == market["orderId"] and command["text"] == "venue said so"
    order = trader.refresh(market)
    assert order["status"] == status == body["result"]["order"]["status"]
    if action == "confirm-replace":
        assert order["orderQty"] == "8"


def test_venue_reports_only_for_manual_venue_orders(web: Client, trader: Desk) -> None:
    client = trader.client_order(10, venue="BINANCE")
    elsewhere = trader.child(client, 10)
    manual_client = trader.client_order(10)
    for order in (elsewhere, manual_client):
        for action in ("accept", "fill"):
            response = web.get(URL.format(action), {"orderId": order["orderId"]})
            assert response.status_code == 409
    before = event_count()
    forged = web.post(URL.format("accept"), {"orderId": elsewhere["orderId"], "token": "c" * 32})
    assert "MANUAL" in forged.context["form"].non_field_errors()[0]
    assert event_count() == before and trader.refresh(elsewhere)["status"] == "PendingNew"


def test_fill_prefills_leaves_and_price_and_updates_the_order(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10, ordType="Limit", price="100")
    page = render(web, "fill", orderId=market["orderId"])
    form = page.context["form"]
    assert (form["lastQty"].value(), form["lastPx"].value()) == ("10", "100")
    assert form["execID"].value().startswith("X-") and form["transactTime"].value()
    before = event_count()

    body = ok(submit(web, "fill", {**form_data(page), "lastQty": "4", "lastPx": "99.5", "execID": ""}))

    command = one_command(before)
    assert command["commandType"] == "ExecuteOrderCommand" and command["venue"] == "MANUAL"
    assert command["execID"] == "X-" + form["token"].value()[:12].upper()
    order = trader.refresh(market)
    assert (order["status"], order["cumQty"], order["leavesQty"], order["avgPx"]) == (
        "PartiallyFilled",
        "4",
        "6",
        "99.5",
    )
    assert "cum 4 leaves 6" in body["message"]


def test_double_submitted_fill_is_one_execution(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    data = {**form_data(render(web, "fill", orderId=market["orderId"])), "lastQty": "3", "lastPx": "10"}
    first = ok(submit(web, "fill", data))
    second = ok(submit(web, "fill", data))
    assert first["result"]["execution"] == second["result"]["execution"] and second["replayed"]
    assert Execution.objects.filter(order_id=market["orderId"]).count() == 1
    assert trader.refresh(market)["cumQty"] == "3"


def test_fill_bad_input_and_large_notional(web: Client, trader: Desk, settings: Any) -> None:
    settings.OMS_CONFIRM_NOTIONAL = "500"
    market = trader.venue_order(100)
    before = event_count()
    bad = fill_in(web, "fill", {"orderId": market["orderId"]}, lastQty="0", lastPx="x")
    assert field_errors(bad) == {"lastQty": ["Must be greater than zero."], "lastPx": ["Enter a number."]}
    big = fill_in(web, "fill", {"orderId": market["orderId"]}, lastQty="60", lastPx="10")
    assert "confirm" in field_errors(big)
    assert event_count() == before
    assert ok(submit(web, "fill", {**form_data(big), "confirm": "on"}))["result"]["order"]["cumQty"] == "60"


def test_an_overfill_entered_by_hand_is_held_for_review(web: Client, trader: Desk) -> None:
    market = trader.venue_order(5)
    body = ok(fill_in(web, "fill", {"orderId": market["orderId"]}, lastQty="6", lastPx="10"))
    assert body["result"]["execution"]["status"] == "PendingReview"
    # the reason in the desk's words, as the admin's review queue says it
    assert f"held for review: {REVIEW_REASON_TEXT['overfill']}" in body["message"]
    assert trader.refresh(market)["cumQty"] == "0"


# --- on executions ------------------------------------------------------------------------------------
def test_correct_execution_prefills_and_recomputes_the_order(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    execution = trader.execute(market, 4, "10")["execution"]
    page = render(web, "exec-correct", executionId=execution["executionId"])
    assert (page.context["form"]["lastQty"].value(), page.context["form"]["lastPx"].value()) == ("4", "10")
    before = event_count()

    ok(submit(web, "exec-correct", {**form_data(page), "lastQty": "3"}))

    command = one_command(before)
    assert command == {
        "commandType": "CorrectExecutionCommand",
        "executionId": execution["executionId"],
        "lastQty": "3",
    }
    assert trader.refresh(market)["cumQty"] == "3"


def test_correct_into_an_overfill_is_refused_on_the_quantity(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    execution = trader.execute(market, 4, "10")["execution"]
    before = event_count()
    response = fill_in(web, "exec-correct", {"executionId": execution["executionId"]}, lastQty="11")
    assert field_errors(response)["lastQty"] == ["Would overfill the order."]
    assert response["X-OMS-Error-Code"] == "rule_refused" and event_count() == before


def test_allocate_a_held_execution_to_another_order(web: Client, trader: Desk) -> None:
    market = trader.venue_order(10)
    held = trader.execute("O-nowhere", 2, "10", venue="MANUAL")["execution"]
    assert held["status"] == "PendingReview"
    before = event_count()
    missing = fill_in(web, "exec-allocate", {"executionId": held["executionId"]})
    assert field_errors(missing)["orderId"] == ["Required: the execution's own order is unknown."]
    assert event_count() == before

    ok(fill_in(web, "exec-allocate", {"executionId": held["executionId"]}, orderId=market["orderId"]))

    assert Execution.objects.get(pk=held["executionId"]).doc["status"] == "Allocated"
    assert trader.refresh(market)["cumQty"] == "2"
    assert web.get(URL.format("exec-allocate"), {"executionId": held["executionId"]}).status_code == 409


def test_reject_a_held_execution(web: Client, trader: Desk) -> None:
    held = trader.execute("O-nowhere", 2, "10", venue="MANUAL")["execution"]
    before = event_count()
    ok(fill_in(web, "exec-reject", {"executionId": held["executionId"]}, text="not ours"))
    command = one_command(before)
    assert command == {
        "commandType": "RejectExecutionCommand",
        "executionId": held["executionId"],
        "text": "not ours",
    }
    assert Execution.objects.get(pk=held["executionId"]).doc["status"] == "Rejected"


def test_every_action_is_listed_in_forms_js() -> None:
    from pathlib import Path

    from blotter.forms import ACTIONS

    script = (Path(__file__).resolve().parents[1] / "static" / "blotter" / "forms.js").read_text()
    for action in ACTIONS:
        assert f'id: "{action}"' in script


def test_reference_price_is_the_symbols_last_average(trader: Desk) -> None:
    from blotter.forms import reference_price

    assert reference_price("NEWCOIN") is None
    market = trader.venue_order(2, symbol="NEWCOIN")
    trader.fill(market, 1, "12.5")
    assert reference_price("NEWCOIN") == Decimal("12.5")
    assert uid()  # ids stay unique across the module
