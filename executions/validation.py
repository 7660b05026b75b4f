"""Validation of an execution against the order it targets, before anything is applied.

Each check is a named rule of the validation engine whose name is the stable review reason the
desk sees. An execution that fails any of them is held `PendingReview` and changes no order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from executions.enums import ReviewReason as R
from oms.core.validation import Rule, Validator
from oms.orders.enums import Kind, Phase, Side
from oms.orders.state import OrderState


@dataclass
class Fill:
    """The facts checked: an execution's quantity, price and venue against its order tree."""

    qty: Decimal
    px: Decimal
    venue: str
    order: OrderState | None
    # an execution already counted in the order (a correction replaces its quantity)
    replaces_qty: Decimal = Decimal(0)
    # the venue orders above `order` (a slice's market order): the fill counts in their cumQty too
    parents: tuple[OrderState, ...] = ()


def venue_parents(order: OrderState | None, orders: Mapping[str, OrderState]) -> tuple[OrderState, ...]:
    """The loaded ancestors of `order` below its client order (for a slice: its market order).

    A fill must fit them as well as its own order, or a slice's fills (or the market order's own
    beside its slices') overfill the market order. The client order is left out on purpose: a
    market order replaced above what its client order leaves free may over-execute it (FIX C.1.b),
    for the desk to see.
    """
    out: list[OrderState] = []
    parent = orders.get(order.parent_id) if order is not None and order.parent_id else None
    while parent is not None and parent.kind is not Kind.CLIENT:
        out.append(parent)
        parent = orders.get(parent.parent_id) if parent.parent_id else None
    return tuple(out)


def _fits(order: OrderState, fill: Fill) -> bool:
    return order.cum_qty - fill.replaces_qty + fill.qty <= order.order_qty


def _fits_all(fill: Fill) -> bool:
    assert fill.order is not None
    return _fits(fill.order, fill) and all(_fits(parent, fill) for parent in fill.parents)


def _through_limit(f: Fill) -> bool:
    o = f.order
    if o is None or o.price is None or o.ord_type not in ("Limit", "StopLimit"):
        return False
    return f.px > o.price if o.side == Side.BUY.value else f.px < o.price


def _known(f: Fill) -> bool:
    return f.order is not None


EXECUTION_CHECKS: Validator[Fill] = Validator(
    "execution",
    [
        Rule(R.UNKNOWN_ORDER, R.UNKNOWN_ORDER, _known, "The order is unknown."),
        Rule(
            R.NON_POSITIVE_QUANTITY,
            R.NON_POSITIVE_QUANTITY,
            lambda f: f.qty > 0,
            "lastQty must be greater than zero.",
        ),
        Rule(
            R.NON_POSITIVE_PRICE,
            R.NON_POSITIVE_PRICE,
            lambda f: f.px > 0,
            "lastPx must be greater than zero.",
        ),
        Rule(
            R.ORDER_REJECTED,
            R.ORDER_REJECTED,
            lambda f: f.order is None or f.order.phase is not Phase.REJECTED,
            "The order was rejected: nothing can have traded.",
        ),
        Rule(
            R.NOT_A_VENUE_ORDER,
            R.NOT_A_VENUE_ORDER,
            lambda f: f.order is None or f.order.kind is not Kind.CLIENT,
            "Executions apply to market orders and slices, not to client orders.",
        ),
        Rule(
            R.OVERFILL,
            R.OVERFILL,
            lambda f: not _known(f) or f.qty <= 0 or _fits_all(f),
            "The fill would take the order's cumQty (or its parent venue order's) beyond its orderQty.",
        ),
        Rule(
            R.PRICE_THROUGH_LIMIT,
            R.PRICE_THROUGH_LIMIT,
            lambda f: not _through_limit(f),
            "The price is through the order's limit.",
        ),
        Rule(
            R.VENUE_MISMATCH,
            R.VENUE_MISMATCH,
            lambda f: f.order is None or not f.order.venue or f.venue == f.order.venue,
            "The execution's venue is not the order's venue.",
        ),
    ],
)


def review(fill: Fill) -> tuple[list[str], dict[str, list[str]]]:
    """The review reasons (stable codes, in rule order) and their messages; empty when valid."""
    details = EXECUTION_CHECKS.errors(fill)
    return [str(code) for code in details], {str(k): v for k, v in details.items()}
