"""Order handlers for the venue's reports (accept, reject, expire, done for day, cancel and
replace confirmations or rejections, restatement): from a venue adapter, or entered by the desk
for a venue without one (`MANUAL`). Requests from clients and the desk (create, cancel,
replace) are in `oms.orders.services`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import InvalidTransition
from oms.core.eventstore import UnitOfWork
from oms.orders import commands as c
from oms.orders import events as ev
from oms.orders.enums import Kind, Phase
from oms.orders.reporters import require_venue_reporter
from oms.orders.services import TOPIC, _check, _check_children_fit, _load, _order_body
from oms.orders.state import OrderState
from oms.orders.transitions import Trigger
from oms.orders.tree import OrderTree


def _load_reported(tree: OrderTree, order_id: str, expected_version: int | None) -> OrderState:
    """The order a venue report is about, refused (409 `venue_reports_only`) when a person reports
    on an order the OMS sent to a venue with an adapter."""
    order = _load(tree, order_id, expected_version)
    require_venue_reporter(tree.uow, order)
    return order


def _simple(
    uow: UnitOfWork,
    order_id: str,
    expected_version: int | None,
    text: str | None,
    trigger: Trigger,
    event: type[ev.OrderAccepted | ev.OrderRejected | ev.OrderExpired | ev.OrderDoneForDay],
    guard: Callable[[OrderState, Trigger], None],
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, trigger)
    guard(order, trigger)
    order = tree.emit(order, event(text=text))
    return Outcome(_order_body(order))


def _not_yet_acknowledged(order: OrderState, trigger: Trigger) -> None:
    # under a PendingCancel overlay, only an order the venue has not acknowledged can be accepted
    # (B.1.e: the acknowledgement crosses the cancel request) or rejected
    if order.phase is not Phase.PENDING_NEW:
        raise InvalidTransition(
            order.status.value, trigger.value, f"{trigger.value}: the order was already acknowledged"
        )


def _reject_guard(order: OrderState, trigger: Trigger) -> None:
    if order.kind is Kind.CLIENT:
        if order.placed_qty > 0 or order.cum_qty > 0:
            raise InvalidTransition(
                order.status.value, trigger.value, "the desk has already placed part of this order"
            )
        return
    _not_yet_acknowledged(order, trigger)


def _no_working_children(order: OrderState, trigger: Trigger) -> None:
    if order.working_children > 0:
        raise InvalidTransition(
            order.status.value,
            trigger.value,
            f"{trigger.value}: {order.working_children} child order(s) still working",
        )


@command_handler(TOPIC, c.AcceptOrderCommand)
def order_accept(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    return _simple(
        uow, order_id, expected_version, text, Trigger.ACCEPT, ev.OrderAccepted, _not_yet_acknowledged
    )


@command_handler(TOPIC, c.RejectOrderCommand)
def order_reject(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    return _simple(uow, order_id, expected_version, text, Trigger.REJECT, ev.OrderRejected, _reject_guard)


@command_handler(TOPIC, c.ExpireOrderCommand)
def order_expire(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    return _simple(
        uow, order_id, expected_version, text, Trigger.EXPIRE, ev.OrderExpired, _no_working_children
    )


@command_handler(TOPIC, c.DoneForDayCommand)
def order_done_for_day(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    return _simple(
        uow, order_id, expected_version, text, Trigger.DONE_FOR_DAY, ev.OrderDoneForDay, _no_working_children
    )


@command_handler(TOPIC, c.ConfirmCancelCommand)
def order_confirm_cancel(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, Trigger.CANCEL_CONFIRM)
    # like Expire and DoneForDay: a parent stops working only after its children (a cascade
    # completes by itself when the last one stops)
    _no_working_children(order, Trigger.CANCEL_CONFIRM)
    # without a pending cancel this is an unsolicited cancel by the venue (D.1.b)
    order = tree.emit(order, ev.OrderCanceled(text=text, unsolicited=order.pending_cancel is None))
    return Outcome(_order_body(order))


@command_handler(TOPIC, c.RejectCancelCommand)
def order_reject_cancel(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, Trigger.CANCEL_REJECT)
    order = tree.emit(order, ev.OrderCancelRejected(text=text))
    # a parent whose cancel waited on this child cannot complete it: its cancel fails too
    parent_id = order.parent_id
    while parent_id is not None:
        parent = tree.get(parent_id)
        if not (parent.pending_cancel and parent.pending_cancel.get("cascade")):
            break
        tree.emit(parent, ev.OrderCancelRejected(text=f"child {order.cl_ord_id} could not be canceled"))
        parent_id = parent.parent_id
    return Outcome(_order_body(tree.get(order.order_id)))


def _replace_pending(order: OrderState, trigger: Trigger) -> None:
    if order.pending_replace is None:
        raise InvalidTransition(order.status.value, trigger.value, f"{trigger.value}: no replace is pending")


@command_handler(TOPIC, c.ConfirmReplaceCommand)
def order_confirm_replace(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, Trigger.REPLACE_CONFIRM)
    _replace_pending(order, Trigger.REPLACE_CONFIRM)
    assert order.pending_replace is not None
    # the terms the venue confirms are the ones requested (stored as the order's `pending`)
    order = tree.emit(order, ev.OrderReplaced.from_data({**order.pending_replace, "text": text}))
    return Outcome(_order_body(order))


@command_handler(TOPIC, c.RejectReplaceCommand)
def order_reject_replace(
    uow: UnitOfWork, *, order_id: str, expected_version: int | None = None, text: str | None = None
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, Trigger.REPLACE_REJECT)
    _replace_pending(order, Trigger.REPLACE_REJECT)
    order = tree.emit(order, ev.OrderReplaceRejected(text=text))
    return Outcome(_order_body(order))


@command_handler(TOPIC, c.RestateOrderCommand)
def order_restate(
    uow: UnitOfWork,
    *,
    order_id: str,
    expected_version: int | None = None,
    text: str | None = None,
    order_qty: Decimal | None = None,
    price: Decimal | None = None,
) -> Outcome:
    tree = OrderTree(uow)
    order = _load_reported(tree, order_id, expected_version)
    _check(order, Trigger.RESTATE)
    new_qty = order_qty if order_qty is not None else order.order_qty
    _check_children_fit(order, new_qty)
    order = tree.emit(order, ev.OrderRestated(order_qty=order_qty, price=price, text=text))
    return Outcome(_order_body(order))
