"""Execution processing: validation and the review queue, idempotent execIDs, allocation up the
order tree, trade corrections and busts, and the desk's allocate/reject of held executions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from executions.models import Execution, ExecutionEvent
from oms.orders.models import OrderEvent
from tests.lifecycle import D, Desk, px, q, uid


def limit_buy(t: Desk, qty: int = 100, price: str = "10") -> dict:
    return t.venue_order(qty, ordType="Limit", price=price)


def held(t: Desk, order: dict | str, qty, price="10", **fields) -> dict:
    """Send an execution that must be held for review; returns the execution."""
    answer = t.execute(order, qty, price, **fields)
    assert answer["execution"]["status"] == "PendingReview", answer["execution"]
    assert "order" not in answer
    return answer["execution"]


# --- valid executions -----------------------------------------------------------------------------


def test_valid_execution_is_allocated_and_reflected_on_the_client_order(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    status, answer = t.send(
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": m["orderId"],
            "execID": uid("V"),
            "lastQty": "40",
            "lastPx": "10.25",
            "venue": "MANUAL",
            "transactTime": "2024-03-01T14:30:00Z",
        },
    )
    assert status == 201
    execution = answer["execution"]
    assert (execution["status"], execution["reviewReasons"]) == ("Allocated", [])
    assert (execution["orderId"], execution["clientOrderId"]) == (m["orderId"], m["rootId"])
    assert (D(execution["lastQty"]), D(execution["lastPx"])) == (40, Decimal("10.25"))
    assert execution["transactTime"].startswith("2024-03-01T14:30:00")
    assert q(answer["order"]) == ("PartiallyFilled", 100, 40, 60)
    types = [(e["type"], e["aggregateId"]) for e in answer["events"]]
    assert ("ExecutionAllocated", execution["executionId"]) in types
    assert ("OrderFilled", m["orderId"]) in types
    assert ("ChildOrderUpdated", m["rootId"]) in types
    filled = next(e for e in answer["events"] if e["type"] == "OrderFilled")
    assert filled["occurredAt"].startswith("2024-03-01T14:30:00")  # venue time
    client = t.get(m["rootId"])
    assert q(client) == ("PartiallyFilled", 100, 40, 60)
    assert (D(client["allocatedQty"]), px(client)) == (40, Decimal("10.25"))


def test_venue_defaults_to_the_orders_venue(trader: Desk) -> None:
    m = trader.venue_order(100)
    answer = trader.execute(m["orderId"], 10)  # no venue given
    assert (answer["execution"]["venue"], answer["execution"]["status"]) == ("MANUAL", "Allocated")


def test_fill_exactly_to_order_qty_is_valid(trader: Desk) -> None:
    m = limit_buy(trader)
    m = trader.fill(m, 60, "10")  # at the limit: not through it
    m = trader.fill(m, 40, "9.9")
    assert q(m) == ("Filled", 100, 100, 0)
    assert px(m) == Decimal("9.96")


# --- held for review ------------------------------------------------------------------------------


def test_unknown_order_is_held(trader_any: Desk) -> None:
    execution = held(trader_any, "O-does-not-exist", 10, venue="XNAS")
    assert execution["reviewReasons"] == ["unknown_order"]
    assert execution["clientOrderId"] is None
    assert "unknown_order" in execution["reviewDetails"]


@pytest.mark.parametrize(
    ("qty", "price", "fields", "reasons"),
    [
        ("0", "10", {}, ["non_positive_quantity"]),
        ("-5", "10", {}, ["non_positive_quantity"]),
        ("10", "0", {}, ["non_positive_price"]),
        ("10", "-1", {}, ["non_positive_price"]),
        ("100", "10", {}, ["overfill"]),
        ("10", "10.01", {}, ["price_through_limit"]),
        ("10", "10", {"venue": "XLON"}, ["venue_mismatch"]),
        ("0", "10.5", {"venue": "XLON"}, ["non_positive_quantity", "price_through_limit", "venue_mismatch"]),
        ("150", "11", {}, ["overfill", "price_through_limit"]),
    ],
)
def test_invalid_execution_is_held_and_changes_no_order(
    trader_any: Desk, qty, price, fields, reasons
) -> None:
    t = trader_any
    m = t.fill(limit_buy(t), 1, "10")  # the order already has a fill: 99 left
    order_events = OrderEvent.objects.count()
    execution = held(t, m, qty, price, **fields)
    assert execution["reviewReasons"] == reasons
    assert set(execution["reviewDetails"]) == set(reasons)
    assert OrderEvent.objects.count() == order_events
    after = t.refresh(m)
    assert (q(after), after["version"]) == (q(m), m["version"])
    assert D(t.get(m["rootId"])["allocatedQty"]) == 1


def test_price_through_limit_for_a_sell_is_below_the_limit(trader: Desk) -> None:
    m = trader.venue_order(100, side="Sell", ordType="Limit", price="10")
    assert held(trader, m, 10, "9.99")["reviewReasons"] == ["price_through_limit"]
    assert q(trader.fill(m, 10, "10.5")) == ("PartiallyFilled", 100, 10, 90)


def test_execution_on_a_rejected_order_is_held(trader: Desk) -> None:
    m = trader.do("RejectOrderCommand", trader.venue_order(100, accept=False))
    assert held(trader, m, 10)["reviewReasons"] == ["order_rejected"]


def test_execution_on_a_client_order_is_held(trader: Desk) -> None:
    client = trader.client_order(100)
    assert held(trader, client, 10)["reviewReasons"] == ["not_a_venue_order"]
    assert q(trader.refresh(client)) == ("New", 100, 0, 100)


def test_malformed_execution_is_a_validation_error(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    body = {"commandType": "ExecuteOrderCommand", "orderId": m["orderId"], "lastQty": "abc", "lastPx": "10"}
    error = t.refused("executions", body, 400, "validation_failed")
    assert {"execID", "lastQty"} <= set(error["fields"])
    assert Execution.objects.count() == 0


# --- idempotent execIDs ---------------------------------------------------------------------------


def test_repeated_exec_id_for_the_same_venue_is_a_duplicate(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    exec_id = uid("DUP")
    first = t.execute(m, 30, execID=exec_id)
    events = ExecutionEvent.objects.count(), OrderEvent.objects.count()
    body = {
        "commandType": "ExecuteOrderCommand",
        "orderId": m["orderId"],
        "execID": exec_id,
        "lastQty": "30",
        "lastPx": "10",
        "venue": "MANUAL",
    }
    status, again = t.send("executions", body)
    assert (status, again["duplicate"], again["events"]) == (200, True, [])
    assert again["execution"]["executionId"] == first["execution"]["executionId"]
    assert (ExecutionEvent.objects.count(), OrderEvent.objects.count()) == events
    assert q(t.refresh(m)) == ("PartiallyFilled", 100, 30, 70)


def test_repeated_exec_id_of_a_held_execution_is_a_duplicate(trader: Desk) -> None:
    m = trader.venue_order(100)
    first = held(trader, m, 500, execID="H-1")
    again = trader.execute(m, 500, execID="H-1")
    assert (again["duplicate"], again["execution"]["executionId"]) == (True, first["executionId"])
    assert Execution.objects.count() == 1


def test_same_exec_id_at_another_venue_is_another_execution(trader: Desk) -> None:
    a = trader.venue_order(100)
    b = trader.child(trader.client_order(100, venue="XLON", handling="Desk"), 100)
    trader.execute(a, 10, execID="SAME")
    answer = trader.execute(b, 10, execID="SAME")
    assert (answer["duplicate"], answer["execution"]["venue"]) == (False, "XLON")
    assert Execution.objects.filter(exec_id="SAME").count() == 2


# --- corrections (TradeCorrect) -------------------------------------------------------------------


def test_correct_quantity_and_price_recomputes_the_tree(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    first = t.execute(m, 20, "10")["execution"]
    t.execute(m, 20, "12")
    answer = t.ok("executions", t.exec_command("CorrectExecutionCommand", first, lastQty="30", lastPx="11"))
    execution = answer["execution"]
    assert (execution["status"], D(execution["lastQty"]), D(execution["lastPx"])) == ("Allocated", 30, 11)
    assert execution["version"] == first["version"] + 1
    m = answer["order"]
    assert q(m) == ("PartiallyFilled", 100, 50, 50)
    assert px(m) == Decimal("11.4")  # (30*11 + 20*12) / 50
    client = t.get(m["rootId"])
    assert (D(client["cumQty"]), D(client["allocatedQty"]), px(client)) == (50, 50, Decimal("11.4"))


def test_correction_down_reopens_a_filled_order(trader: Desk) -> None:
    m = trader.venue_order(100)
    execution = trader.execute(m, 100)["execution"]
    assert q(trader.refresh(m)) == ("Filled", 100, 100, 0)
    m = trader.ok("executions", trader.exec_command("CorrectExecutionCommand", execution, lastQty="70"))[
        "order"
    ]
    assert q(m) == ("PartiallyFilled", 100, 70, 30)
    assert q(trader.get(m["rootId"])) == ("PartiallyFilled", 100, 70, 30)


def test_correction_that_would_overfill_is_refused(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    execution = t.execute(m, 60)["execution"]
    t.execute(m, 30)
    events = OrderEvent.objects.count(), ExecutionEvent.objects.count()
    error = t.refused(
        "executions", t.exec_command("CorrectExecutionCommand", execution, lastQty="71"), 422, "rule_refused"
    )
    assert error["rule"] == "no_overfill"
    assert (OrderEvent.objects.count(), ExecutionEvent.objects.count()) == events
    assert q(t.refresh(m)) == ("PartiallyFilled", 100, 90, 10)
    # up to the order quantity is fine
    m = t.ok("executions", t.exec_command("CorrectExecutionCommand", execution, lastQty="70"))["order"]
    assert q(m) == ("Filled", 100, 100, 0)


def test_correction_needs_a_new_quantity_or_price(trader: Desk) -> None:
    execution = trader.execute(trader.venue_order(100), 10)["execution"]
    trader.refused(
        "executions", trader.exec_command("CorrectExecutionCommand", execution), 400, "validation_failed"
    )
    cmd = trader.exec_command("CorrectExecutionCommand", execution, lastQty="0")
    trader.refused("executions", cmd, 400, "validation_failed")


def test_correcting_a_held_execution_rechecks_it(trader: Desk) -> None:
    m = limit_buy(trader)
    execution = held(trader, m, 150, "10.5")
    assert execution["reviewReasons"] == ["overfill", "price_through_limit"]
    answer = trader.ok("executions", trader.exec_command("CorrectExecutionCommand", execution, lastQty="50"))
    execution = answer["execution"]
    assert (execution["status"], execution["reviewReasons"]) == ("PendingReview", ["price_through_limit"])
    assert "order" not in answer
    execution = trader.ok(
        "executions", trader.exec_command("CorrectExecutionCommand", execution, lastPx="9.5")
    )["execution"]
    assert (execution["status"], execution["reviewReasons"]) == ("PendingReview", [])
    assert q(trader.refresh(m)) == ("New", 100, 0, 100)  # still nothing applied until allocated
    answer = trader.ok("executions", trader.exec_command("AllocateExecutionCommand", execution))
    assert (answer["execution"]["status"], answer["execution"]["overriddenReasons"]) == ("Allocated", [])
    assert q(answer["order"]) == ("PartiallyFilled", 100, 50, 50)
    assert px(answer["order"]) == Decimal("9.5")


# --- busts (TradeCancel) --------------------------------------------------------------------------


def test_bust_takes_the_quantity_back_out(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    t.execute(m, 60, "10")
    last = t.execute(m, 40, "20")
    assert q(last["order"]) == ("Filled", 100, 100, 0)
    answer = t.ok("executions", t.exec_command("BustExecutionCommand", last["execution"]))
    assert answer["execution"]["status"] == "Busted"
    m = answer["order"]
    assert q(m) == ("PartiallyFilled", 100, 60, 40)
    assert px(m) == 10
    client = t.get(m["rootId"])
    assert q(client) == ("PartiallyFilled", 100, 60, 40)
    assert (D(client["allocatedQty"]), px(client)) == (60, 10)
    # a busted execution cannot be busted or corrected again
    t.refused(
        "executions", t.exec_command("BustExecutionCommand", last["execution"]), 409, "invalid_transition"
    )
    cmd = t.exec_command("CorrectExecutionCommand", last["execution"], lastQty="1")
    t.refused("executions", cmd, 409, "invalid_transition")


def test_bust_of_only_fill_returns_to_new(trader: Desk) -> None:
    m = trader.venue_order(100)
    execution = trader.execute(m, 25)["execution"]
    m = trader.ok("executions", trader.exec_command("BustExecutionCommand", execution))["order"]
    assert q(m) == ("New", 100, 0, 100)
    assert px(m) == 0


def test_bust_of_a_held_execution_is_refused(trader: Desk) -> None:
    execution = held(trader, trader.venue_order(100), 500)
    cmd = trader.exec_command("BustExecutionCommand", execution)
    trader.refused("executions", cmd, 409, "invalid_transition")


def test_bust_unknown_execution_is_not_found(trader: Desk) -> None:
    trader.refused(
        "executions", {"commandType": "BustExecutionCommand", "executionId": "E-nope"}, 404, "not_found"
    )


def test_execution_expected_version_mismatch(trader: Desk) -> None:
    execution = trader.execute(trader.venue_order(100), 10)["execution"]
    cmd = trader.exec_command("BustExecutionCommand", execution, expectedVersion=execution["version"] + 1)
    trader.refused("executions", cmd, 409, "version_conflict")
    cmd = trader.exec_command("BustExecutionCommand", execution, expectedVersion=execution["version"])
    assert trader.ok("executions", cmd)["execution"]["status"] == "Busted"


# --- the desk: allocate and reject held executions ------------------------------------------------


@pytest.mark.parametrize(
    ("price", "venue", "overridden"),
    [("10.5", None, ["price_through_limit"]), ("10", "XLON", ["venue_mismatch"])],
)
def test_desk_overrides_price_through_limit_or_venue_mismatch(
    trader_any: Desk, price, venue, overridden
) -> None:
    t = trader_any
    m = limit_buy(t)
    fields = {"venue": venue} if venue else {}
    execution = held(t, m, 40, price, **fields)
    assert execution["reviewReasons"] == overridden
    answer = t.ok("executions", t.exec_command("AllocateExecutionCommand", execution, text="venue confirmed"))
    execution = answer["execution"]
    assert (execution["status"], execution["overriddenReasons"], execution["reviewReasons"]) == (
        "Allocated",
        overridden,
        [],
    )
    assert (execution["clientOrderId"], execution["text"]) == (m["rootId"], "venue confirmed")
    assert q(answer["order"]) == ("PartiallyFilled", 100, 40, 60)
    assert D(t.get(m["rootId"])["allocatedQty"]) == 40


@pytest.mark.parametrize("reason", ["overfill", "order_rejected"])
def test_desk_cannot_override_overfill_or_rejected_order(trader: Desk, reason: str) -> None:
    if reason == "overfill":
        m = trader.venue_order(100)
        execution = held(trader, m, 120)
    else:
        m = trader.do("RejectOrderCommand", trader.venue_order(100, accept=False))
        execution = held(trader, m, 10)
    events = OrderEvent.objects.count()
    error = trader.refused(
        "executions", trader.exec_command("AllocateExecutionCommand", execution), 422, "rule_refused"
    )
    assert reason in error["fields"]
    assert OrderEvent.objects.count() == events
    assert Execution.objects.get(pk=execution["executionId"]).doc["status"] == "PendingReview"


def test_allocation_rechecks_against_the_order_as_it_is_now(trader: Desk) -> None:
    m = limit_buy(trader)
    execution = held(trader, m, 60, "10.5")  # through the limit
    trader.fill(m, 50, "10")  # meanwhile the order filled further: 60 no longer fits
    error = trader.refused(
        "executions", trader.exec_command("AllocateExecutionCommand", execution), 422, "rule_refused"
    )
    assert error["rule"] == "allocation_valid"
    assert "overfill" in error["fields"]
    assert q(trader.refresh(m)) == ("PartiallyFilled", 100, 50, 50)


def test_unknown_order_execution_is_allocated_to_another_order(trader_any: Desk) -> None:
    t = trader_any
    execution = held(t, "O-typo", 30, venue="MANUAL")
    error = t.refused(
        "executions", t.exec_command("AllocateExecutionCommand", execution), 422, "rule_refused"
    )
    assert error["rule"] == "allocate_to_known_order"
    m = t.venue_order(100)
    cmd = t.exec_command("AllocateExecutionCommand", execution, orderId="O-still-wrong")
    t.refused("executions", cmd, 404, "not_found")
    answer = t.ok("executions", t.exec_command("AllocateExecutionCommand", execution, orderId=m["orderId"]))
    execution = answer["execution"]
    assert (execution["status"], execution["orderId"], execution["clientOrderId"]) == (
        "Allocated",
        m["orderId"],
        m["rootId"],
    )
    assert q(answer["order"]) == ("PartiallyFilled", 100, 30, 70)
    # the execution now belongs to that order: a bust takes the quantity out of it
    m = t.ok("executions", t.exec_command("BustExecutionCommand", execution))["order"]
    assert q(m) == ("New", 100, 0, 100)


def test_allocation_to_a_client_order_is_refused(trader: Desk) -> None:
    execution = held(trader, "O-typo", 30, venue="MANUAL")
    client = trader.client_order(100)
    cmd = trader.exec_command("AllocateExecutionCommand", execution, orderId=client["orderId"])
    error = trader.refused("executions", cmd, 422, "rule_refused")
    assert "not_a_venue_order" in error["fields"]


def test_allocate_or_reject_an_allocated_execution_is_refused(trader: Desk) -> None:
    execution = trader.execute(trader.venue_order(100), 10)["execution"]
    for command_type in ("AllocateExecutionCommand", "RejectExecutionCommand"):
        trader.refused("executions", trader.exec_command(command_type, execution), 409, "invalid_transition")


def test_desk_rejects_a_held_execution(trader_any: Desk) -> None:
    t = trader_any
    m = t.venue_order(100)
    execution = held(t, m, 500)
    order_events = OrderEvent.objects.count()
    answer = t.ok("executions", t.exec_command("RejectExecutionCommand", execution, text="venue error"))
    assert (answer["execution"]["status"], answer["execution"]["text"]) == ("Rejected", "venue error")
    assert "order" not in answer
    assert OrderEvent.objects.count() == order_events
    assert q(t.refresh(m)) == ("New", 100, 0, 100)
    t.refused("executions", t.exec_command("AllocateExecutionCommand", execution), 409, "invalid_transition")
    # the execID stays taken: a resend is still the same (rejected) execution
    again = t.execute(m, 500, execID=execution["execID"])
    assert (again["duplicate"], again["execution"]["status"]) == (True, "Rejected")


# --- queries --------------------------------------------------------------------------------------


def test_execution_queries_by_order_and_status(desk, db) -> None:
    t = Desk("http", desk)
    m = t.venue_order(100)
    t.execute(m, 10)
    held(t, m, 500)
    response = desk.get("/api/queries/executions", {"orderId": m["orderId"]})
    assert response.status_code == 200
    assert response.json()["count"] == 2
    response = desk.get("/api/queries/executions", {"clientOrderId": m["rootId"], "status": "Allocated"})
    results = response.json()["results"]
    assert [(r["status"], D(r["lastQty"])) for r in results] == [("Allocated", 10)]
    one = desk.get(f"/api/queries/executions/{results[0]['executionId']}").json()
    assert one["execID"] == results[0]["execID"]
