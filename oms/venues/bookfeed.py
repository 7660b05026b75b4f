"""A venue's books into the OMS's books (`rules.books`), from its stream consumer.

    feed = BookFeed("ccxt:binance", adapter)
    feed.step()          # read what the book stream has (no wait), write what is due

The venue's book stream (ccxt.pro's `watchOrderBook`, or a polled `fetch_order_book`) answers a
book per symbol many times a second; the collar, the preview and the ladder read a book at human
speed. So writes are coalesced: the latest book of each symbol is kept in memory and written
(`SetBookCommand` on `books`, actor `system:venue:<VENUE>`, the one write path SIM's
`SimSetMarketCommand` takes too) at most every `OMS_VENUE_BOOK_WRITE_MS` per symbol; the books in
between are dropped, never queued. A written book's `asOf` is when the OMS wrote it, and a
symbol keeps being rewritten while the venue keeps sending it, so `asOf` says when the stream
last spoke for that book: a stream that drops stops the writes and the book turns `stale` after
`OMS_BOOK_STALE_SECONDS`, whereupon it is no reference price (the collar refuses
`no_reference_price`).

Which books: the adapter's configured ones (`book_symbols()`, `OMS_CCXT_<ID>_BOOKS`) and the
symbols of the orders working at the venue (refreshed every few seconds).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from oms.core import ambient
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from oms.venues.adapter import VenueAdapter, VenueBook, VenueError
from oms.venues.reports import actor_for
from rules.books import streamed_books

log = logging.getLogger(__name__)

WORKING = ("PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingReplace")
SYMBOLS_SECONDS = 5.0  # how often the working orders' symbols are read again


class BookFeed:
    def __init__(self, venue: str, adapter: VenueAdapter) -> None:
        self.venue = venue
        self.adapter = adapter
        self.latest: dict[str, VenueBook] = {}  # received, not yet written
        self.written_at: dict[str, float] = {}  # symbol -> monotonic time of its last write
        self._symbols: list[str] = []
        self._symbols_at: float | None = None
        self.stats = {"books": 0, "writes": 0, "errors": 0, "refused": 0}

    def symbols(self) -> list[str]:
        now = ambient.monotonic()
        if self._symbols_at is None or now - self._symbols_at >= SYMBOLS_SECONDS:
            working = Order.objects.filter(venue=self.venue, status__in=WORKING)
            found = set(working.values_list("symbol", flat=True).distinct())
            self._symbols = list(dict.fromkeys([*self.adapter.book_symbols(), *sorted(found)]))
            self._symbols_at = now
        return self._symbols

    def step(self, timeout: float = 0.0) -> int:
        """Read the books the stream has (waiting up to `timeout`), write those due; the number
        written."""
        symbols = self.symbols()
        if symbols:
            try:
                books = self.adapter.watch_book(symbols, timeout=timeout)
            except VenueError as exc:  # the stream dropped: no writes, the books go stale
                self.stats["errors"] += 1
                log.warning("venue %s book stream: %s", self.venue, exc)
                books = []
            for book in books:
                self.stats["books"] += 1
                self.latest[book.symbol] = book  # coalesce: only the newest counts
        return self.flush()

    def flush(self) -> int:
        interval = settings.OMS_VENUE_BOOK_WRITE_MS / 1000
        now = ambient.monotonic()
        written = 0
        for symbol in list(self.latest):
            last = self.written_at.get(symbol)
            if last is not None and now - last < interval:
                continue
            book = self.latest.pop(symbol)
            self.written_at[symbol] = now
            written += self._write(book)
        return written

    def _write(self, book: VenueBook) -> int:
        depth = settings.OMS_VENUE_BOOK_DEPTH
        body: dict[str, Any] = {
            "commandType": "SetBookCommand",
            "venue": self.venue,
            "symbol": book.symbol,
            "bids": [[str(px), str(qty)] for px, qty in book.bids[:depth] if qty > 0],
            "asks": [[str(px), str(qty)] for px, qty in book.asks[:depth] if qty > 0],
        }
        try:
            with streamed_books():  # kept with the book: stale, it is no reference price
                dispatch("books", body, actor=actor_for(self.venue))
        except ApplicationError as exc:  # a crossed book in flight: the next one will do
            self.stats["refused"] += 1
            log.warning("venue %s book %s refused: %s %s", self.venue, book.symbol, exc.code, exc.message)
            return 0
        self.stats["writes"] += 1
        return 1
