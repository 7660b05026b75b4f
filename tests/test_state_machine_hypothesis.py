"""Random command sequences against the whole write path, with the invariants checked after each step.

A Hypothesis state machine builds order trees (client orders handled by the desk, market orders at
the MANUAL venue, slices) and throws every order and execution command at them, valid or not:
commands in the wrong state, overfills, unknown ids, bad quantities, reused clOrdIDs and execIDs.
A refused command (an `ApplicationError`) must leave the database exactly as it was; anything else
raised is a bug (a 500). After each step the trees must add up (cumQty, avgPx, allocations,
working children, placed quantity), venue orders must never be overfilled, leavesQty must follow
the status, versions must count the events, and replaying the event log must give back the live
state (after each step for the aggregates the step touched, in full at the end of each example).
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Count, Max
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from executions.models import Execution, ExecutionEvent
from oms.core.dispatch import CommandResult, dispatch
from oms.core.errors import ApplicationError, NotFound, ValidationFailed, VersionConflict
from oms.core.parsing import declared_fields
from oms.core.replay import replay
from oms.orders.errors import DuplicateClOrdID
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from oms.positions.models import Position, PositionEvent

_ids = itertools.count(1)
ZERO = Decimal(0)
AVG_PX_QUANTUM = Decimal("1e-10")  # avgPx is kept to 10 decimal places
UNKNOWN_ORDER = "O-does-not-exist"
UNKNOWN_EXECUTION = "E-does-not-exist"
AGGREGATE_OF_TOPIC = {"order-events": "order", "execution-events": "execution", "position-events": "position"}

quantities = st.sampled_from(["1", "5", "10", "25", "40", "50", "100", "150", "0.5"])
bad_quantities = st.sampled_from(["0", "-10", "abc", "1e40", "0.00000000001", True, [], ""])
prices = st.sampled_from(["9", "9.5", "10", "10.25", "11", "12"])  # client limit 10.5: some go through
texts = st.one_of(st.none(), st.sampled_from(["why not", "venue says so"]))
maybe = st.one_of(st.none(), quantities)
ORDER_COMMANDS = [
    "AcceptOrderCommand",
    "RejectOrderCommand",
    "CancelOrderCommand",
    "ConfirmCancelCommand",
    "RejectCancelCommand",
    "ReplaceOrderCommand",
    "ConfirmReplaceCommand",
    "RejectReplaceCommand",
    "ExpireOrderCommand",
    "DoneForDayCommand",
    "RestateOrderCommand",
]


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def snapshot() -> tuple[Any, ...]:
    """Everything a command may change, cheaply: each row's version and the table sizes."""
    return (
        dict(Order.objects.values_list("order_id", "version")),
        dict(Execution.objects.values_list("execution_id", "version")),
        OrderEvent.objects.count(),
        ExecutionEvent.objects.count(),
        ClOrdIdKey.objects.count(),
        dict(Position.objects.values_list("position_id", "version")),
        PositionEvent.objects.count(),
    )


def affected_rows(body: dict[str, Any]) -> tuple[Any, ...]:
    """The full state of what a command names: its order (or parent) and its execution."""
    order_id = body.get("orderId") or body.get("parentId")
    execution_id = body.get("executionId")
    return (
        Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
        if isinstance(order_id, str)
        else None,
        Execution.objects.filter(pk=execution_id).values_list("doc", flat=True).first()
        if isinstance(execution_id, str)
        else None,
    )


def _is_open(o: dict[str, Any]) -> bool:
    return o["phase"] in ("PendingNew", "Open")


def _committed(o: dict[str, Any]) -> Decimal:
    """What a child holds of its parent: while open its orderQty (or a larger pending one), else cumQty."""
    cum, qty = Decimal(o["cumQty"]), Decimal(o["orderQty"])
    if not _is_open(o):
        return cum
    pending = (o["pending"] or {}).get("orderQty")
    return max(qty, cum, Decimal(pending) if pending is not None else ZERO)


class OrderMachine(RuleBasedStateMachine):
    orders = Bundle("orders")  # every order of any kind
    clients = Bundle("clients")
    markets = Bundle("markets")
    venue_orders = Bundle("venue_orders")  # markets and slices: the ones executions apply to
    executions = Bundle("executions")

    def __init__(self) -> None:
        super().__init__()
        # each example starts from a clean database: its work is rolled back in teardown
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.cl_ord_ids: list[str] = []
        self.create_bodies: dict[str, dict[str, Any]] = {}
        self.execute_bodies: dict[str, dict[str, Any]] = {}
        self.touched: dict[str, set[str]] = defaultdict(set)

    def teardown(self) -> None:
        try:
            report = replay()
            assert report.ok, "\n".join(str(d) for d in report.differences[:20])
        finally:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    # --- sending commands ---------------------------------------------------------------------
    def send(
        self, topic: str, body: dict[str, Any], *, refused: type[ApplicationError] | None = None
    ) -> CommandResult | None:
        """Send a command; a refusal must change nothing, a success must report what it appended."""
        # only the fields its command type takes: the rules share body shapes between types, and
        # any other field is refused 400 before the checks these rules are about
        taken = declared_fields(body["commandType"]) or frozenset(body)
        body = {k: v for k, v in body.items() if k in taken}
        before = snapshot()
        rows = affected_rows(body)
        try:
            result = dispatch(topic, body, actor="fuzzer")
        except ApplicationError as exc:
            assert snapshot() == before, (
                f"{body['commandType']} refused ({exc.code}) but changed the database"
            )
            assert affected_rows(body) == rows, (
                f"{body['commandType']} refused ({exc.code}) but changed its target"
            )
            if refused is not None:
                assert isinstance(exc, refused), (
                    f"{body}: expected {refused.__name__}, got {exc.code}: {exc.message}"
                )
            return None
        assert refused is None, f"{body}: expected {refused.__name__}, but it succeeded: {result.body}"
        after = snapshot()
        appended = (after[2] - before[2]) + (after[3] - before[3]) + (after[6] - before[6])
        assert len(result.events) == appended, (body, len(result.events), appended)
        if result.body.get("duplicate"):
            assert appended == 0
        for event in result.events:
            self.touched[AGGREGATE_OF_TOPIC[event["topic"]]].add(event["aggregateId"])
        return result

    def order_command(self, command_type: str, order_id: str, **fields: Any) -> CommandResult | None:
        return self.send("orders", {"commandType": command_type, "orderId": order_id, **fields})

    # --- building trees -----------------------------------------------------------------------
    @rule(
        targets=(clients, orders),
        qty=quantities,
        side=st.sampled_from(["Buy", "Sell"]),
        ord_type=st.sampled_from(["Limit", "Market"]),
        tif=st.sampled_from(["Day", "GTC"]),
    )
    def create_client(self, qty: str, side: str, ord_type: str, tif: str) -> str:
        cl_ord_id = fresh("C")
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": cl_ord_id,
            "symbol": "ACME",
            "side": side,
            "orderQty": str(Decimal(qty) * 4),
            "ordType": ord_type,
            "timeInForce": tif,
            "account": "ACC1",
            "handling": "Desk",
            "venue": "MANUAL",
        }
        if ord_type == "Limit":
            body["price"] = "10.5"
        result = self.send("orders", body)
        assert result is not None and result.status_code == 201
        order = result.body["order"]
        assert (order["kind"], order["status"], order["handling"]) == ("Client", "New", "Desk")
        self.cl_ord_ids.append(cl_ord_id)
        self.create_bodies[order["orderId"]] = body
        return order["orderId"]

    def _child(
        self, parent_id: str, qty: str, priced: bool, price: str, accept: bool, fill: str | None
    ) -> str | None:
        cl_ord_id = fresh("M")
        body: dict[str, Any] = {
            "commandType": "CreateOrderCommand",
            "clOrdID": cl_ord_id,
            "parentId": parent_id,
            "orderQty": qty,
            "venue": "MANUAL",
        }
        if priced:
            body.update(ordType="Limit", price=price)
        result = self.send("orders", body)
        if result is None:
            return None
        self.cl_ord_ids.append(cl_ord_id)
        order = result.body["order"]
        assert order["status"] == "PendingNew" and order["parentId"] == parent_id
        self.create_bodies[order["orderId"]] = body
        if accept:
            accepted = self.order_command("AcceptOrderCommand", order["orderId"])
            assert accepted is not None and accepted.body["order"]["status"] == "New"
        if fill is not None:
            # a fill at once (a fill before the acknowledgement implies it): all, half or one
            amount = {"all": Decimal(qty), "half": Decimal(qty) / 2, "one": min(Decimal(1), Decimal(qty))}[
                fill
            ]
            self._execute(order["orderId"], str(amount), price if priced else "10", "MANUAL")
        return order["orderId"]

    @rule(
        targets=(markets, venue_orders, orders),
        parent=clients,
        qty=quantities,
        priced=st.booleans(),
        price=prices,
        accept=st.booleans(),
        fill=st.sampled_from([None, "all", "half", "one"]),
    )
    def create_market(
        self, parent: str, qty: str, priced: bool, price: str, accept: bool, fill: str | None
    ) -> Any:
        order_id = self._child(parent, qty, priced, price, accept, fill)
        return multiple() if order_id is None else order_id

    @rule(
        targets=(venue_orders, orders),
        parent=markets,
        qty=quantities,
        priced=st.booleans(),
        price=prices,
        accept=st.booleans(),
        fill=st.sampled_from([None, "all", "half", "one"]),
    )
    def create_slice(
        self, parent: str, qty: str, priced: bool, price: str, accept: bool, fill: str | None
    ) -> Any:
        order_id = self._child(parent, qty, priced, price, accept, fill)
        return multiple() if order_id is None else order_id

    # --- order reports and requests -------------------------------------------------------------
    @rule(order_id=venue_orders)
    def accept(self, order_id: str) -> None:
        self.order_command("AcceptOrderCommand", order_id)

    @rule(order_id=venue_orders, confirm=st.booleans(), text=texts)
    def answer_request(self, order_id: str, confirm: bool, text: str | None) -> None:
        """The venue answers what is pending: the acknowledgement, a cancel or a replace request."""
        doc = Order.objects.get(pk=order_id).doc
        if doc["pendingCancel"] is not None:
            report = "ConfirmCancelCommand" if confirm else "RejectCancelCommand"
        elif doc["pending"] is not None:
            report = "ConfirmReplaceCommand" if confirm else "RejectReplaceCommand"
        elif doc["phase"] == "PendingNew":
            report = "AcceptOrderCommand" if confirm else "RejectOrderCommand"
        else:
            return
        self.order_command(report, order_id, text=text)

    @rule(
        order_id=venue_orders,
        report=st.sampled_from(
            [
                "ConfirmCancelCommand",
                "RejectCancelCommand",
                "ConfirmReplaceCommand",
                "RejectReplaceCommand",
                "RejectOrderCommand",
                "ExpireOrderCommand",
                "DoneForDayCommand",
            ]
        ),
        text=texts,
    )
    def venue_report(self, order_id: str, report: str, text: str | None) -> None:
        """What the venue (here: the desk keying in the MANUAL venue's reports) says about an order."""
        self.order_command(report, order_id, text=text)

    @rule(
        order_id=orders,
        command=st.sampled_from(["RejectOrderCommand", "ExpireOrderCommand", "DoneForDayCommand"]),
        text=texts,
    )
    def end_order(self, order_id: str, command: str, text: str | None) -> None:
        self.order_command(command, order_id, text=text)

    @rule(order_id=orders, reuse=st.booleans())
    def cancel(self, order_id: str, reuse: bool) -> None:
        if reuse:
            result = self.order_command("CancelOrderCommand", order_id, clOrdID=self.cl_ord_ids[-1])
            assert result is None, "a used clOrdID must be refused"
            return
        cl_ord_id = fresh("K")
        if self.order_command("CancelOrderCommand", order_id, clOrdID=cl_ord_id) is not None:
            self.cl_ord_ids.append(cl_ord_id)

    @rule(order_id=venue_orders, qty=maybe, price=st.one_of(st.none(), prices), restate=st.booleans())
    def replace_at_venue(self, order_id: str, qty: str | None, price: str | None, restate: bool) -> None:
        self.replace(order_id, qty, price, restate)

    @rule(order_id=orders, qty=maybe, price=st.one_of(st.none(), prices), restate=st.booleans())
    def replace(self, order_id: str, qty: str | None, price: str | None, restate: bool) -> None:
        """A replace request (restate=False) or an unsolicited restatement by the venue."""
        fields: dict[str, Any] = {}
        if qty is not None:
            fields["orderQty"] = qty
        if price is not None:
            fields["price"] = price
        refused = ValidationFailed if not fields else None
        if restate:
            self.send(
                "orders",
                {"commandType": "RestateOrderCommand", "orderId": order_id, **fields},
                refused=refused,
            )
            return
        cl_ord_id = fresh("R")
        body = {"commandType": "ReplaceOrderCommand", "orderId": order_id, "clOrdID": cl_ord_id, **fields}
        if self.send("orders", body, refused=refused) is not None:
            self.cl_ord_ids.append(cl_ord_id)

    # --- executions ---------------------------------------------------------------------------
    def _execute(self, order_id: str, qty: str, px: str, venue: str) -> str:
        before = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
        body = {
            "commandType": "ExecuteOrderCommand",
            "orderId": order_id,
            "execID": fresh("X"),
            "lastQty": qty,
            "lastPx": px,
            "venue": venue,
        }
        result = self.send("executions", body)
        assert result is not None, "an execution is never refused: it is applied or held"
        execution = result.body["execution"]
        after = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
        if execution["status"] == "PendingReview":
            assert execution["reviewReasons"]
            assert after == before, "a held execution changes no order"
        else:
            assert execution["status"] == "Allocated" and before is not None and after is not None
            assert Decimal(qty) > 0 and Decimal(px) > 0 and venue == "MANUAL"
            assert Decimal(after["cumQty"]) == Decimal(before["cumQty"]) + Decimal(qty)
        self.execute_bodies[execution["executionId"]] = body
        return execution["executionId"]

    @rule(
        target=executions,
        order_id=venue_orders,
        qty=st.one_of(quantities, st.sampled_from(["0", "-5", "1000"])),
        px=st.one_of(prices, st.sampled_from(["0", "-1"])),
        other_venue=st.booleans(),
    )
    def execute(self, order_id: str, qty: str, px: str, other_venue: bool) -> str:
        execution_id = self._execute(order_id, qty, px, "XNYS" if other_venue else "MANUAL")
        if Decimal(qty) <= 0:
            assert "non_positive_quantity" in Execution.objects.get(pk=execution_id).doc["reviewReasons"]
        return execution_id

    @rule(target=executions, order_id=venue_orders, px=prices)
    def fill_what_is_left(self, order_id: str, px: str) -> Any:
        """A valid fill of (part of) what is left: the common case, applied unless the order is done."""
        doc = Order.objects.get(pk=order_id).doc
        left = Decimal(doc["orderQty"]) - Decimal(doc["cumQty"])
        if left <= 0:
            return multiple()
        qty = left if left <= 10 else (left / 2).quantize(Decimal(1))
        return self._execute(order_id, str(qty), px, "MANUAL")

    @rule(
        execution_id=executions,
        op=st.sampled_from(["Correct", "Bust", "Allocate", "Reject"]),
        qty=st.one_of(maybe, st.just("1000")),
        px=st.one_of(st.none(), prices),
        retarget=st.one_of(st.none(), orders),
    )
    def follow_up(
        self, execution_id: str, op: str, qty: str | None, px: str | None, retarget: str | None
    ) -> None:
        """TradeCorrect, TradeCancel, or the desk allocating or discarding a held execution."""
        body: dict[str, Any] = {"commandType": f"{op}ExecutionCommand", "executionId": execution_id}
        refused = None
        if op == "Correct":
            if qty is not None:
                body["lastQty"] = qty
            if px is not None:
                body["lastPx"] = px
            refused = ValidationFailed if qty is None and px is None else None
        elif op == "Allocate" and retarget is not None:
            body["orderId"] = retarget
        elif op == "Reject":
            body["text"] = "bad print"
        self.send("executions", body, refused=refused)

    # --- refusals and repeats -----------------------------------------------------------------
    @rule(data=st.data())
    def invalid_or_repeated(self, data: st.DataObject) -> None:
        """One of the ways a command goes wrong (or is sent twice); each must append nothing."""
        kind = data.draw(
            st.sampled_from(
                [
                    "create_bad_numbers",
                    "create_again",
                    "create_used_cl_ord_id",
                    "grandchild",
                    "replace_bad_numbers",
                    "stale_version",
                    "unknown_order",
                    "unknown_parent",
                    "execute_misdirected",
                    "execute_again",
                    "correct_bad_numbers",
                    "unknown_execution",
                ]
            ),
            label="kind",
        )
        orders = list(Order.objects.order_by("order_id").values_list("order_id", "kind", "version"))
        executions = sorted(self.execute_bodies)
        if kind == "create_bad_numbers":
            body = {
                "commandType": "CreateOrderCommand",
                "clOrdID": fresh("C"),
                "symbol": "ACME",
                "side": "Buy",
                "orderQty": "10",
                "ordType": "Limit",
                "price": "10",
                "account": "ACC1",
                "handling": "Desk",
            }
            body[data.draw(st.sampled_from(["orderQty", "price"]))] = data.draw(bad_quantities)
            self.send("orders", body, refused=ValidationFailed)
        elif kind == "unknown_order":
            body = {
                "commandType": data.draw(st.sampled_from(ORDER_COMMANDS)),
                "orderId": UNKNOWN_ORDER,
                "clOrdID": fresh("U"),
                "orderQty": "5",
                "price": "10",
            }
            self.send("orders", body, refused=NotFound)
        elif kind == "unknown_parent":
            body = {
                "commandType": "CreateOrderCommand",
                "clOrdID": fresh("U"),
                "parentId": UNKNOWN_ORDER,
                "orderQty": "5",
            }
            self.send("orders", body, refused=NotFound)
        elif kind == "unknown_execution":
            command = data.draw(st.sampled_from(["Correct", "Bust", "Allocate", "Reject"]))
            body = {
                "commandType": f"{command}ExecutionCommand",
                "executionId": UNKNOWN_EXECUTION,
                "lastQty": "1",
            }
            self.send("executions", body, refused=NotFound)
        elif kind == "execute_misdirected":
            clients = [oid for oid, k, _ in orders if k == "Client"]
            order_id = data.draw(st.sampled_from([UNKNOWN_ORDER, *clients]))
            execution_id = self._execute(order_id, data.draw(quantities), data.draw(prices), "MANUAL")
            reasons = Execution.objects.get(pk=execution_id).doc["reviewReasons"]
            assert ("unknown_order" if order_id == UNKNOWN_ORDER else "not_a_venue_order") in reasons
        elif kind in (
            "create_again",
            "create_used_cl_ord_id",
            "grandchild",
            "replace_bad_numbers",
            "stale_version",
        ):
            if not orders:
                return
            order_id, order_kind, version = data.draw(st.sampled_from(orders))
            if kind == "create_again":
                # the same clOrdID with the same content is the same order; with other content, a conflict
                body = self.create_bodies[order_id]
                again = self.send("orders", body)
                assert (
                    again is not None
                    and again.body["duplicate"]
                    and again.body["order"]["orderId"] == order_id
                )
                self.send("orders", {**body, "orderQty": "7", "text": "other"}, refused=DuplicateClOrdID)
            elif kind == "create_used_cl_ord_id":
                body = {
                    "commandType": "CreateOrderCommand",
                    "clOrdID": data.draw(st.sampled_from(self.cl_ord_ids)),
                    "symbol": "OTHER",
                    "side": "Sell",
                    "orderQty": "3",
                    "ordType": "Market",
                    "account": "ACC2",
                    "handling": "Desk",
                }
                self.send("orders", body, refused=DuplicateClOrdID)
            elif kind == "grandchild":
                body = {
                    "commandType": "CreateOrderCommand",
                    "clOrdID": fresh("G"),
                    "parentId": order_id,
                    "orderQty": "1",
                    "venue": "MANUAL",
                }
                if order_kind == "Slice":
                    self.send("orders", body, refused=ValidationFailed)  # a slice cannot have children
            elif kind == "replace_bad_numbers":
                field = data.draw(st.sampled_from(["orderQty", "price"]))
                body = {
                    "commandType": "ReplaceOrderCommand",
                    "orderId": order_id,
                    "clOrdID": fresh("R"),
                    field: data.draw(bad_quantities),
                }
                self.send("orders", body, refused=ValidationFailed)
            else:
                expected = data.draw(
                    st.integers(min_value=0, max_value=version + 3).filter(lambda v: v != version)
                )
                body = {"commandType": "ExpireOrderCommand", "orderId": order_id, "expectedVersion": expected}
                self.send("orders", body, refused=VersionConflict)
        elif executions:
            execution_id = data.draw(st.sampled_from(executions))
            if kind == "execute_again":
                # the venue's ExecID names one execution: a repeat is the same one and appends nothing
                again = self.send("executions", self.execute_bodies[execution_id])
                assert again is not None and again.body["duplicate"]
                assert again.body["execution"]["executionId"] == execution_id
            else:
                value = data.draw(st.sampled_from(["0", "-3", "x", True]))
                body = {
                    "commandType": "CorrectExecutionCommand",
                    "executionId": execution_id,
                    "lastQty": value,
                }
                self.send("executions", body, refused=ValidationFailed)

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def trees_add_up(self) -> None:
        orders = {doc["orderId"]: doc for doc in Order.objects.values_list("doc", flat=True)}
        children: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for o in orders.values():
            if o["parentId"]:
                children[o["parentId"]].append(o)
        own_qty: dict[str, Decimal] = defaultdict(Decimal)
        own_gross: dict[str, Decimal] = defaultdict(Decimal)
        allocated: dict[str, Decimal] = defaultdict(Decimal)
        for e in Execution.objects.values_list("doc", flat=True):
            if e["status"] == "Allocated":
                qty, px = Decimal(e["lastQty"]), Decimal(e["lastPx"])
                own_qty[e["orderId"]] += qty
                own_gross[e["orderId"]] += qty * px
                allocated[e["clientOrderId"]] += qty
                assert e["clientOrderId"] == orders[e["orderId"]]["rootId"], e
        for oid, o in orders.items():
            cum, qty, leaves = Decimal(o["cumQty"]), Decimal(o["orderQty"]), Decimal(o["leavesQty"])
            kids = children[oid]
            where = f"{o['kind']} {oid} {o['status']}: {o}"
            # cumQty: its own fills plus every child's; avgPx: their volume-weighted price
            assert cum == own_qty[oid] + sum((Decimal(k["cumQty"]) for k in kids), ZERO), where
            gross = own_gross[oid] + sum((Decimal(k["grossTradeAmt"]) for k in kids), ZERO)
            assert Decimal(o["grossTradeAmt"]) == gross, where
            avg = (gross / cum).quantize(AVG_PX_QUANTUM, rounding=ROUND_HALF_EVEN) if cum else ZERO
            assert Decimal(o["avgPx"]) == avg, where
            if o["kind"] == "Client":
                # what was allocated to the client order: its Allocated executions
                assert Decimal(o["allocatedQty"]) == allocated[oid], where
            else:
                # a fill that would overfill a venue order is held for review, never applied
                assert cum <= qty, where
            if o["kind"] != "Slice":
                # the parent's running view of its children: how many still work, how much they hold
                working = sum(
                    1 for k in kids if _is_open(k) and Decimal(k["cumQty"]) < Decimal(k["orderQty"])
                )
                assert o["workingChildren"] == working, where
                assert Decimal(o["placedQty"]) == sum((_committed(k) for k in kids), ZERO), where
            # leavesQty = orderQty - cumQty while working, 0 once done. Working is the phase
            # beneath the overlays: an order done for the day with a cancel pending reports
            # PendingCancel but works no more today (FIX G.1.c), and one the venue canceled
            # unsolicited while a replace was pending reports PendingReplace (precedence) until
            # the venue rejects the replace, yet works no more: both 0.
            # (Only a client order can be over-executed, by a child replaced or restated above
            # what it left free, FIX C.1.b: its leavesQty is then 0, not negative.)
            if o["phase"] in ("PendingNew", "Open"):
                assert leaves == max(qty - cum, ZERO), where
            else:
                assert leaves == ZERO, where
            if o["status"] in ("Canceled", "Expired", "Rejected", "DoneForDay", "Filled"):
                assert leaves == ZERO, where

    @invariant()
    def versions_count_events(self) -> None:
        for event_model, state_model in (
            (OrderEvent, Order),
            (ExecutionEvent, Execution),
            (PositionEvent, Position),
        ):
            versions = dict(state_model.objects.values_list("pk", "version"))
            counted = event_model.objects.values("aggregate_id").annotate(n=Count("id"), top=Max("version"))
            assert len(counted) == len(versions)
            for row in counted:
                assert row["n"] == row["top"] == versions[row["aggregate_id"]], row

    @invariant()
    def replay_gives_the_live_state(self) -> None:
        """Replaying the touched aggregates' events gives their live rows (the rest did not change)."""
        if not self.touched:
            return
        report = replay(only=self.touched)
        self.touched = defaultdict(set)
        assert report.ok, "\n".join(str(d) for d in report.differences[:20])


@pytest.mark.django_db
def test_random_command_sequences_keep_the_invariants() -> None:
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            # about 20 s on SQLite and 25 s on PostgreSQL (slower per statement);
            # HYPOTHESIS_MAX_EXAMPLES=1000 hunts longer
            max_examples=int(
                os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "40" if connection.vendor == "postgresql" else "80")
            ),
            stateful_step_count=50,
            print_blob=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- sequences the state machine found, kept as plain regression tests ------------------------------


@pytest.mark.django_db
def test_slice_fill_cannot_overfill_its_market_order() -> None:
    """Market 5 half filled (2.5), slice 1, the market's own fill of the 2.5 left, then the slice's
    fill of 1: it used to be applied (slice within its own quantity) and took the market to 6 of 5."""
    m = OrderMachine()
    try:
        client = m.create_client(qty="50", side="Sell", ord_type="Market", tif="GTC")
        market = m.create_market(parent=client, qty="5", priced=False, price="10", accept=True, fill="half")
        piece = m.create_slice(parent=market, qty="1", priced=False, price="10", accept=True, fill=None)
        m.fill_what_is_left(order_id=market, px="10")
        execution_id = m.fill_what_is_left(order_id=piece, px="9.5")
        m.trees_add_up()
        execution = Execution.objects.get(pk=execution_id).doc
        assert (execution["status"], execution["reviewReasons"]) == ("PendingReview", ["overfill"])
        assert Order.objects.get(pk=market).doc["cumQty"] == "5"
    finally:
        m.teardown()


@pytest.mark.django_db
def test_slice_replaced_above_its_market_order_cannot_overfill_it() -> None:
    m = OrderMachine()
    try:
        client = m.create_client(qty="25", side="Buy", ord_type="Market", tif="Day")
        market = m.create_market(parent=client, qty="10", priced=False, price="10", accept=True, fill=None)
        piece = m.create_slice(parent=market, qty="10", priced=False, price="10", accept=True, fill="half")
        m.replace_at_venue(order_id=piece, qty="40", price=None, restate=True)  # the venue restates it up
        execution_id = m.fill_what_is_left(order_id=piece, px="10")  # 18 of the 35 left: 23 > 10
        m.trees_add_up()
        assert Execution.objects.get(pk=execution_id).doc["reviewReasons"] == ["overfill"]
        m.follow_up(execution_id=execution_id, op="Allocate", qty=None, px=None, retarget=None)  # refused
        m.trees_add_up()
        assert Execution.objects.get(pk=execution_id).doc["status"] == "PendingReview"
    finally:
        m.teardown()
