"""Order command handlers: one function per command of the contract, all through one write path.

Each handler parses the command, loads (and locks) the order tree, checks the transition table
and the business rules, then emits events through the `OrderTree` (which reflects every change
on the ancestors). `dispatch` wraps each in one transaction and appends the events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from oms.core.dispatch import Handler, Outcome, command_handler
from oms.core.errors import InvalidTransition, RuleRefused, ValidationFailed, VersionConflict
from oms.core.eventstore import CommandContext, UnitOfWork
from oms.core.fsm import StateMachine
from oms.core.parsing import dec_str, iso
from oms.orders.commands import CreateOrder, OrderRef, check_terms, parse_create, parse_ref, parse_replace
from oms.orders.enums import Kind, OrdStatus, OrdType, Phase, Side
from oms.orders.errors import DuplicateClOrdID, ExceedsParentQuantity, ReplacePending
from oms.orders.models import ClOrdIdKey, Order
from oms.orders.repository import ORDER
from oms.orders.state import OrderState
from oms.orders.transitions import CLIENT_ORDER, VENUE_ORDER, Trigger
from oms.orders.tree import OrderTree, new_id
from rules.routing import route

TOPIC = "orders"


def fsm_for(order: OrderState) -> StateMachine[OrdStatus, Trigger]:
    return CLIENT_ORDER if order.kind is Kind.CLIENT else VENUE_ORDER


def _check(order: OrderState, trigger: Trigger) -> None:
    fsm_for(order).check(_transition_status(order), trigger)


def _transition_status(order: OrderState) -> OrdStatus:
    """The status the transition tables judge a command by.

    The reported status ranks Filled above Canceled/Expired (FIX precedence): an order the venue
    canceled and a late fill then completed reports Filled. But it is finished, not a working
    filled order, so "increase a filled order's quantity" (C.1.c) and the other Filled
    transitions must not apply to it: judge it as what it is underneath.
    """
    status = order.status
    if status is OrdStatus.FILLED and order.phase in (Phase.CANCELED, Phase.EXPIRED):
        return OrdStatus(order.phase.value)
    return status


def _order_body(order: OrderState, **extra: Any) -> dict[str, Any]:
    return {"order": ORDER.to_api(order), **extra}


def _fingerprint(cmd: CreateOrder) -> str:
    return hashlib.sha256(json.dumps(cmd.fingerprint_fields(), sort_keys=True).encode()).hexdigest()


def _reserve(tree: OrderTree, cl_ord_id: str, order_id: str) -> None:
    if not tree.reserve_cl_ord_id(cl_ord_id, order_id):
        raise DuplicateClOrdID(
            f"clOrdID {cl_ord_id} is already in use",
            fields={"clOrdID": ["Already used by another order or request."]},
        )


def through_limit(side: str, limit: Decimal | None, price: Decimal | None) -> bool:
    """Is `price` worse than `limit` for this side (a buy above, a sell below)?"""
    if limit is None or price is None:
        return False
    return price > limit if side == Side.BUY.value else price < limit


# --- create -------------------------------------------------------------------------------------


@command_handler(TOPIC, "CreateOrderCommand")
def order_create(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    cmd = parse_create(ctx.command)
    fingerprint = _fingerprint(cmd)
    tree = OrderTree(uow)
    order_id = new_id("O")
    # claim the clOrdID first: one statement both checks and reserves it (the transaction
    # rolls it back if the order turns out invalid)
    if not tree.reserve_cl_ord_id(cmd.cl_ord_id, order_id, fingerprint):
        known = ClOrdIdKey.objects.get(pk=cmd.cl_ord_id)
        if known.fingerprint != fingerprint:
            raise DuplicateClOrdID(
                f"clOrdID {cmd.cl_ord_id} already names a different order",
                fields={"clOrdID": ["Already used with different content."]},
            )
        existing = Order.objects.get(pk=known.order_id)
        return Outcome(_order_body(ORDER.from_row(existing)), 200, duplicate=True)
    if cmd.parent_id is None:
        data = _client_order_data(cmd)
        data["rootId"] = order_id
    else:
        data = _child_order_data(tree, cmd, ctx)
    data["fingerprint"] = fingerprint
    order = tree.emit(None, "OrderCreated", data, order_id=order_id)
    return Outcome(_order_body(order), 201)


def _terms(cmd: CreateOrder) -> dict[str, Any]:
    return {
        "clOrdID": cmd.cl_ord_id,
        "symbol": cmd.symbol,
        "side": cmd.side and cmd.side.value,
        "orderQty": dec_str(cmd.order_qty),
        "ordType": cmd.ord_type and cmd.ord_type.value,
        "price": dec_str(cmd.price),
        "stopPx": dec_str(cmd.stop_px),
        "timeInForce": cmd.time_in_force and cmd.time_in_force.value,
        "expireTime": iso(cmd.expire_time),
        "account": cmd.account,
        "venue": cmd.venue,
        "text": cmd.text,
        "attributes": cmd.attributes,
    }


def _client_order_data(cmd: CreateOrder) -> dict[str, Any]:
    data = _terms(cmd)
    data["timeInForce"] = data["timeInForce"] or "Day"
    decision = route({**data, "handling": cmd.handling and cmd.handling.value})
    data.update(
        kind=Kind.CLIENT.value,
        rootId=None,  # a root is its own root: set by the caller, who owns the id
        parentId=None,
        handling=decision.handling,
        routingReason=decision.reason,
        # the OMS is the client's counterparty: accepting the order is creating it
        phase=Phase.OPEN.value,
    )
    return data


def _child_order_data(tree: OrderTree, cmd: CreateOrder, ctx: CommandContext) -> dict[str, Any]:
    assert cmd.parent_id is not None
    parent = tree.lock(cmd.parent_id, field="parentId")
    if parent.kind is Kind.SLICE:
        raise ValidationFailed(
            "a slice cannot have children", fields={"parentId": ["Slices cannot have child orders."]}
        )
    _check(parent, Trigger.PLACE_CHILD)
    data = _terms(cmd)
    mismatched: dict[str, list[str]] = {}
    for key, mine in (("symbol", data["symbol"]), ("side", data["side"]), ("account", data["account"])):
        theirs = getattr(parent, {"symbol": "symbol", "side": "side", "account": "account"}[key])
        if mine is None:
            data[key] = theirs
        elif mine != theirs:
            mismatched[key] = [f"Must match the parent order ({theirs})."]
    if mismatched:
        raise ValidationFailed("a child order must match its parent", fields=mismatched)
    if cmd.ord_type is None:
        data.update(ordType=parent.ord_type, price=dec_str(parent.price), stopPx=dec_str(parent.stop_px))
    data["timeInForce"] = data["timeInForce"] or parent.time_in_force
    if data["expireTime"] is None and data["timeInForce"] == "GTD":
        data["expireTime"] = iso(parent.expire_time)
    data["venue"] = data["venue"] or parent.venue
    if not data["venue"]:
        raise ValidationFailed(
            "a child order needs a venue", fields={"venue": ["Required: the parent has none."]}
        )
    check_terms({k: data[k] for k in ("ordType", "price", "stopPx", "timeInForce", "expireTime")})
    qty = cmd.order_qty
    free = parent.order_qty - parent.placed_qty
    if qty > free:
        raise ExceedsParentQuantity(
            f"child quantity {dec_str(qty)} exceeds what is left of parent {parent.order_id} ({dec_str(free)})",
            fields={"orderQty": [f"At most {dec_str(free)} is left to place."]},
        )
    price = Decimal(data["price"]) if data["price"] is not None else None
    if parent.ord_type in (OrdType.LIMIT.value, OrdType.STOP_LIMIT.value) and (
        data["ordType"] == OrdType.MARKET.value or through_limit(parent.side, parent.price, price)
    ):
        raise RuleRefused(
            "child_within_parent_limit",
            f"a child must not trade through its parent's limit {dec_str(parent.price)}",
            fields={"price": [f"Must not be through the parent's limit {dec_str(parent.price)}."]},
        )
    data.update(
        kind=(Kind.MARKET if parent.kind is Kind.CLIENT else Kind.SLICE).value,
        rootId=parent.root_id,
        parentId=parent.order_id,
        handling=parent.handling.value,
        routingReason=f"placed by {ctx.actor}",
        phase=Phase.PENDING_NEW.value,
    )
    return data


# --- commands on an existing order -----------------------------------------------------------


def _load(tree: OrderTree, ref: OrderRef) -> OrderState:
    ref.fields.raise_if_errors()
    order = tree.lock(ref.order_id)
    if ref.expected_version is not None and ref.expected_version != order.version:
        raise VersionConflict(
            f"order {order.order_id} is at version {order.version}, not {ref.expected_version}",
            fields={"expectedVersion": [f"Current version is {order.version}."]},
        )
    return order


def _text(ref: OrderRef) -> dict[str, Any]:
    return {"text": ref.text} if ref.text else {}


@command_handler(TOPIC, "CancelOrderCommand")
def order_cancel(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    cl_ord_id = ref.fields.string("clOrdID", required=True)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    assert cl_ord_id is not None
    _check(order, Trigger.CANCEL)
    _reserve(tree, cl_ord_id, order.order_id)
    order = _cancel(tree, order, cl_ord_id, ref.text)
    return Outcome(_order_body(order))


def _cancel(tree: OrderTree, order: OrderState, cl_ord_id: str, text: str | None) -> OrderState:
    """Cancel an order; an order with working children cancels them first (a cascade)."""
    if order.working_children > 0:
        order = tree.emit(
            order, "OrderCancelRequested", {"clOrdID": cl_ord_id, "cascade": True, "text": text}
        )
        for child in tree.children(order.order_id):
            child = tree.get(child.order_id)  # may have changed while siblings were cancelled
            if not child.is_working or child.pending_cancel is not None:
                continue
            if not fsm_for(child).can(child.status, Trigger.CANCEL):
                continue
            child_cl_ord_id = new_id("C")
            _reserve(tree, child_cl_ord_id, child.order_id)
            _cancel(tree, child, child_cl_ord_id, f"parent {order.cl_ord_id} canceled")
        return tree.get(order.order_id)
    if order.kind is Kind.CLIENT:
        return tree.emit(order, "OrderCanceled", {"clOrdID": cl_ord_id, "text": text})
    return tree.emit(order, "OrderCancelRequested", {"clOrdID": cl_ord_id, "cascade": False, "text": text})


@command_handler(TOPIC, "ReplaceOrderCommand")
def order_replace(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    terms = parse_replace(ref)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    if order.pending_replace is not None:
        raise ReplacePending(f"order {order.order_id} already has a replace pending")
    _check(order, Trigger.REPLACE)
    merged = {
        "ordType": order.ord_type,
        "price": terms.price if terms.price is not None else order.price,
        "stopPx": terms.stop_px if terms.stop_px is not None else order.stop_px,
        "timeInForce": (terms.time_in_force.value if terms.time_in_force else order.time_in_force),
        "expireTime": terms.expire_time or order.expire_time,
    }
    check_terms(merged)
    new_qty = terms.order_qty if terms.order_qty is not None else order.order_qty
    _check_children_fit(order, new_qty)
    _check_fits_parent(tree, order, terms.price)
    assert terms.cl_ord_id is not None
    _reserve(tree, terms.cl_ord_id, order.order_id)
    if order.kind is Kind.CLIENT:
        # the OMS is the client's counterparty: the replace takes effect at once
        order = tree.emit(order, "OrderReplaced", terms.as_data())
    else:
        order = tree.emit(order, "OrderReplaceRequested", terms.as_data())
    return Outcome(_order_body(order))


def _check_children_fit(order: OrderState, new_qty: Decimal) -> None:
    if new_qty < order.placed_qty:
        raise ExceedsParentQuantity(
            f"children of {order.order_id} already hold {dec_str(order.placed_qty)}",
            fields={"orderQty": [f"Children already hold {dec_str(order.placed_qty)}; cancel them first."]},
        )


def _check_fits_parent(tree: OrderTree, order: OrderState, new_price: Decimal | None) -> None:
    """A child must not trade through its parent's limit.

    Its quantity may grow past what the parent leaves free: a replace or restatement of a working
    order is the venue's and the desk's business (FIX C.1.b replaces a market order up while its
    client order stays as it is). Only placing new children is capped by the parent's quantity;
    an over-executed parent shows cumQty above its orderQty, for the desk to see.
    """
    if order.parent_id is None:
        return
    parent = tree.get(order.parent_id)
    if through_limit(parent.side, parent.price, new_price) and parent.ord_type in ("Limit", "StopLimit"):
        raise RuleRefused(
            "child_within_parent_limit",
            f"a child must not trade through its parent's limit {dec_str(parent.price)}",
            fields={"price": [f"Must not be through the parent's limit {dec_str(parent.price)}."]},
        )


def _simple(
    trigger: Trigger, event_type: str, guard: Callable[[OrderState, Trigger], None] | None = None
) -> Handler:
    def handler(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
        ref = parse_ref(ctx.command)
        tree = OrderTree(uow)
        order = _load(tree, ref)
        _check(order, trigger)
        if guard is not None:
            guard(order, trigger)
        order = tree.emit(order, event_type, _text(ref))
        return Outcome(_order_body(order))

    return handler


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


command_handler(TOPIC, "AcceptOrderCommand")(_simple(Trigger.ACCEPT, "OrderAccepted", _not_yet_acknowledged))
command_handler(TOPIC, "RejectOrderCommand")(_simple(Trigger.REJECT, "OrderRejected", _reject_guard))
command_handler(TOPIC, "ExpireOrderCommand")(_simple(Trigger.EXPIRE, "OrderExpired", _no_working_children))
command_handler(TOPIC, "DoneForDayCommand")(
    _simple(Trigger.DONE_FOR_DAY, "OrderDoneForDay", _no_working_children)
)


@command_handler(TOPIC, "ConfirmCancelCommand")
def order_confirm_cancel(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    _check(order, Trigger.CANCEL_CONFIRM)
    # like Expire and DoneForDay: a parent stops working only after its children (a cascade
    # completes by itself when the last one stops)
    _no_working_children(order, Trigger.CANCEL_CONFIRM)
    # without a pending cancel this is an unsolicited cancel by the venue (D.1.b)
    data = {**_text(ref), "unsolicited": order.pending_cancel is None}
    order = tree.emit(order, "OrderCanceled", data)
    return Outcome(_order_body(order))


@command_handler(TOPIC, "RejectCancelCommand")
def order_reject_cancel(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    _check(order, Trigger.CANCEL_REJECT)
    order = tree.emit(order, "OrderCancelRejected", _text(ref))
    # a parent whose cancel waited on this child cannot complete it: its cancel fails too
    parent_id = order.parent_id
    while parent_id is not None:
        parent = tree.get(parent_id)
        if not (parent.pending_cancel and parent.pending_cancel.get("cascade")):
            break
        tree.emit(parent, "OrderCancelRejected", {"text": f"child {order.cl_ord_id} could not be canceled"})
        parent_id = parent.parent_id
    return Outcome(_order_body(tree.get(order.order_id)))


def _replace_pending(order: OrderState, trigger: Trigger) -> None:
    if order.pending_replace is None:
        raise InvalidTransition(order.status.value, trigger.value, f"{trigger.value}: no replace is pending")


@command_handler(TOPIC, "ConfirmReplaceCommand")
def order_confirm_replace(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    _check(order, Trigger.REPLACE_CONFIRM)
    _replace_pending(order, Trigger.REPLACE_CONFIRM)
    assert order.pending_replace is not None
    order = tree.emit(order, "OrderReplaced", {**order.pending_replace, **_text(ref)})
    return Outcome(_order_body(order))


@command_handler(TOPIC, "RejectReplaceCommand")
def order_reject_replace(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    _check(order, Trigger.REPLACE_REJECT)
    _replace_pending(order, Trigger.REPLACE_REJECT)
    order = tree.emit(order, "OrderReplaceRejected", _text(ref))
    return Outcome(_order_body(order))


@command_handler(TOPIC, "RestateOrderCommand")
def order_restate(ctx: CommandContext, uow: UnitOfWork) -> Outcome:
    ref = parse_ref(ctx.command)
    terms = parse_replace(ref, restate=True)
    tree = OrderTree(uow)
    order = _load(tree, ref)
    _check(order, Trigger.RESTATE)
    new_qty = terms.order_qty if terms.order_qty is not None else order.order_qty
    _check_children_fit(order, new_qty)
    order = tree.emit(order, "OrderRestated", {**terms.as_data(), **_text(ref)})
    return Outcome(_order_body(order))
