"""ccxt venues' books into the OMS's books: ccxt.pro's watchOrderBook (bybit, over stub websockets)
or a polled fetch_order_book (binance, over the stub transport), through the stream consumer's
book feed, coalesced, pricing the collar, and stale once the stream drops.

The payloads are ccxt's recorded order books (tests/data/ccxt, `fetchOrderBook`): binance's REST
answer as recorded; bybit's websocket snapshot carries the same fields as its recorded REST
answer (`s`, `b`, `a`, `u`, `seq`, `ts`: bybit's v5 public orderbook topic), framed as its topic.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pytest

from oms.core.dispatch import dispatch
from oms.venues.bookfeed import BookFeed
from oms.venues.ccxt.exchange import DEMO
from oms.venues.ingest import StreamConsumer
from rules.books import book_at
from rules.models import Book
from tests.ccxt_support import SocketHub, cases, stubbed_adapter
from tests.conftest import uid

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "BTC/USDT:USDT"


def recorded(exchange_id: str, description: str) -> dict[str, Any]:
    (case,) = [c for c in cases(exchange_id, "fetchOrderBook") if c["description"] == description]
    return case


def bybit_snapshot(seq_bump: int = 0, bid_px: str | None = None) -> dict[str, Any]:
    """bybit's websocket book snapshot (topic orderbook.50.BTCUSDT) from its recorded REST book."""
    result = dict(recorded("bybit", "swap orderbook")["httpResponse"]["result"])
    if bid_px is not None:
        result["b"] = [[bid_px, "1.5"]]
    data = {k: result[k] for k in ("s", "b", "a")}
    data["u"] = int(result["u"]) + seq_bump
    data["seq"] = int(result["seq"]) + seq_bump
    return {
        "topic": "orderbook.50.BTCUSDT",
        "type": "snapshot",
        "ts": int(result["ts"]) + seq_bump,
        "data": data,
    }


def wait_until(predicate: Any, step: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        step()


@pytest.fixture
def books_settings(settings: Any) -> Any:
    settings.OMS_VENUE_BOOK_WRITE_MS = 200
    settings.OMS_VENUE_BOOK_DEPTH = 20
    settings.OMS_BOOK_STALE_SECONDS = 2
    return settings


def test_a_polled_binance_book_is_written_as_recorded_and_the_polls_keep_their_interval(
    books_settings: Any,
) -> None:
    adapter, transport = stubbed_adapter(
        "binance", environment=DEMO, books=(SYMBOL,), book_stream=False, book_poll_ms=300
    )
    case = recorded("binance", "swap orderbook")
    transport.on("GET", "/depth", case["httpResponse"])
    feed = BookFeed("ccxt:binance", adapter)

    assert feed.step(timeout=0) == 1
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        feed.step(timeout=0.05)

    book = book_at("ccxt:binance", SYMBOL)
    assert book is not None
    expected = case["parsedResponse"]
    assert [[str(p), str(q)] for p, q in book.bids] == [
        [str(Decimal(str(p))), str(Decimal(str(q)))] for p, q in expected["bids"]
    ]
    assert book.best_ask == Decimal("42878") and book.best_bid == Decimal("42651.1")
    polls = transport.requests("GET", "/depth")
    assert 3 <= len(polls) <= 5, len(polls)  # 1 s at one poll per 300 ms, not one per step
    assert polls[0].params["symbol"] == "BTCUSDT" and polls[0].params["limit"] == "20"
    assert feed.stats["writes"] == len(polls)


def test_a_streamed_bybit_book_is_coalesced_prices_the_collar_and_goes_stale_when_the_stream_drops(
    books_settings: Any, desk: Any
) -> None:
    hub = SocketHub()
    adapter, transport = stubbed_adapter("bybit", books=(SYMBOL,), hub=hub)
    transport.on(
        "GET",
        "/v5/execution/list",
        {"retCode": 0, "retMsg": "OK", "result": {"list": [], "category": "linear"}, "time": 1706803949068},
    )
    assert adapter.has["watchBook"] and adapter._book_streamed
    consumer = StreamConsumer("ccxt:bybit", adapter)
    try:
        consumer.step(timeout=0.05)  # resync, then subscribe to orders, trades and the book
        wait_until(lambda: hub.socket("public") is not None, lambda: consumer.step(timeout=0.05))
        public = hub.socket("public")
        assert public is not None
        wait_until(
            lambda: any(m.get("op") == "subscribe" for m in public.sent), lambda: consumer.step(timeout=0.05)
        )
        assert {"orderbook.50.BTCUSDT"} <= {t for m in public.sent for t in m.get("args", [])}

        # fifty ticks over about a second, read as they come: a write at most every 200 ms, the
        # latest book last (ccxt.pro answers a watch with the book as it stands)
        started = time.monotonic()
        for n in range(50):
            public.push(bybit_snapshot(n, bid_px=str(42400 + n)))
            consumer.step(timeout=0.02)
        elapsed = time.monotonic() - started
        public.push(bybit_snapshot(99, bid_px="42499"))
        wait_until(
            lambda: (b := book_at("ccxt:bybit", SYMBOL)) is not None and b.best_bid == Decimal("42499"),
            lambda: consumer.step(timeout=0.05),
            2,
        )
        assert consumer.books is not None and consumer.books.stats["books"] >= 25
        assert consumer.books.stats["writes"] <= elapsed / 0.2 + 2, (consumer.books.stats, elapsed)
        document = desk.get(f"/api/queries/books/ccxt:bybit/{SYMBOL}").json()
        assert document["stale"] is False, document and document["bestAsk"] == "42548"

        # the collar prices against it: a buy 10% above the ask is refused, a fair one passes
        instrument = {
            "commandType": "UpsertInstrumentCommand",
            "venue": "ccxt:bybit",
            "symbol": SYMBOL,
            "kind": "Perpetual",
            "tickSize": "0.1",
            "lotSize": "0.001",
        }
        dispatch("instruments", instrument, actor="system:test")
        dispatch(
            "limits",
            {"commandType": "SetLimitsCommand", "account": "*", "symbol": SYMBOL, "priceCollarPct": "5"},
            actor="system:test",
        )
        order = {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("C"),
            "symbol": SYMBOL,
            "side": "Buy",
            "orderQty": "0.001",
            "ordType": "Limit",
            "price": "46800",
            "account": "ACC1",
            "venue": "ccxt:bybit",
            "handling": "Desk",
        }
        refused = desk.post("/api/commands/orders/preview", order, format="json").json()
        assert [r["rule"] for r in refused["refusals"]] == ["price_collar"]

        # the venue drops the socket and stays unreachable: no more writes, the book turns stale
        hub.down = True
        public.drop()
        last = Book.objects.get(venue="ccxt:bybit", symbol=SYMBOL).as_of
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            consumer.step(timeout=0.05)
        assert Book.objects.get(venue="ccxt:bybit", symbol=SYMBOL).as_of == last
        assert consumer.books.stats["errors"] >= 1
        assert desk.get(f"/api/queries/books/ccxt:bybit/{SYMBOL}").json()["stale"] is True
        # and a streamed book gone stale prices nothing: the fair order is refused now
        order["price"] = "42548"
        stale = desk.post("/api/commands/orders/preview", order, format="json").json()
        assert [(r["rule"], r["details"]["book"]) for r in stale["refusals"]] == [
            ("no_reference_price", "stale")
        ]
    finally:
        adapter.close()
    assert dt.datetime.now(dt.UTC) - last > dt.timedelta(seconds=2)
