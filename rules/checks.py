"""The pre-trade checks, one function each: `check(intent, lookups) -> CheckRefused | None`.

Each refusal names the contract's rule and carries the numbers that tripped it (`details`:
limit, value, referencePx ...; decimals as strings) and the limit's scope where one applies.
With no instrument, book or limit set nothing here refuses an order the first part accepts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.core.parsing import dec_str, iso
from rules.books import book_for, mids
from rules.enums import Feed, Rule, VenueMode
from rules.errors import CheckRefused
from rules.instruments import InstrumentState
from rules.intent import Lookups, OrderIntent, PositionView
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


def _no_reference(intent: OrderIntent, check: str, limit: Effective, look: Lookups) -> CheckRefused:
    details = {"check": check, "venue": intent.venue, "symbol": intent.symbol, **_scope(limit)}
    message = (
        f"no reference price for {intent.symbol} at {intent.venue or 'any venue'}: {check} cannot be checked"
    )
    if look.book_stream_stopped and look.book is not None:
        # the book is there, streamed, and its stream went quiet: say so, with its age
        details.update(book="stale", asOf=iso(look.book.as_of))
        message += f" (the streamed book of {look.book.venue} is stale since {iso(look.book.as_of)})"
    return CheckRefused(Rule.NO_REFERENCE_PRICE.value, message, details)


def check_price_collar(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    collar = look.limits.get("priceCollarPct")
    if collar is None:
        return None  # the collar is off: no reference needed
    ref = look.reference_px
    if ref is None:
        return _no_reference(intent, Rule.PRICE_COLLAR.value, collar, look)
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
        return _no_reference(intent, Rule.MAX_ORDER_NOTIONAL.value, limit, look)
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


def _marks(rows: list[PositionView], symbol: str) -> dict[tuple[str, str], Decimal]:
    """Prices of the positions of other symbols than the order's: their book's mid (or the
    freshest book of the symbol for orders not yet routed), in one query."""
    keys = {(p.venue, p.symbol) for p in rows if p.symbol != symbol and p.venue}
    marks = mids(keys)
    for p in rows:
        if p.symbol != symbol and (p.venue, p.symbol) not in marks:
            book = book_for(None, p.symbol)
            if book is not None and book.mid is not None:
                marks[(p.venue, p.symbol)] = book.mid
    return marks


def check_max_open_notional(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    """Every position in the limit's scope, with this order, at its worst: all its buys fill
    (worstLong = qty + openBuyQty) or all its sells (worstShort = qty - openSellQty), whichever
    is larger in size; summed over the positions (each venue and symbol) at the order's price for
    its own symbol, at the book's mid (else the average cost) for others. The open quantities come
    from the positions' projection (maintained with the orders, never scanned)."""
    limit = look.limits.get("maxOpenNotional")
    if limit is None:
        return None
    added = intent.added_qty
    if not added:
        return None  # a child order or a replace that adds no quantity: the worst case stays
    if look.px is None:
        return _no_reference(intent, Rule.MAX_OPEN_NOTIONAL.value, limit, look)
    account, symbol = scope_filter(limit.account), scope_filter(limit.symbol)
    rows = (
        look.positions
        if (account, symbol) == (intent.account, intent.symbol)
        else look.positions_in(account, symbol)
    )
    venue = intent.venue or ""
    mine = [p for p in rows if (p.account, p.venue, p.symbol) == (intent.account, venue, intent.symbol)]
    if not mine:
        rows = [
            *rows,
            PositionView(
                intent.account or "", venue, intent.symbol, *(Decimal(0),) * 3, Decimal(0), Decimal(0)
            ),
        ]
    marks = _marks(rows, intent.symbol)
    buys = sells = held = worst = Decimal(0)
    unpriced = 0
    for p in rows:
        ob, os_ = p.open_buy_qty, p.open_sell_qty
        if (p.account, p.venue, p.symbol) == (intent.account or "", venue, intent.symbol):
            ob, os_ = (ob + added, os_) if intent.is_buy else (ob, os_ + added)
        if not (p.qty or ob or os_):
            continue
        if p.symbol == intent.symbol:
            px, mult = look.px, look.multiplier
        else:
            mark = marks.get((p.venue, p.symbol)) or (p.avg_cost if p.qty else None)
            if mark is None:
                unpriced += 1
                continue
            px, mult = mark, p.multiplier
        buys += ob * px * mult
        sells += os_ * px * mult
        held += abs(p.qty) * px * mult
        worst += max(abs(p.qty + ob), abs(p.qty - os_)) * px * mult
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
            "position": _d(held),
            "unpriced": unpriced,
            **_scope(limit),
        },
    )


# --- positions ------------------------------------------------------------------------------------


def check_position_dirty(intent: OrderIntent, look: Lookups) -> CheckRefused | None:
    """An order that would add to a dirty position is refused; one that only reduces it passes
    (cancels are never checked). The positions are the order's venue's and the orders not yet
    routed ("" venue); a venue-less order, every venue of its account and symbol."""
    venue = intent.venue or ""
    rows = [p for p in look.positions if not intent.venue or p.venue in (venue, "")]
    dirty = [p for p in rows if p.dirty]
    if not dirty:
        return None
    qty = sum((p.qty for p in rows), Decimal(0))
    open_same_side = sum(((p.open_buy_qty if intent.is_buy else p.open_sell_qty) for p in rows), Decimal(0))
    if intent.kind == "Client":
        adds = intent.added_qty
    else:
        # a child moves its parent's quantity (already counted open) to its venue
        adds = intent.order_qty
        open_same_side = max(open_same_side - intent.order_qty, Decimal(0))
    if not adds:
        return None  # a replace that adds no quantity (a new price only)
    opposite = qty < 0 if intent.is_buy else qty > 0
    if opposite and open_same_side + adds <= abs(qty):
        return None  # it only reduces the position, with every open order on its side filled
    reasons = sorted({r for p in dirty for r in p.dirty_reasons})
    return CheckRefused(
        Rule.POSITION_DIRTY.value,
        f"the position of {intent.account or ANY} in {intent.symbol} at {intent.venue or 'any venue'} is dirty "
        f"({', '.join(reasons)}): only orders that reduce it are accepted",
        {
            "account": intent.account,
            "venue": intent.venue,
            "symbol": intent.symbol,
            "qty": _d(qty),
            "openSameSide": _d(open_same_side),
            "orderQty": _d(adds),
            "reasons": reasons,
        },
    )
