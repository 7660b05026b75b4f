"""Pre-trade checks: what the orders app asks before it writes a new order or a replace.

The orders app hands a plain mapping of the order's fields by API name (as it does to `route`):

    prefetch(data)                    # sends the checks' reads with the clOrdID claim (pipeline)
    check_new_order(data)             # raises CheckRefused (422 rule_refused), first failure
    check_replace(before, after)      # the same checks when the replace raises exposure; spam
    note_cancel(order)                # a cancel: never refused, counts toward the cycles
    evaluate(data)                    # every refusal, for the preview (raises nothing)

Each check is a named function of an `OrderIntent` and its `Lookups` answering a `CheckRefused`
or None (rules.checks); `CHECKS` runs them in order: the controls first (SAFE
mode, the venue's arming and feed), then the instrument (a malformed order), then the limits,
the throttle last (it counts the order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from django.db import connection

from oms.core.eventstore import UnitOfWork
from rules import checks, counters, reference, throttles
from rules.controls import IN_FORCE_SQL, READ_WITH_IN_FORCE_SQL, in_force_params, read_with_in_force_params
from rules.errors import CheckRefused
from rules.intent import (
    POSITIONS_TAGS,
    Lookups,
    OrderIntent,
    PositionsKey,
    PositionView,
    Prefetched,
    positions_query,
    register_positions,
)
from rules.limits import limits_of

__all__ = [
    "CHECKS",
    "PositionView",
    "Prefetched",
    "check_new_order",
    "check_replace",
    "discard",
    "evaluate",
    "note_cancel",
    "prefetch",
    "register_positions",
]

Check = Callable[[OrderIntent, Lookups], CheckRefused | None]


class OnReplace(Enum):
    """When a check applies to a replace (a cancel is never checked)."""

    ALWAYS = "always"  # the instrument's grid: any new quantity or price must fit it
    EXPOSURE = "exposure"  # more quantity or a more aggressive price (rules.pretrade.raises_exposure)
    MORE_QUANTITY = "more_quantity"  # SAFE mode: the contract refuses replaces that increase quantity
    NEVER = "never"  # the throttle of new orders (a replace is a cycle: spam_suppressed)


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
    # last: it counts the order, which only an order every other check let through should do
    # (a refusal rolls the count back anyway; this keeps the preview's answer the same)
    ("throttle", throttles.check_throttle, OnReplace.NEVER),
]


def _run(
    intent: OrderIntent, look: Lookups, *, only: Callable[[OnReplace], bool] = lambda when: True
) -> list[CheckRefused]:
    return [r for _, check, when in CHECKS if only(when) and (r := check(intent, look)) is not None]


def evaluate(data: Mapping[str, Any]) -> list[CheckRefused]:
    """Every refusal the order would meet now; counts nothing (the throttle only looks)."""
    intent = OrderIntent.of(data)
    return _run(intent, Lookups(intent, counting=False))


def prefetch(data: Mapping[str, Any], *, new_order: bool = True, uow: UnitOfWork | None = None) -> Prefetched:
    """Send ahead what the checks of this new order will read, to go out in the pipeline of the
    statement the write path sends first (the clOrdID reservation): one round trip for both.

    Always the reference version with the order's book (the data rules are current as of that
    version too: rules.routing, rules.active) and, for a new order, in the same statement (UNION
    ALL, the reference read's row shape) the controls in force and the positions of its account
    and symbol (oms/positions: fills and open orders, for `position_dirty` and
    `maxOpenNotional`). The snapshot this process holds (possibly stale: it only guesses) says
    which limits apply; for those, the positions of `maxOpenNotional`'s scope when it is wider
    (in the same statement) and the throttle's count (a statement of its own: an upsert). Each
    answer serves only the exact read it was sent for (a moved version that changed the limits
    makes the check read afresh); a count no check used is taken back (`discard`) or rolls back
    with a refused order. With `uow` (an optimistic attempt), the rows of the order's own positions
    scope are handed to that unit of work: the positions' projection takes the order's position
    from them instead of reading it in a round trip of its own."""
    intent = OrderIntent.of(data)
    checked = new_order and bool(CHECKS)
    sent = Prefetched(
        intent.venue,
        intent.symbol,
        counters.now(),
        account=intent.account,
        with_controls=checked,
        uow=uow if uow is not None and uow.optimistic else None,
    )
    if not checked:  # a cancel reads the reference data only
        sent.reference = reference.send_read(intent.venue, intent.symbol)
        return sent
    # the version read serves the data rules too (rules.routing: the active set is current as of
    # it); a new order's statement also reads the controls in force (SAFE modes, the venue's
    # arming and feed: uncached, read at the start of the command, rules.controls.in_force)
    # (on PostgreSQL, at a venue, both in one function call whose plan is kept: rules.controls)
    head: tuple[str, list[Any]] | None = None
    also: list[tuple[str, list[Any]]] = []
    if intent.venue and connection.vendor == "postgresql":
        head = (
            READ_WITH_IN_FORCE_SQL,
            read_with_in_force_params(intent.venue, intent.account, intent.symbol),
        )
    else:
        also.append((IN_FORCE_SQL, in_force_params(intent.venue, intent.account, intent.symbol)))
    # the positions of the order's account and symbol: `position_dirty` reads them for every
    # order; `maxOpenNotional` reads those of its scope (the same ones when it is the order's)
    scopes: list[PositionsKey] = [(intent.account, intent.symbol)]
    held = reference.held()
    limits = limits_of(held, intent.account, intent.symbol) if held is not None else {}
    open_limit = limits.get("maxOpenNotional")
    if open_limit is not None:
        wider = (checks.scope_filter(open_limit.account), checks.scope_filter(open_limit.symbol))
        if wider != scopes[0]:
            scopes.append(wider)
    for tag, scope in zip(POSITIONS_TAGS, scopes, strict=False):
        query = positions_query(*scope, tag)
        if query is not None:
            also.append(query)
            sent.positions[scope] = tag
    sent.reference = reference.send_read(intent.venue, intent.symbol, also=also, head=head)
    if "maxOrdersPerSecond" in limits:
        bucket = throttles.orders_bucket(intent.account, intent.symbol)
        start = counters.window_start(sent.now, throttles.ORDER_WINDOW)
        sent.counts[(bucket, start)] = counters.send_count([bucket], start)
    return sent


def discard(sent: Prefetched | None) -> None:
    """Take back the throttle counts sent ahead that no check used, when the transaction goes on
    to commit: a repeated clOrdID (the existing order is the answer), or a limit the held snapshot
    showed that is gone (the check read the current one)."""
    if sent is None:
        return
    unused = list(sent.counts)
    sent.close()
    for bucket, start in unused:
        counters.uncount(bucket, start)


def check_new_order(data: Mapping[str, Any], *, prefetched: Prefetched | None = None) -> None:
    intent = OrderIntent.of(data)
    look = Lookups(intent, prefetched=prefetched)
    try:
        for _name, check, _when in CHECKS:
            refused = check(intent, look)
            if refused is not None:
                raise refused
    except BaseException:
        if prefetched is not None:
            prefetched.close()  # the transaction rolls back what was counted
        raise
    discard(prefetched)


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
    when it raises the quantity (a smaller or more passive order passes); the throttle of new
    orders does not apply. Every replace is a cancel/replace cycle (`spam_suppressed`), whatever
    it changes."""
    # the open-notional and dirty checks count what the replace adds, not the whole order again
    # (the positions' projection counts the order being replaced as open)
    intent = dataclasses.replace(OrderIntent.of(after), replaces_qty=OrderIntent.of(before).order_qty)
    look = Lookups(intent)
    if any(before.get(k) != after.get(k) for k in ("orderQty", "price", "stopPx")):
        applies = {OnReplace.ALWAYS}
        if raises_exposure(before, after):
            applies.add(OnReplace.EXPOSURE)
        if intent.order_qty > OrderIntent.of(before).order_qty:
            applies.add(OnReplace.MORE_QUANTITY)
        for refused in _run(intent, look, only=applies.__contains__):
            raise refused
    cycle = throttles.check_cycle(before, look.limits)
    if cycle is not None:
        raise cycle


def note_cancel(order: Mapping[str, Any], *, prefetched: Prefetched | None = None) -> None:
    """A cancel of `order` (orderId, account, symbol, venue) counts toward its cancel/replace
    cycles; a cancel is never refused by a check or a throttle. `prefetched`: `prefetch(order)`
    sent with the cancel's clOrdID claim (its reference read, nothing counted ahead)."""
    look = Lookups(OrderIntent.of(order), prefetched=prefetched)
    try:
        throttles.note_cancel(order, look.limits)
    finally:
        if prefetched is not None:
            prefetched.close()
