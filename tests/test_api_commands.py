"""The command API over HTTP (ARCHITECTURE.md Part A): answers, the error contract per status and
code, "an error appends nothing", Idempotency-Key and natural-key idempotency.

The helpers at the top are shared with the other test_api_* modules.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import uid

# --- helpers (shared by tests/test_api_*.py) ---------------------------------------------------


def send(client: APIClient, topic: str, body: Any, **headers: str) -> tuple[int, Any]:
    """POST a command; returns (status, json)."""
    response = client.post(f"/api/commands/{topic}", body, format="json", headers=headers or None)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, response.json()


def ok(client: APIClient, topic: str, body: Any, **headers: str) -> dict[str, Any]:
    status, js = send(client, topic, body, **headers)
    assert status in (200, 201), (status, js)
    return js


def order_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("C"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "100",
        "ordType": "Limit",
        "price": "100",
        "timeInForce": "Day",
        "account": "ACC1",
        "handling": "Desk",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def create(client: APIClient, **overrides: Any) -> dict[str, Any]:
    """A client order (desk-handled unless overridden); returns its state."""
    return ok(client, "orders", order_body(**overrides))["order"]


def child(
    client: APIClient, parent_id: str, qty: str = "100", accept: bool = True, **kw: Any
) -> dict[str, Any]:
    """A market order under `parent_id` at the MANUAL venue, accepted unless told otherwise."""
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("M"),
        "parentId": parent_id,
        "orderQty": qty,
        "venue": "MANUAL",
        **kw,
    }
    order = ok(client, "orders", body)["order"]
    if accept:
        order = ok(client, "orders", {"commandType": "AcceptOrderCommand", "orderId": order["orderId"]})[
            "order"
        ]
    return order


def execute(client: APIClient, order_id: str, qty: str, px: str = "100", **kw: Any) -> tuple[int, Any]:
    body = {
        "commandType": "ExecuteOrderCommand",
        "orderId": order_id,
        "execID": uid("X"),
        "lastQty": qty,
        "lastPx": px,
        "venue": "MANUAL",
        **kw,
    }
    return send(client, "executions", body)


def event_count(client: APIClient) -> int:
    response = client.get("/api/queries/events", {"limit": 1})
    assert response.status_code == 200, response.content
    return response.json()["count"]


def assert_error(status: int, js: Any, want_status: int, code: str, field: str | None = None) -> None:
    assert status == want_status, (status, js)
    assert set(js) == {"error"}, js
    err = js["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["fields"], dict), err
    for name, messages in err["fields"].items():
        assert isinstance(name, str) and messages and all(isinstance(m, str) for m in messages), err
    if field is not None:
        assert field in err["fields"], err


def refused(
    client: APIClient, topic: str, body: Any, status: int, code: str, field: str | None = None, **headers: str
) -> dict[str, Any]:
    """Send a command that must fail with (status, code) and append no event."""
    before = event_count(client)
    got, js = send(client, topic, body, **headers)
    assert_error(got, js, status, code, field)
    assert event_count(client) == before, "an error appended events"
    return js["error"]


# --- answers -------------------------------------------------------------------------------------


def test_create_answers_state_and_the_events_appended(desk: APIClient) -> None:
    status, js = send(desk, "orders", order_body(orderQty="12.5", price="100.25"))
    assert status == 201
    order = js["order"]
    assert order["orderId"] and order["kind"] == "Client" and order["rootId"] == order["orderId"]
    assert (order["orderQty"], order["price"], order["cumQty"], order["leavesQty"]) == (
        "12.5",
        "100.25",
        "0",
        "12.5",
    )
    assert order["status"] == "New" and order["handling"] == "Desk" and order["version"] == 1
    assert order["createdAt"].endswith("Z") and order["updatedAt"].endswith("Z")
    assert js["duplicate"] is False
    event, *position_events = js["events"]
    # the client order's open quantity, in the same transaction (oms/positions)
    assert [e["type"] for e in position_events] == ["PositionOpened", "PositionOpenOrdersChanged"]
    assert {e["topic"] for e in position_events} == {"position-events"}
    assert event["type"] == "OrderCreated" and event["aggregateId"] == order["orderId"]
    assert event["topic"] == "order-events" and event["version"] == 1 and event["actor"] == "trader"
    assert event["state"]["orderQty"] == "12.5" and event["command"]["clOrdID"] == order["clOrdID"]


def test_numbers_are_accepted_and_answered_as_decimal_strings(desk: APIClient) -> None:
    order = create(desk, orderQty=7, price=99.5)
    assert order["orderQty"] == "7" and order["price"] == "99.5"
    assert isinstance(order["avgPx"], str) and Decimal(order["avgPx"]) == 0


# --- 400 validation_failed ---------------------------------------------------------------------

BAD_CREATES = [
    ({"orderQty": "-5"}, "orderQty"),
    ({"orderQty": "0"}, "orderQty"),
    ({"orderQty": "abc"}, "orderQty"),
    ({"orderQty": "NaN"}, "orderQty"),
    ({"orderQty": "Infinity"}, "orderQty"),
    ({"orderQty": True}, "orderQty"),
    ({"orderQty": [1]}, "orderQty"),
    ({"orderQty": None}, "orderQty"),
    ({"orderQty": "1.12345678901"}, "orderQty"),  # 11 decimal places
    ({"price": "100.00000000001"}, "price"),
    ({"orderQty": "1e30"}, "orderQty"),
    ({"price": None}, "price"),  # a Limit order without a price
    ({"ordType": "Market"}, "price"),  # a Market order with a price
    ({"ordType": "Stop"}, "stopPx"),
    ({"side": "Up"}, "side"),
    ({"ordType": "Bogus"}, "ordType"),
    ({"timeInForce": "Forever"}, "timeInForce"),
    ({"handling": "Robot"}, "handling"),
    ({"timeInForce": "GTD"}, "expireTime"),
    ({"timeInForce": "GTD", "expireTime": "tomorrow"}, "expireTime"),
    ({"timeInForce": "GTD", "expireTime": "0001-01-01T00:00:00+01:00"}, "expireTime"),
    ({"expireTime": "2030-01-01T00:00:00Z"}, "expireTime"),  # only GTD carries one
    ({"clOrdID": None}, "clOrdID"),
    ({"clOrdID": "x" * 65}, "clOrdID"),
    ({"clOrdID": 12345}, "clOrdID"),
    ({"symbol": None}, "symbol"),
    ({"attributes": "not an object"}, "attributes"),
    ({"text": "nul\x00byte"}, "text"),
    ({"attributes": {"k": ["\x00"]}}, "attributes"),
    ({"commandType": "NoSuchCommand"}, "commandType"),
    ({"commandType": None}, "commandType"),
    ({"commandType": 7}, "commandType"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATES, ids=[f"{f}:{c}"[:60] for c, f in BAD_CREATES])
def test_invalid_create_is_400_validation_failed(desk: APIClient, change: dict[str, Any], field: str) -> None:
    body = {**order_body(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    refused(desk, "orders", body, 400, "validation_failed", field)


def test_several_field_errors_are_answered_together(desk: APIClient) -> None:
    err = refused(
        desk, "orders", order_body(orderQty="-1", side="Up", ordType="Bogus"), 400, "validation_failed"
    )
    assert {"orderQty", "side", "ordType"} <= set(err["fields"])


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"commandType": "CreateOrderCommand",}',
        "[1, 2]",
        "42",
        '"text"',
        "null",
        "NaN",
        "[" * 5000 + "]" * 5000,
        json.dumps({"attributes": {"a": _nest(40)}}),
    ],
    ids=["malformed", "trailing-comma", "list", "number", "string", "null", "nan", "deep", "deep-attrs"],
)
def test_malformed_or_non_object_json_is_400(desk: APIClient, raw: str) -> None:
    before = event_count(desk)
    response = desk.post("/api/commands/orders", data=raw, content_type="application/json")
    assert_error(response.status_code, response.json(), 400, "validation_failed")
    assert event_count(desk) == before


def test_unpaired_surrogate_is_400_and_appends_nothing(desk: APIClient) -> None:
    before = event_count(desk)
    raw = json.dumps(order_body(text="\ud800"))  # valid JSON text, but not storable as UTF-8
    response = desk.post("/api/commands/orders", data=raw, content_type="application/json")
    assert_error(response.status_code, response.json(), 400, "validation_failed", "text")
    assert event_count(desk) == before


def test_commands_are_json_only(desk: APIClient) -> None:
    response = desk.post("/api/commands/orders", data={"commandType": "CreateOrderCommand"})  # multipart
    assert_error(response.status_code, response.json(), 415, "unsupported_media_type")


def test_unknown_command_topic_is_400(desk: APIClient) -> None:
    refused(desk, "bogus", {"commandType": "CreateOrderCommand"}, 400, "validation_failed", "topic")


def test_execute_with_bad_fields_is_400(desk: APIClient) -> None:
    parent = create(desk)
    market = child(desk, parent["orderId"])
    for change, field in [
        ({"lastQty": "x"}, "lastQty"),
        ({"lastPx": None}, "lastPx"),
        ({"execID": None}, "execID"),
        ({"transactTime": "yesterday"}, "transactTime"),
        ({"orderId": 5}, "orderId"),
    ]:
        body = {
            "commandType": "ExecuteOrderCommand",
            "orderId": market["orderId"],
            "execID": uid("X"),
            "lastQty": "1",
            "lastPx": "100",
            "venue": "MANUAL",
            **change,
        }
        refused(
            desk,
            "executions",
            {k: v for k, v in body.items() if v is not None},
            400,
            "validation_failed",
            field,
        )


# --- 404 not_found ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "body", "field"),
    [
        ("orders", {"commandType": "CancelOrderCommand", "orderId": "nope", "clOrdID": "c1"}, "orderId"),
        ("orders", {"commandType": "AcceptOrderCommand", "orderId": "nope"}, "orderId"),
        (
            "orders",
            {"commandType": "ReplaceOrderCommand", "orderId": "nope", "clOrdID": "c2", "orderQty": "5"},
            "orderId",
        ),
        (
            "orders",
            {"commandType": "CreateOrderCommand", "clOrdID": "c3", "parentId": "nope", "orderQty": "5"},
            "parentId",
        ),
        ("executions", {"commandType": "BustExecutionCommand", "executionId": "nope"}, "executionId"),
        (
            "executions",
            {"commandType": "CorrectExecutionCommand", "executionId": "nope", "lastQty": "1"},
            "executionId",
        ),
        ("executions", {"commandType": "AllocateExecutionCommand", "executionId": "nope"}, "executionId"),
        ("executions", {"commandType": "RejectExecutionCommand", "executionId": "nope"}, "executionId"),
    ],
)
def test_unknown_object_is_404_not_found(
    desk: APIClient, topic: str, body: dict[str, Any], field: str
) -> None:
    refused(desk, topic, body, 404, "not_found", field)


def test_allocate_to_unknown_order_is_404(desk: APIClient) -> None:
    status, js = send(
        desk,
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": "nope",
            "execID": uid("X"),
            "lastQty": "1",
            "lastPx": "1",
            "venue": "MANUAL",
        },
    )
    assert status == 201 and js["execution"]["status"] == "PendingReview"  # held, not refused
    assert js["execution"]["reviewReasons"] == ["unknown_order"]
    refused(
        desk,
        "executions",
        {
            "commandType": "AllocateExecutionCommand",
            "executionId": js["execution"]["executionId"],
            "orderId": "nope2",
        },
        404,
        "not_found",
        "orderId",
    )


# --- 409 ----------------------------------------------------------------------------------------


def test_invalid_transition_is_409(desk: APIClient) -> None:
    order = create(desk)
    ok(desk, "orders", {"commandType": "CancelOrderCommand", "orderId": order["orderId"], "clOrdID": uid()})
    err = refused(
        desk,
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": order["orderId"], "clOrdID": uid()},
        409,
        "invalid_transition",
    )
    assert err["current"] == "Canceled"
    market = child(desk, create(desk)["orderId"])
    refused(
        desk,
        "orders",
        {"commandType": "ConfirmReplaceCommand", "orderId": market["orderId"]},
        409,
        "invalid_transition",
    )


def test_expected_version_mismatch_is_409_version_conflict(desk: APIClient) -> None:
    market = child(desk, create(desk)["orderId"], accept=False)
    assert market["version"] == 1
    err = refused(
        desk,
        "orders",
        {"commandType": "AcceptOrderCommand", "orderId": market["orderId"], "expectedVersion": 5},
        409,
        "version_conflict",
        "expectedVersion",
    )
    assert "1" in err["fields"]["expectedVersion"][0]
    refused(
        desk,
        "orders",
        {"commandType": "AcceptOrderCommand", "orderId": market["orderId"], "expectedVersion": "1"},
        400,
        "validation_failed",
        "expectedVersion",
    )
    js = ok(
        desk,
        "orders",
        {"commandType": "AcceptOrderCommand", "orderId": market["orderId"], "expectedVersion": 1},
    )
    assert js["order"]["status"] == "New" and js["order"]["version"] == 2


def test_execution_expected_version_mismatch_is_409(desk: APIClient) -> None:
    market = child(desk, create(desk)["orderId"])
    _, js = execute(desk, market["orderId"], "1")
    refused(
        desk,
        "executions",
        {
            "commandType": "BustExecutionCommand",
            "expectedVersion": 9,
            "executionId": js["execution"]["executionId"],
        },
        409,
        "version_conflict",
    )


def test_second_replace_while_pending_is_409_replace_pending(desk: APIClient) -> None:
    market = child(desk, create(desk, orderQty="200")["orderId"])
    js = ok(
        desk,
        "orders",
        {
            "commandType": "ReplaceOrderCommand",
            "orderId": market["orderId"],
            "clOrdID": uid(),
            "orderQty": "150",
        },
    )
    assert js["order"]["status"] == "PendingReplace" and js["order"]["pending"]["orderQty"] == "150"
    refused(
        desk,
        "orders",
        {
            "commandType": "ReplaceOrderCommand",
            "orderId": market["orderId"],
            "clOrdID": uid(),
            "orderQty": "120",
        },
        409,
        "replace_pending",
    )


def test_reused_cl_ord_id_with_different_content_is_409(desk: APIClient) -> None:
    first = order_body()
    ok(desk, "orders", first)
    refused(desk, "orders", {**first, "orderQty": "101"}, 409, "duplicate_cl_ord_id", "clOrdID")
    other = create(desk)
    refused(
        desk,
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": other["orderId"], "clOrdID": first["clOrdID"]},
        409,
        "duplicate_cl_ord_id",
        "clOrdID",
    )


def test_child_above_parent_quantity_is_409(desk: APIClient) -> None:
    parent = create(desk, orderQty="10")
    refused(
        desk,
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid(),
            "parentId": parent["orderId"],
            "orderQty": "11",
            "venue": "MANUAL",
        },
        409,
        "exceeds_parent_quantity",
        "orderQty",
    )


# --- 422 ----------------------------------------------------------------------------------------


def test_business_rule_refusal_is_422_with_the_rule(desk: APIClient) -> None:
    parent = create(desk, price="100")
    err = refused(
        desk,
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid(),
            "parentId": parent["orderId"],
            "orderQty": "10",
            "venue": "MANUAL",
            "ordType": "Limit",
            "price": "101",
        },
        422,
        "rule_refused",
        "price",
    )
    assert err["rule"] == "child_within_parent_limit"


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(desk: APIClient) -> None:
    body = order_body()
    first = send(desk, "orders", body, **{"Idempotency-Key": "k-1"})
    assert first[0] == 201
    before = event_count(desk)
    again = send(desk, "orders", body, **{"Idempotency-Key": "k-1"})
    assert again == first  # same status, same body (including the events first appended)
    assert event_count(desk) == before


def test_idempotency_key_with_another_body_is_422(desk: APIClient) -> None:
    body = order_body()
    ok(desk, "orders", body, **{"Idempotency-Key": "k-2"})
    refused(
        desk,
        "orders",
        {**body, "orderQty": "5"},
        422,
        "idempotency_key_reused",
        "Idempotency-Key",
        **{"Idempotency-Key": "k-2"},
    )


def test_idempotency_key_replays_an_error_too(desk: APIClient) -> None:
    body = order_body(orderQty="-1")
    first = send(desk, "orders", body, **{"Idempotency-Key": "k-3"})
    assert first[0] == 400
    assert send(desk, "orders", body, **{"Idempotency-Key": "k-3"}) == first


def test_idempotency_keys_are_per_user(desk: APIClient, admin_user: Any) -> None:
    boss = APIClient()
    boss.force_authenticate(admin_user)
    mine = send(desk, "orders", order_body(), **{"Idempotency-Key": "shared"})
    theirs = send(boss, "orders", order_body(), **{"Idempotency-Key": "shared"})
    assert mine[0] == theirs[0] == 201
    assert mine[1]["order"]["orderId"] != theirs[1]["order"]["orderId"]


def test_idempotency_key_length(desk: APIClient) -> None:
    refused(
        desk,
        "orders",
        order_body(),
        400,
        "validation_failed",
        "Idempotency-Key",
        **{"Idempotency-Key": "k" * 256},
    )
    assert send(desk, "orders", order_body(), **{"Idempotency-Key": "k" * 255})[0] == 201


# --- natural keys -------------------------------------------------------------------------------


def test_repeated_create_with_same_content_is_a_duplicate(desk: APIClient) -> None:
    body = order_body()
    first = ok(desk, "orders", body)
    before = event_count(desk)
    status, js = send(desk, "orders", {**body, "orderQty": "100.000", "text": "resent"})  # same content
    assert status == 200 and js["duplicate"] is True and js["events"] == []
    assert js["order"]["orderId"] == first["order"]["orderId"]
    assert event_count(desk) == before


def test_repeated_execution_for_the_venue_is_a_duplicate(desk: APIClient) -> None:
    market = child(desk, create(desk)["orderId"])
    body = {
        "commandType": "ExecuteOrderCommand",
        "orderId": market["orderId"],
        "execID": "VX-1",
        "lastQty": "10",
        "lastPx": "100",
        "venue": "MANUAL",
    }
    status, first = send(desk, "executions", body)
    assert status == 201 and first["execution"]["status"] == "Allocated" and first["order"]["cumQty"] == "10"
    before = event_count(desk)
    status, again = send(desk, "executions", body)
    assert status == 200 and again["duplicate"] is True and again["events"] == []
    assert again["execution"]["executionId"] == first["execution"]["executionId"]
    assert event_count(desk) == before
    order = desk.get(f"/api/queries/orders/{market['orderId']}").json()
    assert order["cumQty"] == "10"  # applied once
