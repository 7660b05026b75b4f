"""Pre-trade checks: what the orders app asks before it writes a new order or a replace.

The orders app hands a plain mapping of the order's fields by API name (as it does to `route`):

    check_new_order(data)             # raises CheckRefused (422 rule_refused), first failure
    check_replace(before, after)      # the same checks when the replace raises exposure
    evaluate(data)                    # every refusal, for the preview (raises nothing)

Each check is a named function of an `OrderIntent` and its `Lookups` answering a `CheckRefused`
or None (rules.checks); `CHECKS` runs them in order: the controls first (SAFE
mode, the venue's arming and feed), then the instrument (a malformed order), then the limits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from rules import checks
from rules.errors import CheckRefused
from rules.intent import Lookups, OrderIntent, PositionView, register_positions

__all__ = ["CHECKS", "PositionView", "check_new_order", "check_replace", "evaluate", "register_positions"]

Check = Callable[[OrderIntent, Lookups], CheckRefused | None]


class OnReplace(Enum):
    """When a check applies to a replace (a cancel is never checked)."""

    ALWAYS = "always"  # the instrument's grid: any new quantity or price must fit it
    EXPOSURE = "exposure"  # more quantity or a more aggressive price (rules.pretrade.raises_exposure)
    MORE_QUANTITY = "more_quantity"  # SAFE mode: the contract refuses replaces that increase quantity


CHECKS: list[tuple[str, Check, OnReplace]] = [
    # the controls first: while they hold, nothing else about the order matters
    ("safe_mode", checks.check_safe_mode, OnReplace.MORE_QUANTITY),
    ("venue_not_armed", checks.check_venue_armed, OnReplace.EXPOSURE),
    ("feed_stale", checks.check_feed, OnReplace.EXPOSURE),
    ("instrument", checks.check_instrument, OnReplace.ALWAYS),
    # adding to a position the OMS cannot vouch for (oms/positions: unknown outcomes, missing fills)
    ("position_dirty", checks.check_position_dirty, OnReplace.EXPOSURE),
    ("market_orders", checks.check_market_orders, OnReplace.EXPOSURE),
    ("max_order_qty", checks.check_max_order_qty, OnReplace.EXPOSURE),
    ("price_collar", checks.check_price_collar, OnReplace.EXPOSURE),
    ("max_order_notional", checks.check_max_order_notional, OnReplace.EXPOSURE),
    ("max_open_notional", checks.check_max_open_notional, OnReplace.EXPOSURE),
]


def _run(intent: OrderIntent, *, only: Callable[[OnReplace], bool] = lambda when: True) -> list[CheckRefused]:
    look = Lookups(intent)
    return [r for _, check, when in CHECKS if only(when) and (r := check(intent, look)) is not None]


def evaluate(data: Mapping[str, Any]) -> list[CheckRefused]:
    return _run(OrderIntent.of(data))


def check_new_order(data: Mapping[str, Any]) -> None:
    intent = OrderIntent.of(data)
    look = Lookups(intent)
    for _name, check, _when in CHECKS:
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
    risk checks and the venue's arming and feed apply only when it raises exposure, SAFE mode only
    when it raises the quantity (a smaller or more passive order passes)."""
    if all(before.get(k) == after.get(k) for k in ("orderQty", "price", "stopPx")):
        return
    applies = {OnReplace.ALWAYS}
    if raises_exposure(before, after):
        applies.add(OnReplace.EXPOSURE)
    if OrderIntent.of(after).order_qty > OrderIntent.of(before).order_qty:
        applies.add(OnReplace.MORE_QUANTITY)
    # the open-notional and dirty checks count what the replace adds, not the whole order again
    intent = dataclasses.replace(OrderIntent.of(after), replaces_qty=OrderIntent.of(before).order_qty)
    for refused in _run(intent, only=applies.__contains__):
        raise refused
