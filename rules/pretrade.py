"""Pre-trade checks: what the orders app asks before it writes a new order or a replace.

The orders app hands a plain mapping of the order's fields by API name (as it does to `route`):

    check_new_order(data)             # raises CheckRefused (422 rule_refused), first failure
    check_replace(before, after)      # the same checks when the replace raises exposure
    evaluate(data)                    # every refusal, for the preview (raises nothing)

Each check is a named function of an `OrderIntent` and its `Lookups` answering a `CheckRefused`
or None (rules.checks); `CHECKS` runs them in order: the instrument first (a malformed order),
then the limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rules import checks
from rules.errors import CheckRefused
from rules.intent import Lookups, OpenOrder, OrderIntent, register_open_orders

__all__ = ["CHECKS", "OpenOrder", "check_new_order", "check_replace", "evaluate", "register_open_orders"]

Check = Callable[[OrderIntent, Lookups], CheckRefused | None]

CHECKS: list[tuple[str, Check]] = [
    ("instrument", checks.check_instrument),
    ("market_orders", checks.check_market_orders),
    ("max_order_qty", checks.check_max_order_qty),
    ("price_collar", checks.check_price_collar),
    ("max_order_notional", checks.check_max_order_notional),
    ("max_open_notional", checks.check_max_open_notional),
]
RISK = frozenset(name for name, _ in CHECKS if name != "instrument")


def _run(intent: OrderIntent, *, only: Callable[[str], bool] = lambda name: True) -> list[CheckRefused]:
    look = Lookups(intent)
    return [r for name, check in CHECKS if only(name) and (r := check(intent, look)) is not None]


def evaluate(data: Mapping[str, Any]) -> list[CheckRefused]:
    return _run(OrderIntent.of(data))


def check_new_order(data: Mapping[str, Any]) -> None:
    intent = OrderIntent.of(data)
    look = Lookups(intent)
    for _name, check in CHECKS:
        refused = check(intent, look)
        if refused is not None:
            raise refused


def raises_exposure(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """More quantity, or a price more aggressive (a buy up, a sell down), or a larger notional."""
    old, new = OrderIntent.of(before), OrderIntent.of(after)
    if new.order_qty > old.order_qty:
        return True
    if old.price is not None and new.price is not None and new.price != old.price:
        return new.price > old.price if new.is_buy else new.price < old.price
    return False


def check_replace(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """A replace that changes quantity or prices is checked against the instrument's grid; the
    risk checks apply only when it raises exposure (a smaller or more passive order passes)."""
    if all(before.get(k) == after.get(k) for k in ("orderQty", "price", "stopPx")):
        return
    risky = raises_exposure(before, after)
    for refused in _run(OrderIntent.of(after), only=lambda name: risky or name not in RISK):
        raise refused
