"""Throttles: `maxOrdersPerSecond` (rule `throttled`) and `maxCancelReplacePerMinute`
(rule `spam_suppressed`).

What counts where (docs/architecture.md, "Throttles and spam suppression"):

- `throttled`: every new order (client or child) of an account and symbol, in its second.
- `spam_suppressed`: cancel/replace cycles, counted per order and per account and symbol, in the
  minute. A replace is a cycle: it counts on both and is refused when either passes the limit. A
  cancel is never refused by any control, but it counts on both (a cancel then a new order is
  the same cycle sent by hand), so the replaces that follow it on the symbol are held back.

Windows are fixed, aligned on the epoch (a second, a minute), counted in the database
(rules.counters): one upsert per check both adds the order and answers the window's count, so
several HTTP processes and workers share one count, and the count is part of the command's
transaction (a refused or failed command counts nothing). The clock is injectable
(`rules.counters.clock`): the tests place orders exactly on a window's boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules import counters
from rules.counters import at, window_start
from rules.enums import Rule
from rules.errors import CheckRefused
from rules.intent import Lookups, OrderIntent
from rules.limits import ANY, Effective

ORDER_WINDOW = 1  # seconds: maxOrdersPerSecond
CYCLE_WINDOW = 60  # seconds: maxCancelReplacePerMinute


# --- the buckets ----------------------------------------------------------------------------------


def orders_bucket(account: str | None, symbol: str) -> str:
    return f"orders|{account or ANY}|{symbol}"


def order_cycles_bucket(order_id: str) -> str:
    return f"cycles|order|{order_id}"


def symbol_cycles_bucket(account: str | None, symbol: str) -> str:
    return f"cycles|{account or ANY}|{symbol}"


# --- the checks -----------------------------------------------------------------------------------


def _scope(limit: Effective) -> dict[str, Any]:
    return {"scope": {"account": limit.account, "symbol": limit.symbol}}


def check_throttle(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    """`maxOrdersPerSecond`: the orders of the order's account and symbol in this second."""
    limit = look.limits.get("maxOrdersPerSecond")
    if limit is None:
        return None
    start = window_start(look.now, ORDER_WINDOW)
    bucket = orders_bucket(intent.account, intent.symbol)
    value = look.count(bucket, start)
    if value <= limit.value:
        return None
    return CheckRefused(
        Rule.THROTTLED.value,
        f"{value} orders for {intent.account or ANY}/{intent.symbol} in the second from {at(start)}: "
        f"the limit is {limit.value} per second",
        {
            "limit": limit.value,
            "value": value,
            "windowSeconds": ORDER_WINDOW,
            "windowStart": at(start),
            **_scope(limit),
        },
    )


def _cycle_buckets(order: Mapping[str, Any]) -> dict[str, str]:
    return {
        "order": order_cycles_bucket(str(order["orderId"])),
        "symbol": symbol_cycles_bucket(order.get("account"), str(order.get("symbol") or "")),
    }


def check_cycle(order: Mapping[str, Any], limits: Mapping[str, Effective]) -> CheckRefused | None:
    """A replace of `order` (its API document): one more cycle on the order and on its account
    and symbol; refused `spam_suppressed` when either passes the limit (the count rolls back)."""
    limit = limits.get("maxCancelReplacePerMinute")
    if limit is None:
        return None
    start = window_start(counters.now(), CYCLE_WINDOW)
    buckets = _cycle_buckets(order)
    counts = counters.count(list(buckets.values()), start)
    for counter, bucket in buckets.items():
        value = counts[bucket]
        if value > limit.value:
            return CheckRefused(
                Rule.SPAM_SUPPRESSED.value,
                f"{value} cancel/replace cycles on the {counter} "
                f"({order['orderId'] if counter == 'order' else (order.get('account') or ANY) + '/' + str(order.get('symbol'))}) "
                f"in the minute from {at(start)}: the limit is {limit.value} per minute",
                {
                    "limit": limit.value,
                    "value": value,
                    "counter": counter,
                    "windowSeconds": CYCLE_WINDOW,
                    "windowStart": at(start),
                    "orderId": order["orderId"],
                    **_scope(limit),
                },
            )
    return None


def note_cancel(order: Mapping[str, Any], limits: Mapping[str, Effective]) -> None:
    """A cancel of `order` counts as a cycle on it and on its account and symbol; never refused.
    `limits`: the order's current limits (a version-checked read: a cancel counts from the moment
    the limit is set, in every process)."""
    if limits.get("maxCancelReplacePerMinute") is None:
        return
    counters.count(list(_cycle_buckets(order).values()), window_start(counters.now(), CYCLE_WINDOW))
