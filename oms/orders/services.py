"""Order command handlers: one function per command of the contract, all through one write path.

Each handler takes its command's typed fields as keyword-only arguments (parsed once by
`dispatch`), loads (and locks) the order tree, checks the transition table and the business
rules, then emits events through the `OrderTree` (which reflects every change on the ancestors).
`dispatch` wraps each in one transaction and appends the events. Other domains (quotes) call
these functions directly with the same unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from oms.core import sql
from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import RuleRefused, ValidationFailed, VersionConflict
from oms.core.eventstore import UnitOfWork
from oms.core.parsing import dec_str, iso
from oms.orders import commands as c
from oms.orders import events as ev
from oms.orders.actions import machine_for, transition_status
from oms.orders.commands import CreateOrderCommand, check_terms
from oms.orders.enums import Handling, Kind, OrdType, Phase, Side, TimeInForce
from oms.orders.errors import DuplicateClOrdID, ExceedsParentQuantity, ReplacePending
from oms.orders.models import ClOrdIdKey, Order
from oms.orders.repository import ORDER
from oms.orders.state import OrderState
from oms.orders.transitions import Trigger
from oms.orders.tree import OrderTree, cached_order, new_id
from rules.pretrade import Prefetched, check_new_order, check_replace, discard, note_cancel, prefetch
from rules.routing import route_new_order
from rules.venues import sent_by_adapter

TOPIC = "orders"


def _check(order: OrderState, trigger: Trigger) -> None:
    machine_for(order.kind).check(transition_status(order), trigger)


def _order_body(order: OrderState, **extra: Any) -> dict[str, Any]:
    return {"order": ORDER.to_api(order), **extra}


def _fingerprint(cmd: CreateOrderCommand) -> str:
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

_EXISTING_VENUE_ORDER: ContextVar[bool] = ContextVar("existing_venue_order", default=False)


@contextmanager
def existing_venue_order() -> Iterator[None]:
    """Orders created inside record an order that already exists at a venue (reconciliation
    adopting a venue order the OMS never sent): the pre-trade checks and controls are not run.
    They refuse new risk; this risk is at the venue already, and refusing to record it would only
    hide it from the positions. Python callers only: no command field can ask for it."""
    token = _EXISTING_VENUE_ORDER.set(True)
    try:
        yield
    finally:
        _EXISTING_VENUE_ORDER.reset(token)


@command_handler(TOPIC, CreateOrderCommand)
def order_create(
    uow: UnitOfWork,
    *,
    cl_ord_id: str,
    order_qty: Decimal,
    symbol: str | None = None,
    side: Side | None = None,
    ord_type: OrdType | None = None,
    price: Decimal | None = None,
    stop_px: Decimal | None = None,
    time_in_force: TimeInForce | None = None,
    expire_time: dt.datetime | None = None,
    account: str | None = None,
    venue: str | None = None,
    parent_id: str | None = None,
    handling: Handling | None = None,
    text: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Outcome:
    """Create a client order (no parent) or place a child of one (a market order or a slice).

    Inside `existing_venue_order()` the pre-trade checks are not run (see there)."""
    cmd = CreateOrderCommand.model_construct(
        cl_ord_id=cl_ord_id,
        symbol=symbol,
        side=side,
        order_qty=order_qty,
        ord_type=ord_type,
        price=price,
        stop_px=stop_px,
        time_in_force=time_in_force,
        expire_time=expire_time,
        account=account,
        venue=venue,
        parent_id=parent_id,
        handling=handling,
        text=text,
        attributes=attributes or {},
    )
    fingerprint = _fingerprint(cmd)
    tree = OrderTree(uow)
    order_id = new_id("O")
    # claim the clOrdID first: one statement both checks and reserves it (the transaction
    # rolls it back if the order turns out invalid); a client order's pre-trade reads go out
    # in the same round trip (rules.pretrade.prefetch)
    prefetched = None
    with sql.pipeline():
        reserving = tree.send_reserve(cmd.cl_ord_id, order_id, fingerprint)
        if cmd.parent_id is None:
            prefetched = prefetch({"symbol": cmd.symbol, "venue": cmd.venue, "account": cmd.account}, uow=uow)
        elif uow.optimistic and not _EXISTING_VENUE_ORDER.get():
            # a child's checks read its parent's account and symbol (fixed for an order's life)
            # at its own venue: known from the cached parent, they go out with the claim too
            parent = cached_order(cmd.parent_id)
            if parent is not None:
                prefetched = prefetch(
                    {"symbol": parent.symbol, "venue": cmd.venue, "account": parent.account}, uow=uow
                )
    if not tree.reserved(reserving):
        discard(prefetched)
        known = ClOrdIdKey.objects.get(pk=cmd.cl_ord_id)
        if known.fingerprint != fingerprint:
            raise DuplicateClOrdID(
                f"clOrdID {cmd.cl_ord_id} already names a different order",
                fields={"clOrdID": ["Already used with different content."]},
            )
        existing = Order.objects.get(pk=known.order_id)
        return Outcome(_order_body(ORDER.from_row(existing)), 200, duplicate=True)
    terms: dict[str, Any] | None = None  # a client order's terms as routing read them
    if cmd.parent_id is None:
        terms = _routing_input(cmd, cmd.time_in_force or TimeInForce.DAY)
        created = _client_order(cmd, order_id, fingerprint, prefetched, terms)
    else:
        created = _child_order(tree, cmd, fingerprint, uow.ctx.actor)
    # pre-trade checks and controls (rules): a refusal writes nothing. A client order's checks
    # read the mapping routing read (the same terms, built once); a child's are its event's
    if _EXISTING_VENUE_ORDER.get():
        discard(prefetched)
    else:
        check_new_order(terms if terms is not None else created.to_data(), prefetched=prefetched)
    order = tree.emit(None, created, order_id=order_id)
    return Outcome(_order_body(order), 201)


def _routing_input(cmd: CreateOrderCommand, time_in_force: TimeInForce) -> dict[str, Any]:
    """What the rules engine sees: the order's terms as a plain mapping of API values."""
    return {
        "clOrdID": cmd.cl_ord_id,
        "symbol": cmd.symbol,
        "side": cmd.side and cmd.side.value,
        "orderQty": dec_str(cmd.order_qty),
        "ordType": cmd.ord_type and cmd.ord_type.value,
        "price": dec_str(cmd.price),
        "stopPx": dec_str(cmd.stop_px),
        "timeInForce": time_in_force.value,
        "expireTime": iso(cmd.expire_time),
        "account": cmd.account,
        "venue": cmd.venue,
        "text": cmd.text,
        "attributes": cmd.attributes,
        "handling": cmd.handling and cmd.handling.value,
    }


def _client_order(
    cmd: CreateOrderCommand,
    order_id: str,
    fingerprint: str,
    prefetched: Prefetched | None,
    terms: dict[str, Any],
) -> ev.OrderCreated:
    time_in_force = cmd.time_in_force or TimeInForce.DAY
    # the data rules: the first match by priority sends it to the desk or refuses it (422); they
    # are current as of the reference version read with the clOrdID claim (no statement of their own)
    decision = route_new_order(terms, prefetched=prefetched)
    assert decision.handling is not None  # a refusal raised
    # required for a client order: CreateOrderCommand.check refused the command otherwise
    assert cmd.symbol is not None and cmd.side is not None and cmd.ord_type is not None
    assert cmd.account is not None
    return ev.OrderCreated(
        cl_ord_id=cmd.cl_ord_id,
        symbol=cmd.symbol,
        side=cmd.side,
        order_qty=cmd.order_qty,
        ord_type=cmd.ord_type,
        price=cmd.price,
        stop_px=cmd.stop_px,
        time_in_force=time_in_force,
        expire_time=cmd.expire_time,
        account=cmd.account,
        venue=cmd.venue,
        text=cmd.text,
        attributes=cmd.attributes,
        kind=Kind.CLIENT,
        root_id=order_id,  # a root is its own root
        parent_id=None,
        handling=Handling(decision.handling),
        routing_reason=decision.reason,
        routing_rule=decision.rule,
        routing_rule_version=decision.rule_version,
        # the OMS is the client's counterparty: accepting the order is creating it
        phase=Phase.OPEN,
        fingerprint=fingerprint,
    )


def _child_order(tree: OrderTree, cmd: CreateOrderCommand, fingerprint: str, actor: str) -> ev.OrderCreated:
    assert cmd.parent_id is not None
    parent = tree.lock(cmd.parent_id, field="parentId")
    if parent.kind is Kind.SLICE:
        raise ValidationFailed(
            "a slice cannot have children", fields={"parentId": ["Slices cannot have child orders."]}
        )
    if parent.kind is Kind.MARKET and sent_by_adapter(parent.venue):
        # the market order is itself at the venue (the OMS sent it): a slice would be sent as well,
        # putting the same quantity there twice. Slice a market order kept at MANUAL or a desk venue.
        raise ValidationFailed(
            "a market order at a venue with an adapter cannot be sliced",
            fields={
                "parentId": [f"Order {parent.order_id} is at {parent.venue} itself: it cannot have slices."]
            },
        )
    _check(parent, Trigger.PLACE_CHILD)
    # a child inherits symbol, side and account from its parent, and must not differ from it
    mismatched: dict[str, list[str]] = {}
    for key, mine, theirs in (
        ("symbol", cmd.symbol, parent.symbol),
        ("side", cmd.side, parent.side),
        ("account", cmd.account, parent.account),
    ):
        if mine is not None and mine != theirs:
            mismatched[key] = [f"Must match the parent order ({theirs})."]
    if mismatched:
        raise ValidationFailed("a child order must match its parent", fields=mismatched)
    if cmd.ord_type is None:
        ord_type, price, stop_px = OrdType(parent.ord_type), parent.price, parent.stop_px
    else:
        ord_type, price, stop_px = cmd.ord_type, cmd.price, cmd.stop_px
    time_in_force = cmd.time_in_force or TimeInForce(parent.time_in_force)
    expire_time = cmd.expire_time
    if expire_time is None and time_in_force is TimeInForce.GTD:
        expire_time = parent.expire_time
    venue = cmd.venue or parent.venue
    if not venue:
        raise ValidationFailed(
            "a child order needs a venue", fields={"venue": ["Required: the parent has none."]}
        )
    check_terms(
        {
            "ordType": ord_type,
            "price": price,
            "stopPx": stop_px,
            "timeInForce": time_in_force,
            "expireTime": expire_time,
        }
    )
    qty = cmd.order_qty
    free = parent.order_qty - parent.placed_qty
    if qty > free:
        raise ExceedsParentQuantity(
            f"child quantity {dec_str(qty)} exceeds what is left of parent {parent.order_id} ({dec_str(free)})",
            fields={"orderQty": [f"At most {dec_str(free)} is left to place."]},
        )
    if parent.ord_type in (OrdType.LIMIT.value, OrdType.STOP_LIMIT.value) and (
        ord_type is OrdType.MARKET or through_limit(parent.side, parent.price, price)
    ):
        raise RuleRefused(
            "child_within_parent_limit",
            f"a child must not trade through its parent's limit {dec_str(parent.price)}",
            fields={"price": [f"Must not be through the parent's limit {dec_str(parent.price)}."]},
        )
    return ev.OrderCreated(
        cl_ord_id=cmd.cl_ord_id,
        symbol=parent.symbol,
        side=Side(parent.side),
        order_qty=qty,
        ord_type=ord_type,
        price=price,
        stop_px=stop_px,
        time_in_force=time_in_force,
        expire_time=expire_time,
        account=parent.account,
        venue=venue,
        text=cmd.text,
        attributes=cmd.attributes,
        kind=Kind.MARKET if parent.kind is Kind.CLIENT else Kind.SLICE,
        root_id=parent.root_id,
        parent_id=parent.order_id,
        handling=parent.handling,
        routing_reason=f"placed by {actor}",
        phase=Phase.PENDING_NEW,
        fingerprint=fingerprint,
    )


# --- commands on an existing order -----------------------------------------------------------


def _load(tree: OrderTree, order_id: str, expected_version: int | None) -> OrderState:
    order = tree.lock(order_id)
    if expected_version is not None and expected_version != order.version:
        raise VersionConflict(
            f"order {order.order_id} is at version {order.version}, not {expected_version}",
            fields={"expectedVersion": [f"Current version is {order.version}."]},
        )
    return order


@command_handler(TOPIC, c.CancelOrderCommand)
def order_cancel(
    uow: UnitOfWork,
    *,
    order_id: str,
    cl_ord_id: str,
    expected_version: int | None = None,
    text: str | None = None,
) -> Outcome:
    tree = OrderTree(uow)
    order = _load(tree, order_id, expected_version)
    _check(order, Trigger.CANCEL)
    terms = {
        "orderId": order.order_id,
        "account": order.account,
        "symbol": order.symbol,
        "venue": order.venue,
    }
    with sql.pipeline():  # the clOrdID claim and the spam counter's reference read: one round trip
        reserving = tree.send_reserve(cl_ord_id, order.order_id, "")
        sent = prefetch(terms, new_order=False)
    if not tree.reserved(reserving):
        sent.close()
        raise DuplicateClOrdID(
            f"clOrdID {cl_ord_id} is already in use",
            fields={"clOrdID": ["Already used by another order or request."]},
        )
    # never refused by a control; counts toward the cancel/replace cycles (spam suppression)
    note_cancel(terms, prefetched=sent)
    order = _cancel(tree, order, cl_ord_id, text)
    return Outcome(_order_body(order))


def _cancel(tree: OrderTree, order: OrderState, cl_ord_id: str, text: str | None) -> OrderState:
    """Cancel an order; an order with working children cancels them first (a cascade)."""
    if order.working_children > 0:
        order = tree.emit(order, ev.OrderCancelRequested(cl_ord_id=cl_ord_id, cascade=True, text=text))
        for child in tree.children(order.order_id):
            child = tree.get(child.order_id)  # may have changed while siblings were cancelled
            if not child.is_working or child.pending_cancel is not None:
                continue
            if not machine_for(child.kind).can(child.status, Trigger.CANCEL):
                continue
            child_cl_ord_id = new_id("C")
            _reserve(tree, child_cl_ord_id, child.order_id)
            _cancel(tree, child, child_cl_ord_id, f"parent {order.cl_ord_id} canceled")
        return tree.get(order.order_id)
    if order.kind is Kind.CLIENT:
        return tree.emit(order, ev.OrderCanceled(cl_ord_id=cl_ord_id, text=text))
    return tree.emit(order, ev.OrderCancelRequested(cl_ord_id=cl_ord_id, cascade=False, text=text))


def cancel_in_tree(tree: OrderTree, order: OrderState, text: str | None) -> OrderState:
    """Cancel an order of a locked tree on the OMS's own initiative (the kill switch): a new
    clOrdID, then the same path as a CancelOrderCommand (children first, venue orders pending)."""
    cl_ord_id = new_id("C")
    _reserve(tree, cl_ord_id, order.order_id)
    return _cancel(tree, order, cl_ord_id, text)


@command_handler(TOPIC, c.ReplaceOrderCommand)
def order_replace(
    uow: UnitOfWork,
    *,
    order_id: str,
    cl_ord_id: str,
    expected_version: int | None = None,
    text: str | None = None,
    order_qty: Decimal | None = None,
    price: Decimal | None = None,
    stop_px: Decimal | None = None,
    time_in_force: TimeInForce | None = None,
    expire_time: dt.datetime | None = None,
) -> Outcome:
    # text is not part of a replace's event (the contract's ReplaceOrderCommand has none to keep)
    tree = OrderTree(uow)
    order = _load(tree, order_id, expected_version)
    if order.pending_replace is not None:
        raise ReplacePending(f"order {order.order_id} already has a replace pending")
    _check(order, Trigger.REPLACE)
    merged = {
        "ordType": order.ord_type,
        "price": price if price is not None else order.price,
        "stopPx": stop_px if stop_px is not None else order.stop_px,
        "timeInForce": (time_in_force.value if time_in_force else order.time_in_force),
        "expireTime": expire_time or order.expire_time,
    }
    check_terms(merged)
    new_qty = order_qty if order_qty is not None else order.order_qty
    _check_children_fit(order, new_qty)
    _check_fits_parent(tree, order, price)
    before = ORDER.to_api(order)
    after = {
        "orderQty": dec_str(new_qty),
        "price": dec_str(price if price is not None else order.price),
        "stopPx": dec_str(stop_px if stop_px is not None else order.stop_px),
    }
    check_replace(before, {**before, **after})
    _reserve(tree, cl_ord_id, order.order_id)
    # a client order: the OMS is the client's counterparty, the replace takes effect at once
    event = ev.OrderReplaced if order.kind is Kind.CLIENT else ev.OrderReplaceRequested
    terms = event(
        cl_ord_id=cl_ord_id,
        order_qty=order_qty,
        price=price,
        stop_px=stop_px,
        time_in_force=time_in_force,
        expire_time=expire_time,
    )
    order = tree.emit(order, terms)
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
