"""Execution command handlers: execute (validate, then apply and allocate or hold), correct, bust,
and the desk's allocate and reject of held executions.

A valid execution is applied to its order (a market order or slice) and allocated to the client
order at the root, all in one transaction with the order tree locked; the order events propagate
cumQty/avgPx up the tree. An invalid one is stored `PendingReview` with its reasons and changes
no order. Corrections and busts recompute the quantities along the whole tree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from executions import commands as c
from executions import events as ev
from executions.enums import OVERRIDABLE, ExecStatus
from executions.fsm import EXECUTION_FSM, ExecTrigger
from executions.models import Execution
from executions.repository import EXECUTION
from executions.state import ExecutionState
from executions.validation import Fill, review, venue_parents
from oms.core import sql
from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import NotFound, RuleRefused, VersionConflict
from oms.core.events import Event
from oms.core.eventstore import UnitOfWork
from oms.orders.fills import order_fill, order_fill_bust, order_fill_correct
from oms.orders.models import Order
from oms.orders.reporters import require_venue_reporter
from oms.orders.repository import ORDER
from oms.orders.state import OrderState
from oms.orders.tree import OrderTree, new_id

TOPIC = "executions"
_SEEN_SQL = "SELECT doc FROM executions WHERE venue = %s AND exec_id = %s"


def _body(
    execution: ExecutionState, tree: OrderTree | None = None, order_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"execution": EXECUTION.to_api(execution)}
    if tree is not None and order_id is not None and order_id in tree.orders:
        body["order"] = ORDER.to_api(tree.get(order_id))
    return body


@command_handler(TOPIC, c.ExecuteOrderCommand)
def execution_execute(
    uow: UnitOfWork,
    *,
    order_id: str,
    exec_id: str,
    last_qty: Decimal,
    last_px: Decimal,
    venue: str | None = None,
    transact_time: dt.datetime | None = None,
    text: str | None = None,
) -> Outcome:
    transact_time = transact_time or uow.ctx.now
    tree = OrderTree(uow)
    try:
        order: OrderState | None = tree.lock(order_id)
    except NotFound:
        order = None
    venue = venue or (order.venue if order is not None else None) or ""
    require_venue_reporter(uow, order, venue)
    # optimistically the unique (venue, execID) index finds a repeat in the write pipeline, and
    # the locked retry answers it here
    seen = [] if uow.optimistic else sql.fetch_all(_SEEN_SQL, [venue, exec_id])
    if seen:
        # the venue's ExecID names one execution: a repeat is the same one (at-least-once feeds)
        return Outcome({"execution": sql.json_value(seen[0][0])}, 200, duplicate=True)

    fill = Fill(qty=last_qty, px=last_px, venue=venue, order=order, parents=venue_parents(order, tree.orders))
    reasons, details = review(fill)
    execution_id = new_id("E")
    reported: dict[str, Any] = {
        "exec_id": exec_id,
        "order_id": order_id,
        "venue": venue,
        "last_qty": last_qty,
        "last_px": last_px,
        "transact_time": transact_time,
        "text": text,
    }
    if reasons:
        held = ev.ExecutionHeld(**reported, review_reasons=reasons, review_details=details)
        execution = uow.emit(EXECUTION, execution_id, None, held, occurred_at=transact_time)
        return Outcome(_body(execution), 201)
    assert order is not None
    allocated = ev.ExecutionAllocatedOnReceipt(**reported, client_order_id=order.root_id)
    execution = uow.emit(EXECUTION, execution_id, None, allocated, occurred_at=transact_time)
    order_fill(
        tree,
        order,
        execution_id=execution_id,
        exec_id=exec_id,
        last_qty=last_qty,
        last_px=last_px,
        occurred_at=transact_time,
    )
    return Outcome(_body(execution, tree, order_id), 201)


# --- commands on an existing execution ----------------------------------------------------------


class _Loaded:
    """An existing execution, loaded and locked after its order tree (one lock order)."""

    def __init__(
        self,
        uow: UnitOfWork,
        trigger: ExecTrigger,
        execution_id: str,
        expected_version: int | None,
        text: str | None,
    ):
        self.execution_id = execution_id
        self.expected_version = expected_version
        self.text = text
        self.trigger = trigger
        self.tree = OrderTree(uow)
        self.uow = uow

    def load(self, *, retarget: str | None = None) -> tuple[ExecutionState, OrderState | None]:
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

    def emit(self, execution: ExecutionState, event: Event) -> ExecutionState:
        return self.uow.emit(EXECUTION, execution.execution_id, execution, event)


@command_handler(TOPIC, c.CorrectExecutionCommand)
def execution_correct(
    uow: UnitOfWork,
    *,
    execution_id: str,
    expected_version: int | None = None,
    text: str | None = None,
    last_qty: Decimal | None = None,
    last_px: Decimal | None = None,
) -> Outcome:
    """TradeCorrect: new lastQty/lastPx. Applied executions re-apply their difference on the tree."""
    op = _Loaded(uow, ExecTrigger.CORRECT, execution_id, expected_version, text)
    execution, order = op.load()
    require_venue_reporter(uow, order, execution.venue)
    qty = last_qty if last_qty is not None else execution.last_qty
    px = last_px if last_px is not None else execution.last_px
    change: dict[str, Any] = {
        "previous_qty": execution.last_qty,
        "previous_px": execution.last_px,
        "last_qty": qty,
        "last_px": px,
        "text": text,
    }
    if execution.status is ExecStatus.PENDING_REVIEW:
        # a held execution is corrected in place and checked again; the desk then allocates it
        fill = Fill(
            qty=qty, px=px, venue=execution.venue, order=order, parents=venue_parents(order, op.tree.orders)
        )
        reasons, details = review(fill)
        execution = op.emit(
            execution, ev.ExecutionCorrected(**change, review_reasons=reasons, review_details=details)
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
    previous_qty, previous_px = execution.last_qty, execution.last_px
    execution = op.emit(execution, ev.ExecutionCorrected(**change))
    order_fill_correct(
        op.tree,
        order,
        execution_id=execution.execution_id,
        previous_qty=previous_qty,
        previous_px=previous_px,
        last_qty=qty,
        last_px=px,
    )
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, c.BustExecutionCommand)
def execution_bust(
    uow: UnitOfWork, *, execution_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    """TradeCancel: the execution's quantity leaves its order (and the tree) again."""
    op = _Loaded(uow, ExecTrigger.BUST, execution_id, expected_version, text)
    execution, order = op.load()
    require_venue_reporter(uow, order, execution.venue)
    execution = op.emit(execution, ev.ExecutionBusted(text=text))
    assert order is not None
    order_fill_bust(
        op.tree,
        order,
        execution_id=execution.execution_id,
        exec_id=execution.exec_id,
        last_qty=execution.last_qty,
        last_px=execution.last_px,
    )
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, c.AllocateExecutionCommand)
def execution_allocate(
    uow: UnitOfWork,
    *,
    execution_id: str,
    expected_version: int | None = None,
    text: str | None = None,
    order_id: str | None = None,
) -> Outcome:
    """The desk applies a held execution, to its own order or to another `orderId`."""
    op = _Loaded(uow, ExecTrigger.ALLOCATE, execution_id, expected_version, text)
    execution, order = op.load(retarget=order_id)
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
        ev.ExecutionAllocated(
            order_id=order.order_id, client_order_id=order.root_id, overridden_reasons=reasons, text=text
        ),
    )
    order_fill(
        op.tree,
        order,
        execution_id=execution.execution_id,
        exec_id=execution.exec_id,
        last_qty=execution.last_qty,
        last_px=execution.last_px,
    )
    return Outcome(_body(execution, op.tree, order.order_id))


@command_handler(TOPIC, c.RejectExecutionCommand)
def execution_reject(
    uow: UnitOfWork, *, execution_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    """The desk discards a held execution; no order changes."""
    op = _Loaded(uow, ExecTrigger.REJECT, execution_id, expected_version, text)
    execution, _ = op.load()
    execution = op.emit(execution, ev.ExecutionRejected(text=text))
    return Outcome(_body(execution))
