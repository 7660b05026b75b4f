"""`CcxtAdapter`: one crypto venue through ccxt's unified API, behind the `VenueAdapter` base class.

Every call goes through `_call`, which holds the adapter's lock (ccxt's synchronous exchange and its
rate limiter are not thread-safe; a worker pool shares one adapter) and turns ccxt's exceptions
into our typed errors (`errors.translate`). The safety rules of the crypto primer:

- a create carries our clOrdID as ccxt's `clientOrderId`; a create that may have been carried out
  (timeout, dropped connection, 5xx after send) is resolved by asking the venue for that
  clientOrderId, once: found -> its report; not found or no answer -> `UnknownOutcome` (the order
  may still land: reconciliation decides, the create is never resent blindly);
- a create refused as a duplicate clientOrderId answers the existing order (an earlier send landed);
- a cancel of an order the venue no longer has (`OrderNotFound`) answers the order if it is
  already canceled (a repeated cancel), else raises `OrderNotFound` (too late: filled, or unknown);
- a cancel or replace that may have been carried out is an `UnknownOutcome` unless the order, asked
  for by clientOrderId, shows it was.

`has` is the exchange's: `replace` where ccxt has `editOrder` (elsewhere the OMS cancels and
places), `watchExecutions` where ccxt.pro has `watchOrders` and `watchMyTrades`, `watchBook` where
it has `watchOrderBook`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.pro

from oms.venues.adapter import (
    CancelRequest,
    NotSupported,
    OrderNotFound,
    PlaceRequest,
    ReplaceRequest,
    StreamMessage,
    UnknownOutcome,
    VenueAdapter,
    VenueBalance,
    VenueBook,
    VenueError,
    VenueFill,
    VenueInstrument,
    VenueOrderReport,
    VenueOrderStatus,
    VenueOrdType,
    VenuePosition,
    VenueRejected,
)
from oms.venues.ccxt import mapping
from oms.venues.ccxt.errors import Operation, is_duplicate_client_id, translate
from oms.venues.ccxt.exchange import ExchangeSettings, build_exchange, exchange_id_of
from oms.venues.ccxt.stream import CcxtStreams

T = TypeVar("T")

# the parameter that names an order by its client id in fetch and cancel, where it is not ccxt's
# unified `clientOrderId`; bybit's order query also takes `acknowledged`, which silences ccxt's "only
# the last 500 orders" warning (a just-sent order is among them) and is not sent to the venue
_CLIENT_ID_PARAM = {"binance": "origClientOrderId", "bybit": "orderLinkId"}
_FETCH_ORDER_EXTRA: dict[str, dict[str, Any]] = {"bybit": {"acknowledged": True}}


def _client_id_params(exchange_id: str, cl_ord_id: str, *, fetch: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {_CLIENT_ID_PARAM.get(exchange_id, "clientOrderId"): cl_ord_id}
    return {**params, **_FETCH_ORDER_EXTRA.get(exchange_id, {})} if fetch else params


class CcxtAdapter(VenueAdapter):
    name = "ccxt"
    feeds_books = True

    def __init__(
        self,
        venue: str,
        adapter_name: str,
        *,
        exchange: Any | None = None,
        settings: ExchangeSettings | None = None,
        pro_factory: Callable[[], Any] | None = None,
    ) -> None:
        """`exchange` and `pro_factory` are for tests (a real ccxt object with a stubbed transport);
        by default both are built from `settings`, read from the environment."""
        super().__init__(venue, adapter_name)
        self.exchange_id = exchange_id_of(adapter_name)
        self.settings = settings or ExchangeSettings.from_env(self.exchange_id, os.environ)
        self.exchange = exchange if exchange is not None else build_exchange(self.settings)
        self.account = self.settings.account
        self._pro_factory = pro_factory or (lambda: build_exchange(self.settings, pro=True))
        self._stream: CcxtStreams | None = None
        self._lock = threading.RLock()
        self._client_ids: dict[str, str] = {}  # venue order id -> clOrdID, for fills that omit it
        self._symbols: set[str] = set()  # of the orders seen: where to look for fills by symbol
        self._polled: dict[str, float] = {}  # symbol -> monotonic time of its last book poll
        # ccxt's `has` is per exchange, so ours is per instance (the base class's is the default)
        self.has = self._capabilities()  # type: ignore[misc]  # ccxt's Exchange declares has as a class attribute; the adapter's is per instance

    def _capabilities(self) -> dict[str, bool]:
        rest = self.exchange.has
        pro_has = _pro_has(self.exchange_id)
        # books by ccxt.pro's watchOrderBook where it has one (and the settings allow it), else by
        # polling fetch_order_book every OMS_CCXT_<ID>_BOOK_POLL_MS
        self._book_streamed = bool(pro_has.get("watchOrderBook")) and self.settings.book_stream
        return {
            "replace": bool(rest.get("editOrder")),
            "positions": bool(rest.get("fetchPositions")),
            "balances": bool(rest.get("fetchBalance")),
            "instruments": bool(rest.get("fetchMarkets")),
            "watchExecutions": bool(pro_has.get("watchOrders") and pro_has.get("watchMyTrades")),
            "watchBook": self._book_streamed or bool(rest.get("fetchOrderBook")),
        }

    # --- plumbing ----------------------------------------------------------------------------

    def _call(self, operation: Operation, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except VenueError:
                raise
            except Exception as exc:
                raise translate(exc, self.venue, operation, retry_after=self._retry_after()) from exc

    def _retry_after(self) -> float | None:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        raw = headers.get("Retry-After") if isinstance(headers, Mapping) else None
        try:
            return float(raw) if raw is not None else max(self.exchange.rateLimit / 1000, 0.1)
        except (TypeError, ValueError):
            return None

    def _report(self, order: Mapping[str, Any], cl_ord_id: str | None = None) -> VenueOrderReport:
        report = mapping.order_report(self.venue, order, cl_ord_id=cl_ord_id)
        self._client_ids[report.venue_order_id] = report.cl_ord_id
        self._symbols.add(report.symbol)
        return report

    def _resolve(self, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        """Ask the venue, once, for the order a state-changing request may have touched."""
        try:
            return self.fetch_order(cl_ord_id=cl_ord_id, symbol=symbol)
        except VenueError:
            return None

    # --- required ----------------------------------------------------------------------------

    def place_order(self, request: PlaceRequest) -> VenueOrderReport:
        args, params = self._create_arguments(request)
        try:
            order = self._call(Operation.PLACE, self.exchange.create_order, *args, params)
        except UnknownOutcome:
            found = self._resolve(request.cl_ord_id, request.symbol)
            if found is None:
                raise
            return found
        except VenueRejected as rejected:
            if not is_duplicate_client_id(rejected.__cause__ or rejected):
                raise
            found = self._resolve(request.cl_ord_id, request.symbol)
            if found is None:  # the venue says it has the id but will not show it: do not guess
                raise UnknownOutcome(
                    self.venue, f"duplicate clientOrderId {request.cl_ord_id} not found"
                ) from rejected
            return found
        # the ack of some venues is sparse (bybit: ids only): what we sent fills the gaps
        sent = {
            "symbol": request.symbol,
            "side": args[2],
            "amount": args[3],
            "price": args[4],
            "status": "open",
        }
        try:
            return self._report(
                {**sent, **{k: v for k, v in order.items() if v is not None}}, request.cl_ord_id
            )
        except mapping.MappingError as exc:  # accepted, but we cannot read the answer
            found = self._resolve(request.cl_ord_id, request.symbol)
            if found is None:
                raise UnknownOutcome(self.venue, f"unreadable create answer: {exc}") from exc
            return found

    def _create_arguments(self, request: PlaceRequest) -> tuple[list[Any], dict[str, Any]]:
        """ccxt's create_order(symbol, type, side, amount, price, params); refusals before sending."""
        time_in_force = mapping.TIME_IN_FORCE.get(request.time_in_force)
        if time_in_force is None:
            raise VenueRejected(
                self.venue, f"timeInForce {request.time_in_force} is not supported by ccxt venues"
            )
        limit = request.ord_type in (VenueOrdType.LIMIT, VenueOrdType.STOP_LIMIT)
        stop = request.ord_type in (VenueOrdType.STOP, VenueOrdType.STOP_LIMIT)
        if limit and request.price is None:
            raise VenueRejected(self.venue, f"a {request.ord_type} order needs a price")
        if stop and request.stop_px is None:
            raise VenueRejected(self.venue, f"a {request.ord_type} order needs a stopPx")
        self._check_steps(
            request.symbol, request.order_qty, request.price if limit else None, request.stop_px
        )
        params: dict[str, Any] = {"clientOrderId": request.cl_ord_id}
        if limit or time_in_force != "GTC":
            params["timeInForce"] = time_in_force
        if stop:
            params["triggerPrice"] = float(request.stop_px or 0)
        args = [
            request.symbol,
            mapping.ccxt_order_type(request.ord_type),
            mapping.ccxt_side(request.side),
            float(request.order_qty),
            float(request.price) if limit and request.price is not None else None,
        ]
        return args, params

    def _check_steps(self, symbol: str, qty: Decimal, *prices: Decimal | None) -> None:
        """ccxt silently truncates an amount (and rounds a price) to the market's precision: an order
        sent that way is not the order the OMS holds. Off-step values are refused before sending
        (the OMS's own tick/lot checks catch them first, unless its instruments are stale)."""
        self._call(Operation.READ, self.exchange.load_markets)  # once per process; nothing sent yet
        try:
            sent_qty = Decimal(self.exchange.amount_to_precision(symbol, str(qty)))
            sent_prices = [
                Decimal(self.exchange.price_to_precision(symbol, str(p))) for p in prices if p is not None
            ]
        except ccxt.BaseError as exc:  # an unknown symbol, an amount below one step
            raise VenueRejected(self.venue, f"{type(exc).__name__}: {exc}") from exc
        if sent_qty != qty:
            raise VenueRejected(
                self.venue,
                f"orderQty {qty} is not a multiple of {symbol}'s amount step (ccxt would send {sent_qty})",
            )
        for wanted, sent in zip((p for p in prices if p is not None), sent_prices, strict=True):
            if sent != wanted:
                raise VenueRejected(
                    self.venue, f"price {wanted} is not on {symbol}'s tick (ccxt would send {sent})"
                )

    def cancel_order(self, request: CancelRequest) -> VenueOrderReport:
        params = {} if request.venue_order_id else _client_id_params(self.exchange_id, request.orig_cl_ord_id)
        try:
            order = self._call(
                Operation.CANCEL, self.exchange.cancel_order, request.venue_order_id, request.symbol, params
            )
        except OrderNotFound:
            found = self._resolve(request.orig_cl_ord_id, request.symbol)
            if found is not None and found.status == VenueOrderStatus.CANCELED:
                return found  # canceled already (our earlier cancel landed): cancels are idempotent
            raise
        except UnknownOutcome:
            found = self._resolve(request.orig_cl_ord_id, request.symbol)
            if found is None or not found.status.terminal:
                raise
            return found
        merged = {
            "symbol": request.symbol,
            "status": "canceled",
            **{k: v for k, v in order.items() if v is not None},
        }
        if merged.get("side") is None or merged.get("amount") is None:
            # a bare cancel ack (ids only): the order itself says what was canceled
            found = self._resolve(request.orig_cl_ord_id, request.symbol)
            if found is not None:
                return found
        return self._report(merged, request.orig_cl_ord_id)

    def fetch_order(self, *, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        params = _client_id_params(self.exchange_id, cl_ord_id, fetch=True)
        order: Mapping[str, Any] | None = None
        try:
            order = self._call(Operation.READ, self.exchange.fetch_order, None, symbol, params)
        except OrderNotFound:
            order = None
        except (VenueRejected, NotSupported) as exc:
            # an exchange whose order query needs the venue's id (ccxt: ArgumentsRequired) or has
            # none: the open orders still name their client ids
            if not isinstance(exc.__cause__, ccxt.ArgumentsRequired | ccxt.NotSupported):
                raise
        if order is None:
            # venues that keep only recent orders in the query (bybit: 500) still list open ones
            if not self.exchange.has.get("fetchOpenOrders"):
                return None
            opened = self._call(Operation.READ, self.exchange.fetch_open_orders, symbol)
            order = next((o for o in opened if o.get("clientOrderId") == cl_ord_id), None)
            if order is None:
                return None
        return self._report(order, cl_ord_id)

    def fetch_open_orders(self, *, symbol: str | None = None) -> list[VenueOrderReport]:
        orders = self._call(Operation.READ, self.exchange.fetch_open_orders, symbol)
        return [self._report(o) for o in orders]

    def fetch_fills(self, *, since: dt.datetime | None = None, symbol: str | None = None) -> list[VenueFill]:
        """Our trades since `since`. Without a symbol, on a venue whose trade query needs one
        (binance: ccxt's ArgumentsRequired), every symbol this adapter has seen an order of is
        asked in turn: the stream consumer's resync asks for all fills at once."""
        start = mapping.to_millis(since) if since is not None else None
        try:
            trades = self._call(Operation.READ, self.exchange.fetch_my_trades, symbol, start)
        except VenueRejected as exc:
            if symbol is not None or not isinstance(exc.__cause__, ccxt.ArgumentsRequired):
                raise
            trades = [
                t
                for s in sorted(self._symbols)
                for t in self._call(Operation.READ, self.exchange.fetch_my_trades, s, start)
            ]
        fills = [
            mapping.fill(self.venue, t, cl_ord_id=self._client_id_of(t), account=self.account) for t in trades
        ]
        return sorted(fills, key=lambda f: (f.ts_event, f.exec_id))

    def _client_id_of(self, trade: Mapping[str, Any]) -> str:
        """ccxt's trade has no clientOrderId: the venue's raw trade, then the orders we have seen,
        then the order itself (one query per unknown order; the answer is kept, "" included when
        the venue has no such order or it has no client id; a failed query is asked again later)."""
        found = mapping.trade_client_id(trade)
        venue_order_id = str(trade.get("order") or "")
        if found is None and venue_order_id:
            found = self._client_ids.get(venue_order_id)
            if found is None and self.exchange.has.get("fetchOrder"):
                try:
                    order = self._call(
                        Operation.READ, self.exchange.fetch_order, venue_order_id, trade.get("symbol")
                    )
                    found = str(order.get("clientOrderId") or "")
                except OrderNotFound:
                    found = ""
                except VenueError:
                    return ""
        if found is not None and venue_order_id:
            self._client_ids[venue_order_id] = found
        return found or ""

    # --- optional ----------------------------------------------------------------------------

    def replace_order(self, request: ReplaceRequest) -> VenueOrderReport:
        """ccxt's edit_order (an amend: the venue keeps the order and its clientOrderId)."""
        if not self.has["replace"]:
            return super().replace_order(request)
        current = self.fetch_order(cl_ord_id=request.orig_cl_ord_id, symbol=request.symbol)
        if current is None:
            raise OrderNotFound(self.venue, f"no order {request.orig_cl_ord_id} to replace")
        limit = request.price is not None or current.price is not None
        params: dict[str, Any] = {}  # the venue order id names it: no client id param to confuse the amend
        if request.stop_px is not None:
            params["triggerPrice"] = float(request.stop_px)
        qty = request.order_qty if request.order_qty is not None else current.order_qty
        price = request.price if request.price is not None else current.price
        self._check_steps(request.symbol, qty, price, request.stop_px)
        try:
            order = self._call(
                Operation.REPLACE,
                self.exchange.edit_order,
                current.venue_order_id,
                request.symbol,
                "limit" if limit else "market",
                mapping.ccxt_side(current.side),
                float(qty),
                float(price) if price is not None else None,
                params,
            )
        except UnknownOutcome:
            found = self._resolve(request.orig_cl_ord_id, request.symbol)
            if found is None or (found.order_qty, found.price) != (qty, price):
                raise
            return found
        sent = {
            "symbol": request.symbol,
            "side": mapping.ccxt_side(current.side),
            "amount": qty,
            "price": price,
        }
        merged = {**sent, "filled": current.cum_qty, **{k: v for k, v in order.items() if v is not None}}
        return self._report(merged, request.orig_cl_ord_id)

    def fetch_positions(self, *, account: str | None = None) -> list[VenuePosition]:
        rows = self._call(Operation.READ, self.exchange.fetch_positions)
        return [mapping.position(self.venue, account or self.account, p) for p in rows]

    def fetch_balances(self) -> list[VenueBalance]:
        return mapping.balances(self.venue, self._call(Operation.READ, self.exchange.fetch_balance))

    def fetch_book(self, symbol: str, *, depth: int | None = None) -> VenueBook:
        """One REST snapshot of a book (the stream's `watch_book` keeps it fresh)."""
        return mapping.book(
            self.venue, symbol, self._call(Operation.READ, self.exchange.fetch_order_book, symbol, depth)
        )

    def fetch_instruments(self) -> list[VenueInstrument]:
        """Every spot, future and perpetual market, as `UpsertInstrumentCommand` material; a market
        ccxt describes without a tick or lot (options, odd listings) is left out."""
        markets = self._call(Operation.READ, self.exchange.load_markets, True)
        out = []
        for market in sorted(markets.values(), key=lambda m: m["symbol"]):
            try:
                out.append(mapping.instrument(self.venue, market, precision_mode=self.exchange.precisionMode))
            except mapping.MappingError:
                continue
        return out

    def watch_executions(self, *, timeout: float = 1.0) -> list[StreamMessage]:
        if not self.has["watchExecutions"]:
            return super().watch_executions(timeout=timeout)
        return self._streams().executions(timeout)

    def watch_book(self, symbols: Iterable[str], *, timeout: float = 1.0) -> list[VenueBook]:
        if not self.has["watchBook"]:
            return super().watch_book(symbols, timeout=timeout)
        if self._book_streamed:
            return self._streams().books(list(symbols), timeout)
        return self._poll_books(list(symbols), timeout)

    def _poll_books(self, symbols: list[str], timeout: float) -> list[VenueBook]:
        """The books whose poll is due (every `book_poll_ms` per symbol), waiting up to `timeout`
        for the first one due; ccxt's rate limiter spaces the requests themselves (inside
        `fetch_order_book`, so a burst of symbols queues rather than trips the venue's limit)."""
        if not symbols:
            return []
        interval = self.settings.book_poll_ms / 1000
        due = {symbol: self._polled.get(symbol, -interval) + interval for symbol in symbols}
        wait = min(due.values()) - time.monotonic()
        if wait > timeout:
            time.sleep(max(timeout, 0))
            return []
        if wait > 0:
            time.sleep(wait)
        now = time.monotonic()
        books = []
        for symbol in symbols:
            if due[symbol] <= now:
                self._polled[symbol] = now
                books.append(self.fetch_book(symbol, depth=self.settings.book_depth))
        return books

    def book_symbols(self) -> list[str]:
        return list(self.settings.books)

    def _streams(self) -> CcxtStreams:
        with self._lock:
            if self._stream is None:
                self._stream = CcxtStreams(self, self._pro_factory)
            return self._stream

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _pro_has(exchange_id: str) -> Mapping[str, Any]:
    """ccxt.pro's capabilities of the exchange (its class's `has`), without connecting."""
    pro_class = getattr(ccxt.pro, exchange_id, None)
    if pro_class is None:
        return {}
    has: Mapping[str, Any] = pro_class().has  # the constructor opens no connection
    return has
