"""ccxt's unified structures -> the typed records of `oms.venues.adapter`. Pure: no I/O, no ccxt import.

ccxt hands back plain dicts (https://docs.ccxt.com: order, trade, position, balance, order book and
market structures) whose numbers are floats or strings. Every number becomes a `Decimal` through
its shortest decimal string (`0.1` stays `0.1`, never `0.1000000000000000055...`), every millisecond
timestamp a UTC `datetime`. A structure that lacks what a record needs (an order without an id, a
market without a price precision) raises `MappingError`: the adapter never invents a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from oms.venues.adapter import (
    VenueBalance,
    VenueBook,
    VenueFill,
    VenueInstrument,
    VenueOrderReport,
    VenueOrderStatus,
    VenueOrdType,
    VenuePosition,
    VenueSide,
)

Unified = Mapping[str, Any]


class MappingError(ValueError):
    """A ccxt structure the adapter cannot turn into a record (a field it needs is missing)."""


# --- scalars -------------------------------------------------------------------------------------


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or string) as the Decimal of its shortest decimal string (a float's
    `repr`: 0.1 is 0.1, never 0.1000000000000000055...); None stays None. Trailing zeros of a
    venue's string ("241.00000000") and exponents ("1e-06") are normalized away."""
    if value is None or value == "":
        return None
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise MappingError(f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise MappingError(f"not a finite number: {value!r}")
    if "e" in text or "E" in text or (text.endswith("0") and "." in text):
        # the slower path only where needed: normalize() drops trailing zeros, 'f' keeps it plain
        return Decimal(format(number.normalize(), "f"))
    return number


def plain(value: Decimal) -> str:
    """A decimal string in plain notation, as the API's decimal fields take it: `str()` of a
    Decimal below 1e-6 is scientific (`1E-8`), which the command parser refuses."""
    return format(value, "f")


def required_dec(structure: Unified, key: str) -> Decimal:
    value = dec(structure.get(key))
    if value is None:
        raise MappingError(f"{key} is missing")
    return value


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(ms: Any) -> dt.datetime | None:
    """ccxt's millisecond epoch timestamp as a UTC datetime (exact to the millisecond)."""
    if ms is None:
        return None
    return _EPOCH + dt.timedelta(milliseconds=int(ms))


def to_millis(when: dt.datetime) -> int:
    """The inverse of `timestamp` (ccxt's `since`), exact: no float on the way."""
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


def _when(structure: Unified, *keys: str) -> dt.datetime:
    for key in keys:
        found = timestamp(structure.get(key))
        if found is not None:
            return found
    return dt.datetime.now(dt.UTC)  # the venue sent no time: when we saw it is the best we know


# --- vocabulary ----------------------------------------------------------------------------------

_SIDES = {"buy": VenueSide.BUY, "sell": VenueSide.SELL}


def side(value: Any) -> VenueSide:
    try:
        return _SIDES[str(value).lower()]
    except KeyError:
        raise MappingError(f"unknown side {value!r}") from None


def ccxt_side(value: VenueSide) -> str:
    """SellShort is a sell at a venue (FIX 54=5 is our bookkeeping, not the venue's)."""
    return "buy" if value == VenueSide.BUY else "sell"


def ccxt_order_type(value: VenueOrdType) -> str:
    """Stop orders are ccxt market/limit orders with a `triggerPrice` (the adapter adds it)."""
    return "limit" if value in (VenueOrdType.LIMIT, VenueOrdType.STOP_LIMIT) else "market"


# ccxt's `timeInForce` values; Day has no meaning on a 24/7 venue: it is sent as GTC (the OMS's own
# end-of-day job ends Day orders), GTD has no unified ccxt form and is refused before sending.
TIME_IN_FORCE = {"Day": "GTC", "GTC": "GTC", "IOC": "IOC", "FOK": "FOK"}


def status(order: Unified) -> VenueOrderStatus:
    """ccxt's order status (`open`, `closed`, `canceled`, `expired`, `rejected`) as FIX OrdStatus.

    `closed` means fully filled in ccxt's vocabulary. A canceled order keeps its fills (cumQty):
    its status stays Canceled (FIX: Canceled takes precedence over PartiallyFilled).
    """
    raw = order.get("status")
    filled = dec(order.get("filled")) or Decimal(0)
    if raw in (None, "open"):
        return VenueOrderStatus.PARTIALLY_FILLED if filled > 0 else VenueOrderStatus.NEW
    if raw == "closed":
        return VenueOrderStatus.FILLED
    if raw in ("canceled", "cancelled"):
        return VenueOrderStatus.CANCELED
    if raw == "expired":
        return VenueOrderStatus.EXPIRED
    if raw == "rejected":
        return VenueOrderStatus.REJECTED
    raise MappingError(f"unknown order status {raw!r}")


# --- structures ----------------------------------------------------------------------------------


def order_report(venue: str, order: Unified, *, cl_ord_id: str | None = None) -> VenueOrderReport:
    """A ccxt order structure as a report. `cl_ord_id` is what we placed it with, for venues that
    do not echo the client id (the echo wins when there is one: it is what the venue holds). An
    order with no client id at all was not placed by the OMS (entered at the venue by hand): its
    `cl_ord_id` is "" and reconciliation reports it as an unknown venue order."""
    venue_order_id = order.get("id")
    client_id = order.get("clientOrderId") or cl_ord_id or ""
    if not venue_order_id:
        raise MappingError("the order has no id")
    amount = dec(order.get("amount"))
    filled = dec(order.get("filled")) or Decimal(0)
    return VenueOrderReport(
        venue=venue,
        venue_order_id=str(venue_order_id),
        cl_ord_id=str(client_id),
        symbol=str(order.get("symbol")),
        side=side(order.get("side")),
        status=status(order),
        order_qty=amount if amount is not None else filled,
        cum_qty=filled,
        avg_px=dec(order.get("average")) if filled > 0 else None,
        ts_event=_when(order, "lastUpdateTimestamp", "timestamp"),
        price=dec(order.get("price")),
    )


# where venues keep the client order id of a trade, when ccxt's trade structure has none
_TRADE_CLIENT_ID_KEYS = ("clientOrderId", "orderLinkId", "clientOid", "clOrdId", "text")


def trade_client_id(trade: Unified) -> str | None:
    found = trade.get("clientOrderId")
    info = trade.get("info")
    if not found and isinstance(info, Mapping):
        found = next((info[k] for k in _TRADE_CLIENT_ID_KEYS if info.get(k)), None)
    return str(found) if found else None


def fill(venue: str, trade: Unified, *, cl_ord_id: str, account: str | None = None) -> VenueFill:
    """A ccxt trade structure (one of our fills) as a VenueFill; `cl_ord_id` as the adapter found it."""
    exec_id = trade.get("id")
    if not exec_id:
        raise MappingError("the trade has no id")
    fee = trade.get("fee") or {}
    return VenueFill(
        venue=venue,
        exec_id=str(exec_id),
        venue_order_id=str(trade.get("order") or ""),
        cl_ord_id=cl_ord_id,
        symbol=str(trade.get("symbol")),
        side=side(trade.get("side")),
        last_qty=required_dec(trade, "amount"),
        last_px=required_dec(trade, "price"),
        ts_event=_when(trade, "timestamp"),
        account=account,
        fee=dec(fee.get("cost")),
        fee_currency=fee.get("currency"),
    )


def position(venue: str, account: str, structure: Unified) -> VenuePosition:
    """ccxt's position: `contracts` is unsigned and `side` says long or short; ours is signed."""
    contracts = dec(structure.get("contracts")) or Decimal(0)
    direction = structure.get("side")
    if contracts and direction not in ("long", "short"):
        raise MappingError(f"position {structure.get('symbol')} has no side")
    return VenuePosition(
        venue=venue,
        account=account,
        symbol=str(structure.get("symbol")),
        qty=-contracts if direction == "short" else contracts,
        avg_px=dec(structure.get("entryPrice")),
        ts_event=_when(structure, "timestamp"),
    )


def balances(venue: str, balance: Unified) -> list[VenueBalance]:
    """ccxt's balance structure (`total`/`free` by currency) as one record per currency."""
    totals = balance.get("total") or {}
    frees = balance.get("free") or {}
    when = _when(balance, "timestamp")
    out = []
    for currency in sorted(totals):
        total = dec(totals[currency])
        if total is None:
            continue
        out.append(
            VenueBalance(
                venue=venue,
                currency=currency,
                total=total,
                free=dec(frees.get(currency)) or Decimal(0),
                ts_event=when,
            )
        )
    return out


def _levels(rows: Any) -> tuple[tuple[Decimal, Decimal], ...]:
    # a level is [price, amount] (some venues add a count): ccxt already sorts best first
    levels = []
    for row in rows or ():
        px, qty = dec(row[0]), dec(row[1])
        if px is None or qty is None:
            raise MappingError(f"book level without price or amount: {row!r}")
        levels.append((px, qty))
    return tuple(levels)


def book(venue: str, symbol: str, order_book: Unified) -> VenueBook:
    nonce = order_book.get("nonce")
    return VenueBook(
        venue=venue,
        symbol=str(order_book.get("symbol") or symbol),
        bids=_levels(order_book.get("bids")),
        asks=_levels(order_book.get("asks")),
        ts_event=_when(order_book, "timestamp"),
        seq=int(nonce) if nonce is not None else None,
    )


# --- markets -> instruments ----------------------------------------------------------------------

# ccxt's precision modes (ccxt.base.decimal_to_precision): the number in `precision` is a tick
# size (TICK_SIZE, most exchanges today), a count of decimal places, or of significant digits
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4


def _step(value: Any, precision_mode: int) -> Decimal | None:
    number = dec(value)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number
    if precision_mode == DECIMAL_PLACES:
        return Decimal(format(Decimal(1).scaleb(-int(number)), "f"))
    return None  # significant digits have no fixed step: the market is not described by a tick


def instrument_kind(market: Unified) -> str | None:
    """Spot, Future (dated) or Perpetual (ccxt's `swap`); options and others are not instruments here."""
    if market.get("swap"):
        return "Perpetual"
    if market.get("future"):
        return "Future"
    if market.get("spot"):
        return "Spot"
    return None


def instrument(venue: str, market: Unified, *, precision_mode: int = TICK_SIZE) -> VenueInstrument:
    """A ccxt market as an instrument: tickSize and lotSize from `precision`, minQty from
    `limits.amount.min` (one lot when absent), multiplier = `contractSize` (1 for spot)."""
    symbol = market.get("symbol")
    kind = instrument_kind(market)
    if not symbol or kind is None:
        raise MappingError(f"market {symbol!r} is not spot, future or perpetual")
    precision = market.get("precision") or {}
    tick = _step(precision.get("price"), precision_mode)
    lot = _step(precision.get("amount"), precision_mode)
    if tick is None or lot is None or tick <= 0 or lot <= 0:
        raise MappingError(f"market {symbol} has no price or amount step")
    min_amount = dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
    multiplier = dec(market.get("contractSize")) if market.get("contract") else None
    return VenueInstrument(
        venue=venue,
        symbol=str(symbol),
        kind=kind,
        base_currency=str(market.get("base")),
        quote_currency=str(market.get("quote")),
        tick_size=tick,
        lot_size=lot,
        min_qty=min_amount if min_amount and min_amount > 0 else lot,
        multiplier=multiplier if multiplier and multiplier > 0 else Decimal(1),
        enabled=market.get("active") is not False,
    )
