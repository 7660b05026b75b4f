"""The SIM venue behind the `VenueAdapter` interface (registered as adapter `SIM`)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable

from django.conf import settings

from oms.venues.adapter import (
    CancelRequest,
    PlaceRequest,
    ReplaceRequest,
    StreamMessage,
    VenueAdapter,
    VenueBalance,
    VenueBook,
    VenueFill,
    VenueInstrument,
    VenueOrderReport,
    VenuePosition,
    register_adapter,
)
from oms.venues.sim import cash
from oms.venues.sim.cash import CashTerms
from oms.venues.sim.engine import STREAM, SimEngine, _d
from oms.venues.sim.store import MemoryStore, RedisStore, SimStore, SqliteStore

_MEMORY: dict[str, MemoryStore] = {}
_MEMORY_LOCK = threading.Lock()


_SQLITE: dict[str, SqliteStore] = {}
_REDIS: dict[str, RedisStore] = {}


def store_for(venue: str) -> SimStore:
    """Redis when REDIS_URL is set (shared by every process), else a SQLite file of its own (or
    this process's memory with OMS_SIM_STORE=memory)."""
    key = f"{settings.OMS_SIM_PREFIX}-{venue}"
    with _MEMORY_LOCK:
        if settings.REDIS_URL:
            redis_key = f"{settings.REDIS_URL} {key}"
            if redis_key not in _REDIS:
                _REDIS[redis_key] = RedisStore(settings.REDIS_URL, f"{settings.OMS_SIM_PREFIX}:{venue}")
            return _REDIS[redis_key]
        if settings.OMS_SIM_STORE == "memory":
            return _MEMORY.setdefault(key, MemoryStore())
        if key not in _SQLITE:
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            _SQLITE[key] = SqliteStore(str(settings.VAR_DIR / f"{key}.sqlite3"))
        return _SQLITE[key]


def engine_for(venue: str = "SIM") -> SimEngine:
    return SimEngine(venue, store_for(venue))


class SimAdapter(VenueAdapter):
    name = "SIM"
    has = {
        "replace": True,
        "positions": True,
        "balances": False,
        "instruments": True,
        "watchExecutions": True,
        "watchBook": True,
    }

    def __init__(self, venue: str, adapter_name: str | None = None) -> None:
        super().__init__(venue, adapter_name)
        self.engine = engine_for(venue)
        # per instance, like ccxt's: a SIM without amend stands in for a venue without editOrder
        # and balances only where SIM is given opening cash (OMS_SIM_CASH): a wallet of nothing
        # would be compared against the OMS's ledger of nothing
        self.has = {  # type: ignore[misc]  # has is a class attribute; SIM's switches make it per instance
            **type(self).has,
            "replace": bool(settings.OMS_SIM_AMEND),
            "balances": bool(settings.OMS_SIM_CASH),
        }
        # this connection's position in the stream: like a websocket, it hears only what is
        # published after it connects (its consumer resyncs from REST at start)
        self._cursor: int | None = None

    def place_order(self, request: PlaceRequest) -> VenueOrderReport:
        try:
            return self.engine.place(
                {
                    "clOrdID": request.cl_ord_id,
                    "symbol": request.symbol,
                    "side": request.side.value,
                    "orderQty": str(request.order_qty),
                    "ordType": request.ord_type.value,
                    "price": None if request.price is None else str(request.price),
                    "timeInForce": request.time_in_force,
                    "account": request.account,
                }
            )
        finally:
            self.engine.latency()

    def cancel_order(self, request: CancelRequest) -> VenueOrderReport:
        try:
            return self.engine.cancel(request.orig_cl_ord_id)
        finally:
            self.engine.latency()

    def replace_order(self, request: ReplaceRequest) -> VenueOrderReport:
        try:
            return self.engine.replace(
                request.orig_cl_ord_id, request.cl_ord_id, request.order_qty, request.price
            )
        finally:
            self.engine.latency()

    def fetch_order(self, *, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        return self.engine.fetch_order(cl_ord_id)

    def fetch_open_orders(self, *, symbol: str | None = None) -> list[VenueOrderReport]:
        return self.engine.fetch_open_orders(symbol)

    def fetch_fills(self, *, since: dt.datetime | None = None, symbol: str | None = None) -> list[VenueFill]:
        return self.engine.fetch_fills(since, symbol)

    def fetch_positions(self, *, account: str | None = None) -> list[VenuePosition]:
        return self.engine.fetch_positions(account)

    def fetch_balances(self) -> list[VenueBalance]:
        from rules.adapters import sim_instruments

        terms = {
            i["symbol"]: CashTerms(i["kind"], i["baseCurrency"], i["quoteCurrency"], _d(i["multiplier"]))
            for i in sim_instruments()
        }
        return cash.balances(self.engine, settings.OMS_SIM_CASH, terms)

    def fetch_instruments(self) -> list[VenueInstrument]:
        from rules.adapters import sim_instruments

        return [
            VenueInstrument(
                venue=self.venue,
                symbol=i["symbol"],
                kind=i["kind"],
                base_currency=i["baseCurrency"],
                quote_currency=i["quoteCurrency"],
                tick_size=_d(i["tickSize"]),
                lot_size=_d(i["lotSize"]),
                min_qty=_d(i["minQty"]),
                multiplier=_d(i["multiplier"]),
            )
            for i in sim_instruments()
        ]

    def watch_executions(self, *, timeout: float = 1.0) -> list[StreamMessage]:
        if self._cursor is None:
            self._cursor = self.engine.store.length(STREAM)
        messages = self.engine.read_stream(self._cursor, timeout)
        self._cursor += len(messages)
        return [self.engine.message_record(m) for m in messages]

    def watch_book(self, symbols: Iterable[str], *, timeout: float = 1.0) -> list[VenueBook]:
        books = []
        for symbol in symbols:
            market = self.engine.market(symbol)
            if market is not None:
                books.append(self.engine._book(market))
        return books


register_adapter("SIM", SimAdapter)
