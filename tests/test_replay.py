"""Replay: the state tables are a pure function of the event tables.

A varied history is built through the command bus; replaying its events with the live `apply`
must give back exactly the live state rows, the state stored on every event and the ClOrdID index.
Tampering with any of them is reported; a rebuild restores them.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from executions.models import Execution, ExecutionEvent
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.replay import ReplayAborted, replay
from oms.lifecycle.audit import triggers_disabled
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from oms.positions.models import Position, PositionEvent
from rules.models import Rule, RuleEvent
from tests.conftest import uid

pytestmark = pytest.mark.django_db


def order_cmd(command_type: str, **fields: Any) -> dict[str, Any]:
    out = dispatch("orders", {"commandType": command_type, **fields}, actor="trader")
    return out.body


def exec_cmd(command_type: str, **fields: Any) -> dict[str, Any]:
    out = dispatch("executions", {"commandType": command_type, **fields}, actor="trader")
    return out.body


def client_order(qty: str = "100", **extra: Any) -> str:
    body = order_cmd(
        "CreateOrderCommand",
        clOrdID=uid("C"),
        symbol="ACME",
        side="Buy",
        orderQty=qty,
        ordType="Limit",
        price="50",
        account="ACC1",
        handling="Desk",
        **extra,
    )
    return body["order"]["orderId"]


def child(parent_id: str, qty: str, *, accept: bool = True, **extra: Any) -> str:
    body = order_cmd(
        "CreateOrderCommand", clOrdID=uid("M"), parentId=parent_id, orderQty=qty, venue="MANUAL", **extra
    )
    order_id = body["order"]["orderId"]
    if accept:
        order_cmd("AcceptOrderCommand", orderId=order_id)
    return order_id


def fill(order_id: str, qty: str, px: str = "49.5", venue: str = "MANUAL") -> dict[str, Any]:
    return exec_cmd(
        "ExecuteOrderCommand", orderId=order_id, execID=uid("X"), lastQty=qty, lastPx=px, venue=venue
    )["execution"]


def build_history() -> dict[str, str]:
    """Creates, fills, corrections, busts, held executions, cancels, replaces and a cascade."""
    ids: dict[str, str] = {}
    # tree 1: two market orders, one with slices; fills, a correction, a bust, held executions
    c1 = ids["c1"] = client_order("1000")
    m1 = child(c1, "400")
    m2 = child(c1, "300")
    s1 = child(m1, "150")
    s2 = child(m1, "100", accept=False)
    fill(s1, "100", "49")
    e2 = fill(s1, "50", "49.25")
    fill(m2, "120", "48.75")
    e4 = fill(m2, "30", "48.8")
    exec_cmd("CorrectExecutionCommand", executionId=e2["executionId"], lastQty="40", lastPx="49.1")
    exec_cmd("BustExecutionCommand", executionId=e4["executionId"])
    held = fill(m2, "1000", "48")  # overfill: held for review
    assert held["status"] == "PendingReview"
    exec_cmd("CorrectExecutionCommand", executionId=held["executionId"], lastQty="20")
    exec_cmd("AllocateExecutionCommand", executionId=held["executionId"])
    junk = fill(m2, "5", "60")  # through the limit: held, then discarded
    exec_cmd("RejectExecutionCommand", executionId=junk["executionId"], text="bad print")
    exec_cmd(
        "ExecuteOrderCommand", orderId="O-unknown", execID=uid("X"), lastQty="1", lastPx="1", venue="MANUAL"
    )
    # replace a market order (requested, then confirmed) and a client order (at once)
    order_cmd("ReplaceOrderCommand", orderId=m2, clOrdID=uid("R"), orderQty="250", price="49")
    order_cmd("ConfirmReplaceCommand", orderId=m2)
    order_cmd("ReplaceOrderCommand", orderId=m1, clOrdID=uid("R"), orderQty="500")
    order_cmd("RejectReplaceCommand", orderId=m1, text="venue says no")
    order_cmd("ReplaceOrderCommand", orderId=c1, clOrdID=uid("R"), orderQty="1100")
    # cascade: cancelling the client order cancels its working children (and their slices)
    order_cmd("CancelOrderCommand", orderId=c1, clOrdID=uid("K"))
    for row in (
        Order.objects.filter(root_id=c1, status="PendingCancel").exclude(kind="Client").order_by("-kind")
    ):
        if Order.objects.get(pk=row.pk).status != "PendingCancel":
            continue
        if row.kind == "Slice" and row.order_id == s2:
            order_cmd("RejectOrderCommand", orderId=s2, text="never acknowledged")
            continue
        if Order.objects.get(pk=row.pk).doc["workingChildren"] == 0:
            order_cmd("ConfirmCancelCommand", orderId=row.pk)
    for _ in range(3):  # parents complete their cancel once their children are done
        for row in Order.objects.filter(root_id=c1, status="PendingCancel", kind="Market"):
            if row.doc["workingChildren"] == 0 and row.doc["pendingCancel"].get("cascade") is False:
                order_cmd("ConfirmCancelCommand", orderId=row.pk)
    ids["c1_status"] = Order.objects.get(pk=c1).status

    # tree 2: filled, done for day, restated, expired
    c2 = ids["c2"] = client_order("200")
    m3 = child(c2, "200")
    fill(m3, "150", "50")
    order_cmd("DoneForDayCommand", orderId=m3)
    order_cmd("DoneForDayCommand", orderId=c2)
    order_cmd("RestateOrderCommand", orderId=m3, orderQty="180")
    order_cmd("RestateOrderCommand", orderId=c2, orderQty="250", text="split")
    c3 = client_order("10")
    order_cmd("ExpireOrderCommand", orderId=c3)
    c4 = client_order("10")
    order_cmd("RejectOrderCommand", orderId=c4, text="no")
    c5 = client_order("10")
    order_cmd("CancelOrderCommand", orderId=c5, clOrdID=uid("K"))
    # a refused command appends nothing
    with pytest.raises(ApplicationError):
        order_cmd("CancelOrderCommand", orderId=c5, clOrdID=uid("K"))
    return ids


def snapshot() -> dict[str, Any]:
    return {
        "orders": {o.pk: (o.doc, o.cum_qty, o.status, o.version) for o in Order.objects.all()},
        "executions": {e.pk: (e.doc, e.status, e.version) for e in Execution.objects.all()},
        "clordids": set(ClOrdIdKey.objects.values_list("cl_ord_id", "order_id", "fingerprint")),
    }


def test_history_replays_to_the_live_state() -> None:
    build_history()
    report = replay()
    assert report.ok, [str(d) for d in report.differences]
    # the seeded routing rules are events too (rules 0006, rules.seed); positions follow the
    # orders and executions in the same transactions (oms/positions)
    assert report.events == (
        OrderEvent.objects.count()
        + ExecutionEvent.objects.count()
        + RuleEvent.objects.count()
        + PositionEvent.objects.count()
    )
    assert report.aggregates == (
        Order.objects.count() + Execution.objects.count() + Rule.objects.count() + Position.objects.count()
    )
    by_type = {t.name: t for t in report.types}
    assert by_type["order"].index_rows == ClOrdIdKey.objects.count()
    # the history really is varied
    types = set(OrderEvent.objects.values_list("type", flat=True)) | set(
        ExecutionEvent.objects.values_list("type", flat=True)
    )
    assert {
        "OrderCreated",
        "OrderAccepted",
        "OrderFilled",
        "OrderFillCorrected",
        "OrderFillBusted",
        "ChildOrderUpdated",
        "OrderCancelRequested",
        "OrderCanceled",
        "OrderReplaceRequested",
        "OrderReplaced",
        "OrderReplaceRejected",
        "OrderDoneForDay",
        "OrderRestated",
        "OrderExpired",
        "OrderRejected",
        "ExecutionAllocated",
        "ExecutionHeld",
        "ExecutionCorrected",
        "ExecutionBusted",
        "ExecutionRejected",
    } <= types


def test_tampered_state_is_reported_and_rebuilt() -> None:
    ids = build_history()
    before = snapshot()
    c1 = ids["c1"]
    doc = dict(Order.objects.get(pk=c1).doc, cumQty="12345")
    Order.objects.filter(pk=c1).update(doc=doc)
    c2 = ids["c2"]
    Order.objects.filter(pk=c2).update(cum_qty=Decimal("1"))
    execution = Execution.objects.filter(status="Allocated").first()
    assert execution is not None
    Execution.objects.filter(pk=execution.pk).update(
        doc=dict(execution.doc, lastQty="999", status="Busted"), status="Busted"
    )
    key = ClOrdIdKey.objects.filter(order_id=c2).first()
    assert key is not None
    ClOrdIdKey.objects.filter(pk=key.pk).update(order_id=c1)
    missing_key = ClOrdIdKey.objects.exclude(order_id__in=[c1, c2]).first()
    assert missing_key is not None
    missing = (missing_key.order_id, missing_key.cl_ord_id)
    missing_key.delete()
    ClOrdIdKey.objects.create(cl_ord_id="NEVER-USED", order_id=c1)
    gone = Order.objects.filter(kind="Slice").first()
    assert gone is not None
    Order.objects.filter(pk=gone.pk).delete()
    Order.objects.create(**{**_row_of(c2), "order_id": "O-ghost", "doc": {"orderId": "O-ghost"}})

    report = replay()
    assert not report.ok
    found = {(d.aggregate_id, d.where, d.field) for d in report.differences}
    assert (c1, "state row", "cumQty") in found
    assert (c2, "column", "cum_qty") in found
    assert (execution.pk, "state row", "lastQty") in found
    assert (execution.pk, "column", "status") in found
    assert (c2, "index order_cl_ord_ids", key.pk) in found
    assert (missing[0], "index order_cl_ord_ids", missing[1]) in found
    assert (c1, "index order_cl_ord_ids", "NEVER-USED") in found
    assert (gone.pk, "state row", "(row)") in found
    assert ("O-ghost", "state row", "(row)") in found
    assert report.broken_log == 0  # the event log itself is intact

    rebuilt = replay(rebuild=True)
    assert rebuilt.difference_count == report.difference_count
    by_type = {t.name: t for t in rebuilt.types}
    assert by_type["order"].rows_created == 1 and by_type["order"].rows_deleted == 1
    assert by_type["order"].index_created == 1 and by_type["order"].index_deleted == 1
    assert replay().ok
    assert snapshot() == before


def _row_of(order_id: str) -> dict[str, Any]:
    row = Order.objects.filter(pk=order_id).values().first()
    assert row is not None
    return row


def test_event_state_and_version_gaps_are_reported_and_block_a_rebuild() -> None:
    ids = build_history()
    event = OrderEvent.objects.filter(aggregate_id=ids["c2"], version=2).get()
    # the event tables are append-only in PostgreSQL (oms/lifecycle/audit.py): damaging the log
    # takes a table owner switching the audit trigger off, as here (inside the test transaction)
    with triggers_disabled("order_events"):
        OrderEvent.objects.filter(pk=event.pk).update(state=dict(event.state, status="Canceled"))
    report = replay(types=["order"])
    assert [(d.where, d.field) for d in report.differences] == [("event v2", "status")]
    assert [t.name for t in report.types] == ["order"]

    with triggers_disabled("order_events"):
        OrderEvent.objects.filter(pk=event.pk).delete()  # a gap: versions 1, 3, 4, ...
    report = replay(types=["order"])
    found = {(d.aggregate_id, d.where, d.field) for d in report.differences}
    assert (ids["c2"], "events", "version") in found
    assert (ids["c2"], "events", "count") in found
    assert report.broken_log >= 1
    doc_before = Order.objects.get(pk=ids["c2"]).doc
    with pytest.raises(ReplayAborted):
        replay(rebuild=True)
    assert Order.objects.get(pk=ids["c2"]).doc == doc_before  # nothing was written


def test_management_command() -> None:
    ids = build_history()
    out = io.StringIO()
    call_command("replay", stdout=out)
    assert "0 difference(s)" in out.getvalue()
    assert "events/s" in out.getvalue()

    Order.objects.filter(pk=ids["c1"]).update(leaves_qty=Decimal("7"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 difference"):
        call_command("replay", "--verify", stdout=out)
    assert "leaves_qty" in out.getvalue()

    out = io.StringIO()
    call_command("replay", "--type", "execution", stdout=out)  # the orders are not looked at
    assert "order:" not in out.getvalue() and "execution:" in out.getvalue()

    call_command("replay", "--rebuild", "--type", "order", stdout=io.StringIO())
    call_command("replay", stdout=io.StringIO())  # clean again
    assert Order.objects.get(pk=ids["c1"]).leaves_qty == Decimal(
        Order.objects.get(pk=ids["c1"]).doc["leavesQty"]
    )

    with pytest.raises(CommandError, match="unknown --type"):
        call_command("replay", "--type", "nope", stdout=io.StringIO())


def test_an_event_the_state_machine_forbids_is_reported_by_replay() -> None:
    """`apply` checks the transition table: a log whose fold works but whose transitions are
    impossible (a client order cancelled twice) is damage, not a valid history."""
    order_id = client_order()
    order_cmd("ReplaceOrderCommand", orderId=order_id, clOrdID=uid("R"), orderQty="90")
    order_cmd("CancelOrderCommand", orderId=order_id, clOrdID=uid("X"))
    assert replay(types=["order"]).ok
    replaced = OrderEvent.objects.get(aggregate_id=order_id, version=2)
    assert replaced.type == "OrderReplaced"
    # v2 becomes a cancel: OrderCanceled's fold accepts the data (it carries a clOrdID), but v3
    # then cancels a Canceled client order, which the table refuses
    with triggers_disabled("order_events"):
        OrderEvent.objects.filter(pk=replaced.pk).update(type="OrderCanceled")
    report = replay(types=["order"])
    applied = [d for d in report.differences if d.aggregate_id == order_id and d.field == "apply"]
    assert [(d.where, d.live) for d in applied] == [("event v3", "OrderCanceled")]
    assert "InvalidTransition" in applied[0].replayed and "Canceled" in applied[0].replayed
    assert report.broken_log == 1
