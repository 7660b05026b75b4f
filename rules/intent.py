"""The order as the pre-trade checks see it, and what they read for it (each read once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from rules.books import BookView, book_for
from rules.instruments import InstrumentState, has_adapter, instrument_at, instruments_of
from rules.limits import Effective, effective_limits
from rules.venues import VenueState, venue_state

LIMIT_TYPES = ("Limit", "StopLimit")  # ordTypes carrying a limit price


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class OrderIntent:
    """The order (typed), built from the orders app's mapping of API fields."""

    symbol: str
    side: str
    order_qty: Decimal
    ord_type: str
    account: str | None = None
    venue: str | None = None
    price: Decimal | None = None
    stop_px: Decimal | None = None
    kind: str = "Client"
    order_id: str | None = None  # a replace: the order being replaced

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> OrderIntent:
        return cls(
            symbol=str(data.get("symbol") or ""),
            side=str(data.get("side") or ""),
            order_qty=_dec(data.get("orderQty")) or Decimal(0),
            ord_type=str(data.get("ordType") or "Market"),
            account=data.get("account"),
            venue=data.get("venue"),
            price=_dec(data.get("price")),
            stop_px=_dec(data.get("stopPx")),
            kind=str(data.get("kind") or "Client"),
            order_id=data.get("orderId"),
        )

    @property
    def is_buy(self) -> bool:
        return self.side == "Buy"

    @property
    def has_limit(self) -> bool:
        return self.ord_type in LIMIT_TYPES and self.price is not None


@dataclass(frozen=True)
class OpenOrder:
    """An open client order as the open-notional check counts it."""

    side: str
    symbol: str
    venue: str | None
    leaves_qty: Decimal
    price: Decimal | None


OpenOrders = Callable[[str | None, str | None, str | None], list[OpenOrder]]
_open_orders: list[OpenOrders] = []


def register_open_orders(source: OpenOrders) -> OpenOrders:
    """The orders app registers its open orders (account, symbol or None for all, order to leave out)."""
    _open_orders[:] = [source]
    return source


def open_orders(account: str | None, symbol: str | None, exclude: str | None) -> list[OpenOrder]:
    return _open_orders[0](account, symbol, exclude) if _open_orders else []


def position_notional(account: str | None, symbol: str | None) -> Decimal:
    """The position's share of the worst case: none until positions land (the positions issue
    completes `max_open_notional` here)."""
    return Decimal(0)


class Lookups:
    """What the checks read for one order, each at most once."""

    def __init__(self, intent: OrderIntent):
        self.intent = intent

    @cached_property
    def instruments(self) -> list[InstrumentState]:
        """A venue with an adapter: its own instrument, always (missing -> unknown_instrument).
        MANUAL, a desk venue or none: the venue's instrument if it has one, else every instrument
        of the symbol; none at all -> not checked (the first part of the contract knows none)."""
        i = self.intent
        if i.venue:
            own = instrument_at(i.venue, i.symbol)
            if own is not None or self.has_adapter:
                return [own] if own is not None else []
        return instruments_of(i.symbol)

    @cached_property
    def venue(self) -> VenueState | None:
        """The order's venue in the registry (None: not registered, or no venue)."""
        return venue_state(self.intent.venue)

    @property
    def has_adapter(self) -> bool:
        """The registry's adapter when the venue is registered (a `BINANCE` on `ccxt:binance`),
        else the contract's names (`SIM`, `ccxt:*`)."""
        return self.venue.has_adapter if self.venue is not None else has_adapter(self.intent.venue)

    @cached_property
    def multiplier(self) -> Decimal:
        enabled = [i for i in self.instruments if i.enabled]
        return enabled[0].multiplier if enabled else Decimal(1)

    @cached_property
    def limits(self) -> dict[str, Effective]:
        return effective_limits(self.intent.account, self.intent.symbol)

    @cached_property
    def book(self) -> BookView | None:
        return book_for(self.intent.venue, self.intent.symbol)

    @cached_property
    def reference_px(self) -> Decimal | None:
        return self.book.reference(self.intent.side) if self.book is not None else None

    @cached_property
    def px(self) -> Decimal | None:
        """The price the order's notional is counted at: its limit, else the reference."""
        return self.intent.price if self.intent.has_limit else self.reference_px

    def notional(self, qty: Decimal, px: Decimal | None) -> Decimal | None:
        return None if px is None else qty * px * self.multiplier
