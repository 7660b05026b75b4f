"""The pre-trade checks, one function each: `check(intent, lookups) -> CheckRefused | None`.

Each refusal names the contract's rule and carries the numbers that tripped it (`details`:
limit, value, referencePx ...; decimals as strings) and the limit's scope where one applies.
With no instrument, book or limit set nothing here refuses an order the first part accepts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.core.parsing import dec_str, iso
from rules.enums import Feed, Rule, VenueMode
from rules.errors import CheckRefused
from rules.instruments import InstrumentState
from rules.intent import Lookups, OrderIntent, position_notional
from rules.limits import ANY, Effective
from rules.venues import VenueState


def _d(value: Decimal | None) -> str | None:
    return dec_str(value)


def scope_filter(value: str) -> str | None:
    """A limit's account or symbol as a filter of the orders it covers ("*": all)."""
    return None if value == ANY else value


def _scope(limit: Effective) -> dict[str, Any]:
    return {"scope": {"account": limit.account, "symbol": limit.symbol}}


# --- controls (rules.controls) and the venue registry (rules.venues) ------------------------------


def check_safe_mode(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    if not look.safe_modes:
        return None
    control = look.safe_modes[0]
    return CheckRefused(
        Rule.SAFE_MODE.value,
        f"SAFE mode ({control.scope.value} {control.key}): {control.reason}",
        {
            "controlId": control.control_id,
            "scope": control.scope.value,
            "key": control.key,
            "reason": control.reason,
            "source": control.source.value,
        },
    )


# --- venue (the registry: rules.venues) ------------------------------------------------------------


def _venue(v: VenueState) -> dict[str, Any]:
    return {"venue": v.venue, "mode": v.mode.value, "armed": v.armed, "feed": v.feed.value}


def check_venue_armed(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    v = look.venue
    if v is None or v.mode is not VenueMode.LIVE or v.armed:
        return None
    return CheckRefused(
        Rule.VENUE_NOT_ARMED.value,
        f"venue {v.venue} is Live and not armed (RequestArming then ConfirmArming by a second user)",
        _venue(v),
    )


def check_feed(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    """A venue whose stream is stale or down: the OMS cannot see what its orders do there."""
    v = look.venue
    if v is None or not v.has_adapter or v.feed is Feed.HEALTHY:
        return None
    return CheckRefused(
        Rule.FEED_STALE.value,
        f"venue {v.venue}'s feed is {v.feed.value}",
        {**_venue(v), "lastMessageAt": iso(v.last_message_at), "lastSeq": v.last_seq},
    )


# --- instrument -----------------------------------------------------------------------------------


def _fits(intent: OrderIntent, inst: InstrumentState) -> CheckRefused | None:
    where = {"venue": inst.venue, "symbol": inst.symbol}
    for name, px in (("price", intent.price), ("stopPx", intent.stop_px)):
        if px is not None and px % inst.tick_size != 0:
            return CheckRefused(
                Rule.TICK_SIZE.value,
                f"{name} {_d(px)} is not a multiple of the tick size {_d(inst.tick_size)}",
                {**where, "field": name, "value": _d(px), "tickSize": _d(inst.tick_size)},
            )
    qty = intent.order_qty
    if qty % inst.lot_size != 0:
        return CheckRefused(
            Rule.LOT_SIZE.value,
            f"orderQty {_d(qty)} is not a multiple of the lot size {_d(inst.lot_size)}",
            {**where, "field": "orderQty", "value": _d(qty), "lotSize": _d(inst.lot_size)},
        )
    if qty < inst.min_qty:
        # the contract names no rule of its own for the minimum: below it is not a tradeable lot
        return CheckRefused(
            Rule.LOT_SIZE.value,
            f"orderQty {_d(qty)} is below the minimum {_d(inst.min_qty)}",
            {**where, "field": "orderQty", "value": _d(qty), "minQty": _d(inst.min_qty)},
        )
    return None


def check_instrument(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    candidates = look.instruments
    if not (look.has_adapter or candidates):
        return None
    enabled = [i for i in candidates if i.enabled]
    if not enabled:
        return CheckRefused(
            Rule.UNKNOWN_INSTRUMENT.value,
            f"no enabled instrument {intent.symbol} at {intent.venue or 'any venue'}",
            {"venue": intent.venue, "symbol": intent.symbol},
        )
    first: CheckRefused | None = None
    for inst in enabled:  # a venue-less order fits if it fits one of the symbol's instruments
        refused = _fits(intent, inst)
        if refused is None:
            return None
        first = first or refused
    return first


# --- limits ---------------------------------------------------------------------------------------


def check_market_orders(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    allowed = look.limits.get("allowMarketOrders")
    if allowed is None or allowed.value or intent.ord_type not in ("Market", "Stop"):
        return None
    return CheckRefused(
        Rule.MARKET_ORDERS_DISABLED.value,
        f"{intent.ord_type} orders are not allowed for {intent.account or ANY}/{intent.symbol}",
        {"ordType": intent.ord_type, "limit": False, **_scope(allowed)},
    )


def check_max_order_qty(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    limit = look.limits.get("maxOrderQty")
    if limit is None or intent.order_qty <= limit.value:
        return None
    return CheckRefused(
        Rule.MAX_ORDER_QTY.value,
        f"orderQty {_d(intent.order_qty)} exceeds the limit {_d(limit.value)}",
        {"limit": _d(limit.value), "value": _d(intent.order_qty), **_scope(limit)},
    )


def _no_reference(intent: OrderIntent, check: str, limit: Effective) -> CheckRefused:
    return CheckRefused(
        Rule.NO_REFERENCE_PRICE.value,
        f"no reference price for {intent.symbol} at {intent.venue or 'any venue'}: {check} cannot be checked",
        {"check": check, "venue": intent.venue, "symbol": intent.symbol, **_scope(limit)},
    )


def check_price_collar(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    collar = look.limits.get("priceCollarPct")
    if collar is None:
        return None  # the collar is off: no reference needed
    ref = look.reference_px
    if ref is None:
        return _no_reference(intent, Rule.PRICE_COLLAR.value, collar)
    if not intent.has_limit:
        return None  # a market order takes the book; its size is bounded by the notional limits
    assert intent.price is not None
    pct = collar.value / Decimal(100)
    bound = ref * (1 + pct) if intent.is_buy else ref * (1 - pct)
    outside = intent.price > bound if intent.is_buy else intent.price < bound
    if not outside:
        return None
    return CheckRefused(
        Rule.PRICE_COLLAR.value,
        f"price {_d(intent.price)} is {'above' if intent.is_buy else 'below'} the collar {_d(bound)} "
        f"({_d(collar.value)}% from the reference {_d(ref)})",
        {
            "limit": _d(collar.value),
            "value": _d(intent.price),
            "referencePx": _d(ref),
            "bound": _d(bound),
            **_scope(collar),
        },
    )


def check_max_order_notional(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    limit = look.limits.get("maxOrderNotional")
    if limit is None:
        return None
    notional = look.notional(intent.order_qty, look.px)
    if notional is None:
        return _no_reference(intent, Rule.MAX_ORDER_NOTIONAL.value, limit)
    if notional <= limit.value:
        return None
    return CheckRefused(
        Rule.MAX_ORDER_NOTIONAL.value,
        f"notional {_d(notional)} exceeds the limit {_d(limit.value)}",
        {
            "limit": _d(limit.value),
            "value": _d(notional),
            "price": _d(look.px),
            "referencePx": _d(look.reference_px),
            "multiplier": _d(look.multiplier),
            **_scope(limit),
        },
    )


def check_max_open_notional(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    """Open client orders in the limit's scope plus this one, worst case: the larger side (all
    buys fill, or all sells fill) plus the position (none until positions land)."""
    limit = look.limits.get("maxOpenNotional")
    if limit is None:
        return None
    mine = look.notional(intent.order_qty, look.px)
    if mine is None:
        return _no_reference(intent, Rule.MAX_OPEN_NOTIONAL.value, limit)
    account, symbol = scope_filter(limit.account), scope_filter(limit.symbol)
    buys = sells = Decimal(0)
    for o in look.open_orders(account, symbol, intent.order_id):
        px = o.price if o.price is not None else (look.px if o.symbol == intent.symbol else None)
        if px is None:
            continue  # a market order of another symbol without a price: nothing to count it at
        n = o.leaves_qty * px * look.multiplier
        if o.side == "Buy":
            buys += n
        else:
            sells += n
    if intent.is_buy:
        buys += mine
    else:
        sells += mine
    worst = max(buys, sells) + abs(position_notional(account, symbol))
    if worst <= limit.value:
        return None
    return CheckRefused(
        Rule.MAX_OPEN_NOTIONAL.value,
        f"open notional {_d(worst)} (worst case, with this order) exceeds the limit {_d(limit.value)}",
        {
            "limit": _d(limit.value),
            "value": _d(worst),
            "openBuy": _d(buys),
            "openSell": _d(sells),
            **_scope(limit),
        },
    )
