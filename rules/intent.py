"""The order as the pre-trade checks see it, and what they read for it (each read once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from rules import counters, reference
from rules.books import BookView
from rules.controls import ControlState, in_force
from rules.instruments import InstrumentState, has_adapter
from rules.limits import Effective, resolve
from rules.venues import VenueState

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
# (account, symbol or None for all, order to leave out) -> (SQL, params) selecting the open client
# orders as rows (side, symbol, venue, leavesQty, price): the statement a prefetch sends
OpenOrdersQuery = Callable[[str | None, str | None, str | None], tuple[str, list[Any]]]
_open_orders: list[OpenOrders] = []
_open_orders_query: list[OpenOrdersQuery] = []


def register_open_orders(source: OpenOrders, query: OpenOrdersQuery | None = None) -> OpenOrders:
    """The orders app registers its open orders (account, symbol or None for all, order to leave
    out), and the statement that selects them when it can be sent ahead (rules.pretrade.prefetch)."""
    _open_orders[:] = [source]
    _open_orders_query[:] = [query] if query is not None else []
    return source


def open_orders(account: str | None, symbol: str | None, exclude: str | None) -> list[OpenOrder]:
    return _open_orders[0](account, symbol, exclude) if _open_orders else []


def open_orders_query(
    account: str | None, symbol: str | None, exclude: str | None
) -> tuple[str, list[Any]] | None:
    return _open_orders_query[0](account, symbol, exclude) if _open_orders_query else None


def _dec_or_none(value: Any) -> Decimal | None:
    return None if value is None else value if isinstance(value, Decimal) else Decimal(str(value))


def open_orders_of(rows: list[tuple[Any, ...]]) -> list[OpenOrder]:
    """Rows (side, symbol, venue, leavesQty, price) as open orders (SQLite answers floats)."""
    return [
        OpenOrder(side, symbol, venue, _dec_or_none(leaves) or Decimal(0), _dec_or_none(price))
        for side, symbol, venue, leaves, price in rows
    ]


OpenOrdersKey = tuple[str | None, str | None, str | None]


@dataclass
class Prefetched:
    """Statements sent ahead for one order (in the pipeline of the clOrdID reservation), their
    answers read when a check first needs them. Each is used only for exactly the read it was
    sent for: the order's venue and symbol, an open-orders scope, a throttle bucket and window."""

    venue: str | None
    symbol: str
    now: dt.datetime
    reference: Any = None  # cursor of rules.reference.send_read
    open_orders: dict[OpenOrdersKey, Any] = field(default_factory=dict)  # -> cursor
    counts: dict[tuple[str, int], Any] = field(default_factory=dict)  # (bucket, window) -> cursor

    def close(self) -> None:
        """Drain what no check asked for (a cursor must not stay open in the transaction)."""
        for cur in [self.reference, *self.open_orders.values(), *self.counts.values()]:
            if cur is not None:
                cur.close()
        self.reference = None
        self.open_orders.clear()
        self.counts.clear()


def position_notional(account: str | None, symbol: str | None) -> Decimal:
    """The position's share of the worst case: none until positions land (the positions issue
    completes `max_open_notional` here)."""
    return Decimal(0)


class Lookups:
    """What the checks read for one order, each at most once: the reference data (instruments,
    limits) from the in-process cache and the order's book, in one round trip (rules.reference),
    or from the statements sent ahead for it (`Prefetched`).

    `counting`: the order is being written (the throttles count it); False for the preview, which
    only looks at the counters."""

    def __init__(self, intent: OrderIntent, *, counting: bool = True, prefetched: Prefetched | None = None):
        self.intent = intent
        self.counting = counting
        self.prefetched = prefetched

    @cached_property
    def now(self) -> dt.datetime:
        return self.prefetched.now if self.prefetched is not None else counters.now()

    @cached_property
    def _reference(self) -> tuple[reference.Snapshot, BookView | None]:
        i, sent = self.intent, self.prefetched
        if (
            sent is not None
            and sent.reference is not None
            and (sent.venue, sent.symbol) == (i.venue, i.symbol)
        ):
            cur, sent.reference = sent.reference, None
            return reference.take_read(cur, i.venue, i.symbol)
        return reference.read(i.venue, i.symbol)

    def open_orders(self, account: str | None, symbol: str | None, exclude: str | None) -> list[OpenOrder]:
        cur = self.prefetched.open_orders.pop((account, symbol, exclude), None) if self.prefetched else None
        if cur is None:
            return open_orders(account, symbol, exclude)
        try:
            return open_orders_of(cur.fetchall())
        finally:
            cur.close()

    def count(self, bucket: str, start: int) -> int:
        """The throttle's count of `bucket` in the window from `start`, this order included
        (counted when the order is being written; only looked at otherwise)."""
        if not self.counting:
            return counters.peek([bucket], start)[bucket]
        cur = self.prefetched.counts.pop((bucket, start), None) if self.prefetched else None
        if cur is None:
            return counters.count([bucket], start)[bucket]
        return counters.take_count(cur)[bucket]

    @cached_property
    def instruments(self) -> list[InstrumentState]:
        """A venue with an adapter: its own instrument, always (missing -> unknown_instrument).
        MANUAL, a desk venue or none: the venue's instrument if it has one, else every instrument
        of the symbol; none at all -> not checked (the first part of the contract knows none)."""
        i = self.intent
        snapshot = self._reference[0]
        if i.venue:
            own = snapshot.instruments.get((i.venue, i.symbol))
            if own is not None or self.has_adapter:
                return [own] if own is not None else []
        return list(snapshot.by_symbol.get(i.symbol, []))

    @cached_property
    def _in_force(self) -> tuple[VenueState | None, list[ControlState]]:
        return in_force(self.intent.venue, self.intent.account, self.intent.symbol)

    @property
    def venue(self) -> VenueState | None:
        """The order's venue in the registry (None: not registered, or no venue)."""
        return self._in_force[0]

    @property
    def safe_modes(self) -> list[ControlState]:
        """The SAFE modes in force that hold this order, oldest first."""
        return self._in_force[1]

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
        return resolve(self._reference[0].limits, self.intent.account, self.intent.symbol)

    @cached_property
    def book(self) -> BookView | None:
        return self._reference[1]

    @cached_property
    def reference_px(self) -> Decimal | None:
        return self.book.reference(self.intent.side) if self.book is not None else None

    @cached_property
    def px(self) -> Decimal | None:
        """The price the order's notional is counted at: its limit, else the reference."""
        return self.intent.price if self.intent.has_limit else self.reference_px

    def notional(self, qty: Decimal, px: Decimal | None) -> Decimal | None:
        return None if px is None else qty * px * self.multiplier
