"""Hardened input (issue 8, item 8): what the command API refuses, and that each refusal names the
real problem and appends nothing. Every case runs in-process (the command bus, as forms, tasks
and the admin use it) and over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.test import Client
from rest_framework.test import APIClient

from oms.api.errors import exception_handler
from oms.core import dispatch as bus
from oms.core import eventfeed
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.parsing import declared_fields
from oms.orders.models import OrderEvent
from tests.conftest import uid

Attempt = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


def order_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("H"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "100",
        "ordType": "Limit",
        "price": "10",
        "account": "ACC1",
        "handling": "Desk",
    }
    body.update(overrides)
    return body


@pytest.fixture(params=["dispatch", "http"])
def attempt(request: pytest.FixtureRequest, desk: APIClient) -> Attempt:
    """Send a command in-process or over HTTP: (status, answer or {"error": ...})."""

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if request.param == "http":
            response = desk.post(f"/api/commands/{topic}", body, format="json")
            return response.status_code, response.json()
        try:
            result = dispatch(topic, body, actor="tester")
        except ApplicationError as exc:
            return exc.http_status, exc.as_dict()
        return result.status_code, result.body

    return send


def refused(attempt: Attempt, topic: str, body: dict[str, Any], field: str) -> list[str]:
    """Send a command that must be refused 400 on `field`, appending nothing; its messages."""
    before = eventfeed.count_events_after(0, None)
    status, answer = attempt(topic, body)
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "validation_failed", error
    assert field in error["fields"], error
    assert eventfeed.count_events_after(0, None) == before, "a refused command appended events"
    return error["fields"][field]


def accepted(attempt: Attempt, topic: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = attempt(topic, body)
    assert status in (200, 201), answer
    return answer


# --- decimals --------------------------------------------------------------------------------------

NOT_PLAIN_DECIMALS = [
    "1_000",
    "1e2",
    "1E2",
    " 10 ",
    "10 ",
    "\u0661\u0660",  # Arabic-Indic "10"
    "\uff11\uff10",  # fullwidth "10"
    "+5",
    "10.",
    ".5",
    "0x10",
    "1,000",
    "Infinity",
    "NaN",
    "10\n",
    "abc",
]


@pytest.mark.parametrize("value", NOT_PLAIN_DECIMALS)
@pytest.mark.parametrize("field", ["orderQty", "price"])
def test_a_decimal_must_be_plain_ascii_digits(attempt: Attempt, field: str, value: str) -> None:
    messages = refused(attempt, "orders", order_body(**{field: value}), field)
    assert len(messages) == 1 and "is not a plain decimal" in messages[0], messages


def test_an_invalid_price_says_what_is_wrong_with_it_not_that_it_is_missing(attempt: Attempt) -> None:
    messages = refused(attempt, "orders", order_body(price="1e2"), "price")
    assert not any("Required" in m for m in messages), messages
    messages = refused(attempt, "orders", order_body(ordType="StopLimit", price="10", stopPx="1_0"), "stopPx")
    assert not any("Required" in m for m in messages), messages


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.12345678901", "At most 10 decimal places."),
        ("1" + "0" * 18, "Too large."),
        ("0", "Must be greater than zero."),
        ("-5", "Must be greater than zero."),
    ],
)
def test_decimal_precision_and_sign_limits_stay(attempt: Attempt, value: str, message: str) -> None:
    assert refused(attempt, "orders", order_body(orderQty=value), "orderQty") == [message]


def test_plain_decimals_and_json_numbers_are_accepted(attempt: Attempt) -> None:
    order = accepted(attempt, "orders", order_body(orderQty="100.25", price="0.0000000001"))["order"]
    assert (order["orderQty"], order["price"]) == ("100.25", "0.0000000001")
    # JSON numbers stay accepted (the schema documents strings): the exact integer, or the float's
    # shortest decimal form
    order = accepted(attempt, "orders", order_body(orderQty=7, price=99.5))["order"]
    assert (order["orderQty"], order["price"]) == ("7", "99.5")


@pytest.mark.parametrize("value", [1e2, 1e-11, 1e30, True])
def test_json_numbers_meet_the_same_limits(attempt: Attempt, value: Any) -> None:
    if value == 1e2:
        assert accepted(attempt, "orders", order_body(orderQty=value))["order"]["orderQty"] == "100"
    else:
        refused(attempt, "orders", order_body(orderQty=value), "orderQty")


# --- identifiers and text ----------------------------------------------------------------------------

BAD_IDENTIFIERS = {
    "rtl-override": ("AB\u202eCD", "bidi control"),
    "lri-isolate": ("\u2066AB", "bidi control"),
    "zero-width-space": ("A\u200bB", "invisible format"),
    "byte-order-mark": ("\ufeffAB", "invisible format"),
    "bell": ("A\x07B", "control character"),
    "newline": ("AB\n", "control character"),
    "space-inside": ("A B", "spaces"),
    "leading-space": (" AB", "spaces"),
    "non-ascii": ("\u00c4BC", "printable ASCII"),
    "cyrillic-lookalike": ("\u0410CME", "printable ASCII"),
    "script": ("<script>", "Must not contain '<'"),
    "quote": ('A"B', "Must not contain '\"'"),
}


@pytest.mark.parametrize("case", sorted(BAD_IDENTIFIERS))
@pytest.mark.parametrize("field", ["clOrdID", "symbol", "account", "venue"])
def test_identifiers_are_printable_ascii_without_spaces(attempt: Attempt, field: str, case: str) -> None:
    value, problem = BAD_IDENTIFIERS[case]
    messages = refused(attempt, "orders", order_body(**{field: value}), field)
    assert len(messages) == 1 and problem in messages[0], messages


@pytest.mark.parametrize(
    ("topic", "body", "field"),
    [
        ("orders", {"commandType": "CancelOrderCommand", "orderId": "O\u200b1", "clOrdID": "X"}, "orderId"),
        (
            "executions",
            {
                "commandType": "ExecuteOrderCommand",
                "orderId": "O1",
                "execID": "E\u202e1",
                "lastQty": "1",
                "lastPx": "1",
            },
            "execID",
        ),
        ("executions", {"commandType": "BustExecutionCommand", "executionId": "E 1"}, "executionId"),
        (
            "quote-requests",
            {
                "commandType": "CreateQuoteRequestCommand",
                "quoteReqID": "R\u2067",
                "symbol": "ACME",
                "side": "Buy",
                "orderQty": "1",
                "account": "A",
            },
            "quoteReqID",
        ),
        (
            "quotes",
            {"commandType": "CreateQuoteCommand", "quoteID": "Q<1>", "quoteReqID": "R1", "bidPx": "1"},
            "quoteID",
        ),
        ("quotes", {"commandType": "AcceptQuoteCommand", "quoteId": "q1", "clOrdID": "C\u00a01"}, "clOrdID"),
    ],
    ids=["orderId", "execID", "executionId", "quoteReqID", "quoteID", "accept-clOrdID"],
)
def test_every_command_checks_its_identifiers(
    attempt: Attempt, topic: str, body: dict[str, Any], field: str
) -> None:
    refused(attempt, topic, body, field)


def test_the_identifier_pattern_is_a_setting(attempt: Attempt, settings: Any) -> None:
    settings.OMS_IDENTIFIER_PATTERN = r"[A-Z0-9-]+"
    messages = refused(attempt, "orders", order_body(account="acc_1"), "account")
    assert messages == ["Must not contain 'a'."], messages
    # control, bidi and zero-width characters are refused whatever the pattern admits
    settings.OMS_IDENTIFIER_PATTERN = r".+"
    refused(attempt, "orders", order_body(account="A\u200bB"), "account")
    assert (
        accepted(attempt, "orders", order_body(account="Kunde-\u00c4"))["order"]["account"] == "Kunde-\u00c4"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("see \u202eevil", "bidi control"),
        ("see \u2066evil\u2069", "bidi control"),
        ("\x1b[31mred", "control character"),
        ("nul-less \x08 backspace", "control character"),
    ],
)
def test_free_text_refuses_control_and_bidi_characters(attempt: Attempt, value: str, problem: str) -> None:
    messages = refused(attempt, "orders", order_body(text=value), "text")
    assert len(messages) == 1 and problem in messages[0], messages


def test_free_text_may_be_unicode_on_several_lines(attempt: Attempt) -> None:
    text = "Kunde m\u00f6chte \u65e5\u672c\u682a\nbis 16:00\tbitte"
    assert accepted(attempt, "orders", order_body(text=text))["order"]["text"] == text


# --- unknown fields ----------------------------------------------------------------------------------


def test_unknown_fields_are_refused_by_name_and_never_stored(attempt: Attempt) -> None:
    body = order_body(junk="x" * 1000, clordid="lowercase typo")
    messages = refused(attempt, "orders", body, "junk")
    assert messages == ["Unknown field: CreateOrderCommand does not take it."]
    _, answer = attempt("orders", body)
    assert set(answer["error"]["fields"]) == {"junk", "clordid"}
    assert "junk" in answer["error"]["message"] and "clordid" in answer["error"]["message"]
    assert not OrderEvent.objects.filter(command__has_key="junk").exists()


@pytest.mark.parametrize(
    ("topic", "body", "field"),
    [
        (
            "orders",
            {"commandType": "CancelOrderCommand", "orderId": "O1", "clOrdID": "X", "price": "1"},
            "price",
        ),
        ("orders", {"commandType": "AcceptOrderCommand", "orderId": "O1", "venue": "XNAS"}, "venue"),
        (
            "executions",
            {"commandType": "BustExecutionCommand", "executionId": "E1", "lastQty": "1"},
            "lastQty",
        ),
        ("quotes", {"commandType": "RejectQuoteCommand", "quoteId": "q1", "attributes": {}}, "attributes"),
    ],
)
def test_a_field_of_another_command_type_is_unknown_here(
    attempt: Attempt, topic: str, body: dict[str, Any], field: str
) -> None:
    refused(attempt, topic, body, field)


def test_every_command_type_declares_its_fields() -> None:
    registered = {t for handlers in bus._HANDLERS.values() for t in handlers}
    assert registered, "no command handlers registered"
    undeclared = sorted(t for t in registered if declared_fields(t) is None)
    assert not undeclared, undeclared
    for command_type in registered:
        assert {"commandType", "expectedVersion"} <= declared_fields(command_type)  # type: ignore[operator]  # declared_fields is typed Iterable; it returns a set


def test_internal_commands_are_not_reachable_over_http(desk: APIClient) -> None:
    response = desk.post(
        "/api/commands/quotes", {"commandType": "ExpireQuoteCommand", "quoteId": "q1"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and "commandType" in error["fields"]
    assert "ExpireQuoteCommand" not in error["fields"]["commandType"][0].split(": ", 1)[1]


# --- attributes ----------------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({f"k{i}": i for i in range(65)}, "At most 64 keys"),
        ({"blob": "x" * (16 * 1024)}, "At most 16384 bytes"),
        ({"a": _nested(4)}, "Nested at most 4 levels deep"),
        ({"a": [[[[1]]]]}, "Nested at most 4 levels deep"),
    ],
    ids=["65-keys", "over-16KB", "depth-5", "lists-depth-5"],
)
def test_attributes_are_bounded(attempt: Attempt, attributes: dict[str, Any], problem: str) -> None:
    messages = refused(attempt, "orders", order_body(attributes=attributes), "attributes")
    assert len(messages) == 1 and problem in messages[0], messages


def test_attributes_within_the_bounds_are_kept(attempt: Attempt) -> None:
    attributes = {**{f"k{i}": i for i in range(60)}, "deep": _nested(3)}  # 64 keys in all
    order = accepted(attempt, "orders", order_body(attributes=attributes))["order"]
    assert order["attributes"] == attributes


def test_attribute_bounds_are_settings(attempt: Attempt, settings: Any) -> None:
    settings.OMS_ATTRIBUTES_MAX_KEYS = 2
    settings.OMS_ATTRIBUTES_MAX_BYTES = 100
    refused(attempt, "orders", order_body(attributes={"a": 1, "b": 2, "c": 3}), "attributes")
    refused(attempt, "orders", order_body(attributes={"a": "x" * 100}), "attributes")
    accepted(attempt, "orders", order_body(attributes={"a": 1, "b": 2}))


# --- request size ---------------------------------------------------------------------------------------


def _assert_413(response: Any, limit: int) -> None:
    assert response.status_code == 413, response.content[:200]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and str(limit) in error["message"], error
    assert isinstance(error["fields"], dict)


def test_a_command_body_over_the_limit_is_413(desk: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    before = OrderEvent.objects.count()
    body = json.dumps(order_body(text="x" * 5000))
    _assert_413(desk.post("/api/commands/orders", data=body, content_type="application/json"), 4096)
    assert OrderEvent.objects.count() == before
    # just under the limit is an ordinary command
    small = json.dumps(order_body(text="x" * 900))
    assert desk.post("/api/commands/orders", data=small, content_type="application/json").status_code == 201


def test_the_default_limit_answers_413_not_500(desk: APIClient, settings: Any) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps(order_body(attributes={"blob": "x" * (limit + 1)}))
    _assert_413(desk.post("/api/commands/orders", data=body, content_type="application/json"), limit)


def test_a_form_post_over_the_limit_is_413(desk_user: User, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    browser = Client()
    browser.force_login(desk_user)
    response = browser.post("/blotter/forms/new/", {"clOrdID": "F1", "text": "x" * 5000})
    _assert_413(response, 4096)


def test_the_api_exception_handler_maps_a_body_found_too_large_while_read() -> None:
    """A chunked body has no Content-Length for the middleware: DRF meets RequestDataTooBig."""
    response = exception_handler(RequestDataTooBig("too big"), {"view": None})
    assert response is not None and response.status_code == 413
    assert response.data["error"]["code"] == "payload_too_large"
