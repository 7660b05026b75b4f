"""The kill switch (issue 10, step 5): CancelAllCommand cancels exactly the working orders in
scope through the ordinary cancel path (client orders at once, venue orders PendingCancel for
their venue to confirm), answers what it canceled and records CancelAllExecuted."""

from __future__ import annotations

from typing import Any

import pytest

from oms.orders.models import Order
from tests.lifecycle import Desk

pytestmark = pytest.mark.django_db


def kill(desk: Desk, scope: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"commandType": "CancelAllCommand", "scope": scope, "key": key, **extra}
    return desk.ok("controls", {k: v for k, v in body.items() if v is not None})


def status(order: dict[str, Any]) -> str:
    return str(Order.objects.get(pk=order["orderId"]).status)


@pytest.fixture(params=["dispatch", "http"])
def book(request: pytest.FixtureRequest, desk: Any) -> dict[str, Any]:
    """A small desk book: working client orders, a market order at MANUAL, and finished orders."""
    d = Desk(request.param, desk)
    o: dict[str, Any] = {"desk": d}
    o["a1"] = d.client_order(10, account="A1", symbol="S1")  # no children: canceled at once
    o["a2"] = d.client_order(10, account="A2", symbol="S1", venue=None)  # venue-less parent ...
    o["m2"] = d.do("AcceptOrderCommand", d.child(o["a2"], 5, venue="X1"))  # ... its child at X1
    o["a3"] = d.client_order(10, account="A1", symbol="S2", venue="X1")  # a client order at X1
    o["a4"] = d.client_order(10, account="A1", symbol="S1")  # a second A1 client order
    d.fill(d.venue_order(10, account="A1", symbol="S1"), 10)  # a filled tree: not working
    o["done"] = d.cancel(d.client_order(10, account="A1", symbol="S1"))
    return o


def test_cancel_all_global_cancels_every_working_order(book: dict[str, Any]) -> None:
    d = book["desk"]
    answer = kill(d, "global", reason="desk drill")
    record = answer["cancelAll"]
    assert status(book["a1"]) == "Canceled" and status(book["a3"]) == "Canceled"
    assert status(book["a2"]) == "PendingCancel" and status(book["m2"]) == "PendingCancel"
    assert book["a1"]["orderId"] in record["canceled"]
    assert {book["a2"]["orderId"], book["m2"]["orderId"]} <= set(record["cancelRequested"])
    working = Order.objects.filter(status__in=["New", "PartiallyFilled", "PendingNew", "PendingReplace"])
    assert not working.exists()
    assert (record["scope"], record["key"], record["reason"]) == ("global", "*", "desk drill")
    assert (
        answer["events"][-1]["type"] == "CancelAllExecuted"
        and answer["events"][-1]["topic"] == "control-events"
    )


def test_cancel_all_of_an_account_leaves_other_accounts_alone(book: dict[str, Any]) -> None:
    record = kill(book["desk"], "account", "A1")["cancelAll"]
    assert status(book["a1"]) == "Canceled" and status(book["a3"]) == "Canceled"
    assert status(book["a2"]) == "New" and status(book["m2"]) == "New"
    assert sorted(record["canceled"]) == sorted(
        [book["a1"]["orderId"], book["a3"]["orderId"], book["a4"]["orderId"]]
    )
    assert record["cancelRequested"] == []


def test_cancel_all_at_a_venue_pulls_the_street_side_and_keeps_other_client_orders(
    book: dict[str, Any],
) -> None:
    record = kill(book["desk"], "venue", "X1")["cancelAll"]
    assert status(book["m2"]) == "PendingCancel"  # the venue (or the desk for MANUAL) confirms
    assert status(book["a2"]) == "New"  # its client order stays with the desk
    assert status(book["a3"]) == "Canceled"  # a client order routed to X1
    assert status(book["a1"]) == "New"
    assert record["canceled"] == [book["a3"]["orderId"]] and record["cancelRequested"] == [
        book["m2"]["orderId"]
    ]
    d = book["desk"]
    confirmed = d.do("ConfirmCancelCommand", book["m2"])  # the desk flow for a manual venue
    assert confirmed["status"] == "Canceled"


@pytest.mark.parametrize(
    ("key", "expected"), [("S2", {"a3"}), ("X1:S1", {"m2"}), ("X1:S2", {"a3"}), ("X9:S1", set())]
)
def test_cancel_all_of_a_symbol_or_a_symbol_at_a_venue(
    book: dict[str, Any], key: str, expected: set[str]
) -> None:
    record = kill(book["desk"], "symbol", key)["cancelAll"]
    touched = set(record["canceled"]) | set(record["cancelRequested"])
    assert touched == {book[name]["orderId"] for name in expected}


def test_a_pending_cancel_is_reported_as_skipped_and_a_second_kill_cancels_nothing(
    book: dict[str, Any],
) -> None:
    d = book["desk"]
    kill(d, "venue", "X1")
    again = kill(d, "venue", "X1")["cancelAll"]
    assert again["canceled"] == [] and again["cancelRequested"] == []
    assert [s["orderId"] for s in again["skipped"]] == [book["m2"]["orderId"]]


def test_cancel_all_is_refused_to_a_viewer_and_a_malformed_scope_is_400(viewer: Any, desk: Any) -> None:
    response = viewer.post(
        "/api/commands/controls", {"commandType": "CancelAllCommand", "scope": "global"}, format="json"
    )
    assert response.status_code == 403
    response = desk.post(
        "/api/commands/controls", {"commandType": "CancelAllCommand", "scope": "account"}, format="json"
    )
    assert response.status_code == 400 and "key" in response.json()["error"]["fields"]
    listed = desk.get("/api/queries/cancel-alls").json()
    assert listed["count"] == 0
