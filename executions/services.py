"""Execution command handlers: execute (validate, then apply and allocate or hold), correct, bust,
and the desk's allocate and reject of held executions.

A valid execution is applied to its order (a market order or slice) and allocated to the client
order at the root, all in one transaction with the order tree locked; the order events propagate
cumQty/avgPx up the tree. An invalid one is stored `PendingReview` with its reasons and changes
no order. Corrections and busts recompute the quantities along the whole tree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from executions import commands as _commands  # noqa: F401  (declares the commands' fields)
from executions.enums import OVERRIDABLE, ExecStatus
from executions.fsm import EXECUTION_FSM, ExecTrigger
from executions.models import Execution
from executions.repository import EXECUTION
from executions.state import ExecutionState
from executions.validation import Fill, review, venue_parents
from oms.core import sql
from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import NotFound, RuleRefused, VersionConflict
from oms.core.eventstore import CommandContext, UnitOfWork
from oms.core.parsing import Fields, dec_str, iso
from oms.orders.models import Order
from oms.orders.repository import ORDER
from oms.orders.state import OrderState
from oms.orders.tree import OrderTree, new_id

TOPIC = "executions"
_SEEN_SQL = "SELECT doc FROM executions WHERE venue = %s AND exec_id = %s"
ID_MAX = 64


def _body(
    execution: ExecutionState, tree: OrderTree | None = None, order_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"execution": EXECUTION.to_api(execution)}
    if tree is not None and order_id is not None and order_id in tree.orders:
        body["order"] = ORDER.to_api(tree.get(order_id))
    return body


@command_handler(TOPIC, "ExecuteOrderCommand")
def execution_execute(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    f = Fields(ctx.command)
    order_id = f.string("orderId", required=True, max_length=ID_MAX)
    exec_id = f.string("execID", required=True, max_length=ID_MAX)
    # non-positive quantities and prices parse: they are review reasons, not malformed input
    last_qty = f.decimal("lastQty", required=True)
    last_px = f.decimal("lastPx", required=True)
    venue = f.string("venue", max_length=ID_MAX)
    transact_time = f.datetime("transactTime") or ctx.now
    text = f.text("text", max_length=1000)
    f.raise_if_errors("invalid ExecuteOrderCommand")
    assert order_id and exec_id and last_qty is not None and last_px is not None

    tree = OrderTree(uow)
    try:
        order: OrderState | None = tree.lock(order_id)
    except NotFound:
        order = None
    venue = venue or (order.venue if order is not None else None) or ""
    seen = sql.fetch_all(_SEEN_SQL, [venue, exec_id])
    if seen:
        # the venue's ExecID names one execution: a repeat is the same one (at-least-once feeds)
        return Outcome({"execution": sql.json_value(seen[0][0])}, 200, duplicate=True)

    fill = Fill(qty=last_qty, px=last_px, venue=venue, order=order, parents=venue_parents(order, tree.orders))
    reasons, details = review(fill)
    execution_id = new_id("E")
    data: dict[str, Any] = {
        "execID": exec_id,
        "orderId": order_id,
        "venue": venue,
        "lastQty": dec_str(last_qty),
        "lastPx": dec_str(last_px),
        "transactTime": iso(transact_time),
        "text": text,
    }
    if reasons:
        data.update(reviewReasons=reasons, reviewDetails=details)
        execution = uow.emit(EXECUTION, execution_id, None, "ExecutionHeld", data, occurred_at=transact_time)
        return Outcome(_body(execution), 201)
    assert order is not None
    data["clientOrderId"] = order.root_id
    execution = uow.emit(EXECUTION, execution_id, None, "ExecutionAllocated", data, occurred_at=transact_time)
    tree.emit(
        order,
        "OrderFilled",
        {
            "executionId": execution_id,
            "execID": exec_id,
            "lastQty": data["lastQty"],
            "lastPx": data["lastPx"],
        },
        allocated_delta=last_qty,
        occurred_at=transact_time,
    )
    return Outcome(_body(execution, tree, order_id), 201)


# --- commands on an existing execution ----------------------------------------------------------


class _Loaded:
    def __init__(self, uow: UnitOfWork, ctx: CommandContext, trigger: ExecTrigger):
        self.f = Fields(ctx.command)
        execution_id = self.f.string("executionId", required=True, max_length=ID_MAX)
        self.expected_version = self.f.integer("expectedVersion", minimum=0)
        self.text = self.f.text("text", max_length=1000)
        self.trigger = trigger
        self.tree = OrderTree(uow)
        self.uow = uow
        assert execution_id is not None or self.f.errors
        self.execution_id = execution_id or ""

    def load(self, *, retarget: str | None = None) -> tuple[ExecutionState, OrderState | None]:
        self.f.raise_if_errors()
        row = Execution.objects.filter(pk=self.execution_id).values_list("order_id", flat=True).first()
        if row is None:
            raise NotFound(
                f"execution {self.execution_id} not found",
                fields={"executionId": [f"No execution '{self.execution_id}'."]},
            )
        target_id = retarget or row
        order: OrderState | None = None
        if Order.objects.filter(pk=target_id).exists():
            order = self.tree.lock(target_id)  # the tree first, then the execution: one lock order
        elif retarget:
            raise NotFound(f"order {retarget} not found", fields={"orderId": [f"No order '{retarget}'."]})
        locked = Execution.objects.select_for_update().get(pk=self.execution_id)
        execution = EXECUTION.from_row(locked)
        if self.expected_version is not None and self.expected_version != execution.version:
            raise VersionConflict(
                f"execution {execution.execution_id} is at version {execution.version}, not {self.expected_version}",
                fields={"expectedVersion": [f"Current version is {execution.version}."]},
            )
        EXECUTION_FSM.check(execution.status, self.trigger)
        return execution, order

    def emit(self, execution: ExecutionState, event_type: str, data: dict[str, Any]) -> ExecutionState:
        if self.text:
            data = {**data, "text": self.text}
        return self.uow.emit(EXECUTION, execution.execution_id, execution, event_type, data)


def _fill_data(execution: ExecutionState) -> dict[str, Any]:
    return {
        "executionId": execution.execution_id,
        "execID": execution.exec_id,
        "lastQty": dec_str(execution.last_qty),
        "lastPx": dec_str(execution.last_px),
    }


@command_handler(TOPIC, "CorrectExecutionCommand")
def execution_correct(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    """TradeCorrect: new lastQty/lastPx. Applied executions re-apply their difference on the tree."""
    op = _Loaded(uow, ctx, ExecTrigger.CORRECT)
    new_qty = op.f.decimal("lastQty", positive=True)
    new_px = op.f.decimal("lastPx", positive=True)
    if new_qty is None and new_px is None and not op.f.errors:
        op.f.error("non_field_errors", "Give lastQty and/or lastPx.")
    execution, order = op.load()
    qty = new_qty if new_qty is not None else execution.last_qty
    px = new_px if new_px is not None else execution.last_px
    change = {
        "previousQty": dec_str(execution.last_qty),
        "previousPx": dec_str(execution.last_px),
        "lastQty": dec_str(qty),
        "lastPx": dec_str(px),
    }
    if execution.status is ExecStatus.PENDING_REVIEW:
        # a held execution is corrected in place and checked again; the desk then allocates it
        fill = Fill(
            qty=qty, px=px, venue=execution.venue, order=order, parents=venue_parents(order, op.tree.orders)
        )
        reasons, details = review(fill)
        execution = op.emit(
            execution, "ExecutionCorrected", {**change, "reviewReasons": reasons, "reviewDetails": details}
        )
        return Outcome(_body(execution))
    assert order is not None
    fill = Fill(
        qty=qty,
        px=px,
        venue=execution.venue,
        order=order,
        replaces_qty=execution.last_qty,
        parents=venue_parents(order, op.tree.orders),
    )
    reasons, _ = review(fill)
    if "overfill" in reasons:
        raise RuleRefused(
            "no_overfill",
            "the corrected quantity would take cumQty beyond orderQty",
            fields={"lastQty": ["Would overfill the order."]},
        )
    execution = op.emit(execution, "ExecutionCorrected", change)
    op.tree.emit(
        order,
        "OrderFillCorrected",
        {"executionId": execution.execution_id, **change},
        allocated_delta=qty - Decimal(change["previousQty"]),
    )
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, "BustExecutionCommand")
def execution_bust(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    """TradeCancel: the execution's quantity leaves its order (and the tree) again."""
    op = _Loaded(uow, ctx, ExecTrigger.BUST)
    execution, order = op.load()
    execution = op.emit(execution, "ExecutionBusted", {})
    assert order is not None
    op.tree.emit(order, "OrderFillBusted", _fill_data(execution), allocated_delta=-execution.last_qty)
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, "AllocateExecutionCommand")
def execution_allocate(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    """The desk applies a held execution, to its own order or to another `orderId`."""
    op = _Loaded(uow, ctx, ExecTrigger.ALLOCATE)
    retarget = op.f.string("orderId", max_length=ID_MAX)
    execution, order = op.load(retarget=retarget)
    if order is None:
        raise RuleRefused(
            "allocate_to_known_order",
            "the execution's order is unknown: give an orderId",
            fields={"orderId": ["Required: the execution's own order is unknown."]},
        )
    fill = Fill(
        qty=execution.last_qty,
        px=execution.last_px,
        venue=execution.venue,
        order=order,
        parents=venue_parents(order, op.tree.orders),
    )
    reasons, details = review(fill)
    blocking = [r for r in reasons if r not in OVERRIDABLE]
    if blocking:
        raise RuleRefused(
            "allocation_valid",
            f"cannot allocate to {order.order_id}: {', '.join(blocking)}",
            fields={r: details[r] for r in blocking},
        )
    execution = op.emit(
        execution,
        "ExecutionAllocated",
        {
            "orderId": order.order_id,
            "clientOrderId": order.root_id,
            "overriddenReasons": reasons,
        },
    )
    op.tree.emit(order, "OrderFilled", _fill_data(execution), allocated_delta=execution.last_qty)
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, "RejectExecutionCommand")
def execution_reject(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    """The desk discards a held execution; no order changes."""
    op = _Loaded(uow, ctx, ExecTrigger.REJECT)
    execution, _ = op.load()
    execution = op.emit(execution, "ExecutionRejected", {})
    return Outcome(_body(execution))
