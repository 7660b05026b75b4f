"""Validation of an execution against the order it targets, before anything is applied.

Each check is a named rule of the validation engine whose name is the stable review reason the
desk sees. An execution that fails any of them is held `PendingReview` and changes no order.
"""

from __future__ import annotations

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


def _fits(order: OrderState, fill: Fill) -> bool:
    return order.cum_qty - fill.replaces_qty + fill.qty <= order.order_qty


def _through_limit(f: Fill) -> bool:
    o = f.order
    if o is None or o.price is None or o.ord_type not in ("Limit", "StopLimit"):
        return False
    return f.px > o.price if o.side == Side.BUY.value else f.px < o.price


def _known(f: Fill) -> bool:
    return f.order is not None


EXECUTION_CHECKS = Validator(
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
            lambda f: not _known(f) or f.order.phase is not Phase.REJECTED,
            "The order was rejected: nothing can have traded.",
        ),
        Rule(
            R.NOT_A_VENUE_ORDER,
            R.NOT_A_VENUE_ORDER,
            lambda f: not _known(f) or f.order.kind is not Kind.CLIENT,
            "Executions apply to market orders and slices, not to client orders.",
        ),
        Rule(
            R.OVERFILL,
            R.OVERFILL,
            lambda f: not _known(f) or f.qty <= 0 or _fits(f.order, f),
            "The fill would take the order's cumQty beyond its orderQty.",
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
            lambda f: not _known(f) or not f.order.venue or f.venue == f.order.venue,
            "The execution's venue is not the order's venue.",
        ),
    ],
)


def review(fill: Fill) -> tuple[list[str], dict[str, list[str]]]:
    """The review reasons (stable codes, in rule order) and their messages; empty when valid."""
    details = EXECUTION_CHECKS.errors(fill)  # type: ignore[arg-type]
    return [str(code) for code in details], {str(k): v for k, v in details.items()}
