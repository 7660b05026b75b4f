"""The one base class every venue adapter implements, its typed records and its typed errors.

Modelled on NautilusTrader's `LiveExecutionClient` (one base class, required and optional methods
listed in one place) and ccxt's unified API with its `has` map (an adapter says which optional
capabilities it has; the OMS asks `adapter.has[...]` instead of catching NotImplementedError).

Required (every adapter):

    place_order(request)                      -> VenueOrderReport   (idempotent by clOrdID)
    cancel_order(request)                     -> VenueOrderReport
    fetch_order(cl_ord_id=, symbol=)          -> VenueOrderReport | None   (query by client id)
    fetch_open_orders(symbol=)                -> list[VenueOrderReport]
    fetch_fills(since=, symbol=)              -> list[VenueFill]     (fills since a point)

Optional (`has[<capability>]`; the default raises `NotSupported`):

    "replace"      replace_order(request)     -> VenueOrderReport   (else the OMS cancels + places)
    "positions"    fetch_positions(account=)  -> list[VenuePosition]
    "balances"     fetch_balances()           -> list[VenueBalance]
    "instruments"  fetch_instruments()        -> list[VenueInstrument]
    "watchExecutions"  watch_executions(timeout=) -> list[StreamMessage]
                   the user-data stream (order updates, fills, and any book updates the venue
                   sequences with them), in venue sequence (`seq`)
    "watchBook"    watch_book(symbols, timeout=)  -> list[VenueBook]
                   the latest book of each symbol that changed (a stream where the venue has
                   one, else a REST poll); `feeds_books`: the stream consumer writes them to the
                   OMS's books (`book_symbols()` names which); SIM sets its books itself

The `watch_*` methods follow ccxt.pro's `watch*`: a blocking call answering the next batch of
updates (an empty list once `timeout` seconds pass without one). A stream consumer calls them in a
loop; an adapter built on an async client runs its loop behind them.

Errors (what the caller does about each is the point of the split):

    TransientVenueError   nothing happened at the venue; retry with backoff
    RateLimited           a TransientVenueError with `retry_after` seconds
    VenueRejected         the venue refused, permanently (a reject: the order is Rejected)
    UnknownOutcome        the request was sent and no answer came (timeout after send): the order
                          may or may not exist. NEVER treated as a reject and NEVER blindly resent:
                          query the venue by clOrdID; if still unknown, leave it to reconciliation
    NotSupported          an optional method the adapter does not have

All quantities and prices are `Decimal`, all times timezone-aware UTC. This module imports nothing
of Django: an adapter is plain Python, testable without a database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

# --- enumerations --------------------------------------------------------------------------------


class VenueSide(StrEnum):  # FIX tag 54, as the orders app names it
    BUY = "Buy"
    SELL = "Sell"
    SELL_SHORT = "SellShort"


class VenueOrdType(StrEnum):  # FIX tag 40
    MARKET = "Market"
    LIMIT = "Limit"
    STOP = "Stop"
    STOP_LIMIT = "StopLimit"


class VenueOrderStatus(StrEnum):
    """What the venue says of an order (FIX OrdStatus 39, without the OMS's pending overlays)."""

    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELED = "Canceled"
    REJECTED = "Rejected"
    EXPIRED = "Expired"

    @property
    def terminal(self) -> bool:
        return self not in (VenueOrderStatus.NEW, VenueOrderStatus.PARTIALLY_FILLED)


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceRequest:
    cl_ord_id: str  # FIX 11: the idempotency key at the venue
    symbol: str
    side: VenueSide
    order_qty: Decimal
    ord_type: VenueOrdType = VenueOrdType.MARKET
    price: Decimal | None = None
    stop_px: Decimal | None = None
    time_in_force: str = "Day"
    account: str | None = None


@dataclass(frozen=True)
class CancelRequest:
    cl_ord_id: str  # the cancel request's own ClOrdID (FIX 11)
    orig_cl_ord_id: str  # the order's (FIX 41)
    symbol: str
    venue_order_id: str | None = None  # FIX 37, when known


@dataclass(frozen=True)
class ReplaceRequest:
    cl_ord_id: str  # the replacement's ClOrdID
    orig_cl_ord_id: str
    symbol: str
    venue_order_id: str | None = None
    order_qty: Decimal | None = None
    price: Decimal | None = None
    stop_px: Decimal | None = None


# --- what comes back -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueOrderReport:
    """The venue's view of one order (an ack, a status update, a snapshot row)."""

    venue: str
    venue_order_id: str  # FIX 37
    cl_ord_id: str  # FIX 11, the clOrdID the order was placed with
    symbol: str
    side: VenueSide
    status: VenueOrderStatus
    order_qty: Decimal
    cum_qty: Decimal
    avg_px: Decimal | None
    ts_event: dt.datetime  # when it happened at the venue (UTC)
    price: Decimal | None = None
    text: str | None = None
    seq: int | None = None  # stream sequence number, for gap detection; None from REST
    ts_init: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def leaves_qty(self) -> Decimal:
        return Decimal(0) if self.status.terminal else self.order_qty - self.cum_qty


@dataclass(frozen=True)
class VenueFill:
    """One trade of one order (FIX ExecType Trade)."""

    venue: str
    exec_id: str  # FIX 17: unique per venue; the dedupe key of ingestion
    venue_order_id: str
    cl_ord_id: str
    symbol: str
    side: VenueSide
    last_qty: Decimal  # FIX 32
    last_px: Decimal  # FIX 31
    ts_event: dt.datetime  # FIX 60 TransactTime
    account: str | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    seq: int | None = None
    ts_init: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class VenuePosition:
    venue: str
    account: str
    symbol: str
    qty: Decimal  # signed: long > 0, short < 0
    avg_px: Decimal | None
    ts_event: dt.datetime


@dataclass(frozen=True)
class VenueBalance:
    venue: str
    currency: str
    total: Decimal
    free: Decimal
    ts_event: dt.datetime
    account: str | None = (
        None  # the account where the venue keeps one per account (SIM); None: the venue's one
    )


@dataclass(frozen=True)
class VenueBook:
    venue: str
    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]  # (px, qty), best (highest) first
    asks: tuple[tuple[Decimal, Decimal], ...]  # best (lowest) first
    ts_event: dt.datetime
    seq: int | None = None


@dataclass(frozen=True)
class VenueInstrument:
    """An instrument as the venue lists it; `to_command()` is an `UpsertInstrumentCommand` body."""

    venue: str
    symbol: str
    kind: str  # Spot, Future, Perpetual, Equity
    base_currency: str
    quote_currency: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    multiplier: Decimal = Decimal(1)
    enabled: bool = True

    def to_command(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "kind": self.kind,
            "baseCurrency": self.base_currency,
            "quoteCurrency": self.quote_currency,
            "tickSize": str(self.tick_size),
            "lotSize": str(self.lot_size),
            "minQty": str(self.min_qty),
            "multiplier": str(self.multiplier),
            "enabled": self.enabled,
        }


StreamMessage = VenueOrderReport | VenueFill | VenueBook  # in venue sequence (`seq`)


# --- errors --------------------------------------------------------------------------------------


class VenueError(Exception):
    """Base of every adapter error; `venue` names the venue."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(f"{venue}: {message}")
        self.venue = venue
        self.message = message


class TransientVenueError(VenueError):
    """Nothing happened at the venue (connection refused, 5xx before accept): retry with backoff."""


class RateLimited(TransientVenueError):
    """The venue throttled us; retry after `retry_after` seconds."""

    def __init__(self, venue: str, message: str, retry_after: float = 1.0) -> None:
        super().__init__(venue, message)
        self.retry_after = retry_after


class VenueRejected(VenueError):
    """A permanent refusal (bad symbol, insufficient margin, unknown order to cancel)."""


class OrderNotFound(VenueRejected):
    """The venue knows no order by that id (a cancel of an order it never had, or already gone)."""


class UnknownOutcome(VenueError):
    """Sent, no answer: the order may exist. Never a reject, never blindly resent."""


class NotSupported(VenueError):
    """An optional capability this adapter does not have (see `has`)."""


# --- the base class ------------------------------------------------------------------------------


class VenueAdapter:
    """One venue's connection. Subclasses set `name` and `has` and implement the required methods.

    `venue` is the OMS's venue name (`SIM`, `BINANCE`, ...); `name` the adapter's (`SIM`,
    `ccxt:binance`). Adapters are created once per process through the registry and must be safe
    to call from several threads (a Celery worker's pool, the in-process runner).
    """

    name: ClassVar[str] = ""
    has: ClassVar[dict[str, bool]] = {
        "replace": False,
        "positions": False,
        "balances": False,
        "instruments": False,
        "watchExecutions": False,
        "watchBook": False,
    }

    feeds_books: ClassVar[bool] = False  # the consumer keeps its books (BookFeed) from watch_book

    def __init__(self, venue: str, adapter_name: str | None = None) -> None:
        self.venue = venue
        self.adapter_name = adapter_name or self.name

    # required ---------------------------------------------------------------------------------

    def place_order(self, request: PlaceRequest) -> VenueOrderReport:
        """Place an order. Placing a clOrdID the venue already has returns that order (no second
        order): the OMS relies on it to retry a send safely."""
        raise NotImplementedError

    def cancel_order(self, request: CancelRequest) -> VenueOrderReport:
        raise NotImplementedError

    def fetch_order(self, *, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        """The order placed with `cl_ord_id`, or None if the venue has none (the answer to an
        UnknownOutcome)."""
        raise NotImplementedError

    def fetch_open_orders(self, *, symbol: str | None = None) -> list[VenueOrderReport]:
        raise NotImplementedError

    def fetch_fills(self, *, since: dt.datetime | None = None, symbol: str | None = None) -> list[VenueFill]:
        """Fills with `ts_event >= since` (all the venue keeps when None), oldest first."""
        raise NotImplementedError

    # optional ---------------------------------------------------------------------------------

    def replace_order(self, request: ReplaceRequest) -> VenueOrderReport:
        raise NotSupported(self.venue, "replace (amend) is not supported: cancel and place")

    def fetch_positions(self, *, account: str | None = None) -> list[VenuePosition]:
        raise NotSupported(self.venue, "positions are not supported")

    def fetch_balances(self) -> list[VenueBalance]:
        raise NotSupported(self.venue, "balances are not supported")

    def fetch_instruments(self) -> list[VenueInstrument]:
        raise NotSupported(self.venue, "instruments are not supported")

    def watch_executions(self, *, timeout: float = 1.0) -> list[StreamMessage]:
        raise NotSupported(self.venue, "no execution stream")

    def watch_book(self, symbols: Iterable[str], *, timeout: float = 1.0) -> list[VenueBook]:
        raise NotSupported(self.venue, "no book stream")

    def book_symbols(self) -> list[str]:
        """The books the stream consumer keeps whatever the orders (configured); it adds the
        symbols of the orders working at the venue."""
        return []

    def close(self) -> None:
        """Release connections (a stream consumer's shutdown)."""


# --- the registry --------------------------------------------------------------------------------

AdapterFactory = Callable[[str, str], VenueAdapter]  # (venue, adapter name) -> adapter

_FACTORIES: dict[str, AdapterFactory] = {}
_INSTANCES: dict[tuple[str, str], VenueAdapter] = {}
_LOCK = threading.Lock()
# (venue, adapter name, the registered factory or None) -> the adapter to use instead: the session
# recorder wraps the real adapter, the replayer stands in for the venue (oms.venues.recording)
AdapterHook = Callable[[str, str, AdapterFactory | None], VenueAdapter]
_HOOK: list[AdapterHook] = []


def hook_adapters(hook: AdapterHook | None) -> None:
    """Build every adapter through `hook` from now on (None: the registry's factories again); the
    adapters created so far are closed and forgotten."""
    reset_adapters()
    with _LOCK:
        _HOOK[:] = [] if hook is None else [hook]


def register_adapter(name: str, factory: AdapterFactory) -> AdapterFactory:
    """Register a factory for an adapter name: exact (`SIM`) or a family (`ccxt`, which serves
    every `ccxt:<exchangeId>`)."""
    _FACTORIES[name] = factory
    return factory


def adapter_names() -> list[str]:
    return sorted(_FACTORIES)


def has_factory(adapter_name: str) -> bool:
    return adapter_name in _FACTORIES or adapter_name.split(":", 1)[0] in _FACTORIES


def get_adapter(venue: str, adapter_name: str) -> VenueAdapter:
    """The process's adapter for `venue` (created on first use). KeyError for an unknown name."""
    key = (venue, adapter_name)
    with _LOCK:
        adapter = _INSTANCES.get(key)
        if adapter is None:
            factory = _FACTORIES.get(adapter_name) or _FACTORIES.get(adapter_name.split(":", 1)[0])
            if _HOOK:
                adapter = _INSTANCES[key] = _HOOK[0](venue, adapter_name, factory)
                return adapter
            if factory is None:
                raise KeyError(f"no venue adapter named {adapter_name!r}")
            adapter = _INSTANCES[key] = factory(venue, adapter_name)
        return adapter


def reset_adapters() -> None:
    """Forget the created adapters (tests; a settings change)."""
    with _LOCK:
        for adapter in _INSTANCES.values():
            adapter.close()
        _INSTANCES.clear()
