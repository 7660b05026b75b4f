"""A book streamed by a venue's book feed is no reference price once stale (its stream stopped);
a book set by hand (SetBookCommand, SimSetMarketCommand, the demo) prices whatever its age. The
refusal is the contract's `no_reference_price` (details: the check, `book: stale`, its `asOf`);
cancels are never refused. The book document does not change (its source is kept internally)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from oms.orders.models import Order
from oms.venues.adapter import VenueBook
from oms.venues.bookfeed import BookFeed
from rules.models import Book
from tests.conftest import uid
from tests.controls_support import instrument, ok, order_body, send
from tests.venues_support import fresh_sim_venue, sim_instrument, sim_market

pytestmark = pytest.mark.django_db

VENUE, SYMBOL = "ccxt:bybit", "ACME"


class Stream:
    """The part of an adapter a BookFeed uses: the books its stream answers next."""

    def __init__(self) -> None:
        self.books: list[VenueBook] = []

    def book_symbols(self) -> list[str]:
        return [SYMBOL]

    def watch_book(self, symbols: list[str], timeout: float = 0.0) -> list[VenueBook]:
        out, self.books = self.books, []
        return out


def streamed(bid: str = "99", ask: str = "101") -> None:
    stream = Stream()
    stream.books.append(
        VenueBook(
            venue=VENUE,
            symbol=SYMBOL,
            bids=((Decimal(bid), Decimal("10")),),
            asks=((Decimal(ask), Decimal("10")),),
            ts_event=dt.datetime.now(dt.UTC),
        )
    )
    assert BookFeed(VENUE, stream).step() == 1  # type: ignore[arg-type]


def set_by_hand(client: Any, venue: str = VENUE) -> None:
    body = {"commandType": "SetBookCommand", "venue": venue, "symbol": SYMBOL, "bids": [["99", "10"]],
            "asks": [["101", "10"]]}  # fmt: skip
    ok(client, "books", body)


def age(seconds: float, venue: str = VENUE) -> None:
    Book.objects.filter(venue=venue).update(as_of=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))


@pytest.fixture(autouse=True)
def collar(boss: Any, settings: Any) -> None:
    settings.OMS_BOOK_STALE_SECONDS = 60
    instrument(boss, VENUE, SYMBOL)  # an adapter venue prices only its own instruments
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "priceCollarPct": "10"},
    )


def order(client: Any, venue: str = VENUE, **terms: Any) -> tuple[int, dict[str, Any]]:
    return send(client, "orders", order_body(**{"venue": venue, "price": "100", **terms}))


def test_a_streamed_book_older_than_the_stale_age_refuses_a_new_order_no_reference_price(desk: Any) -> None:
    streamed()
    age(61)
    before = Order.objects.count()

    status, js = order(desk)

    assert status == 422 and js["error"]["rule"] == "no_reference_price", js
    details = js["error"]["details"]
    assert (details["check"], details["book"], details["venue"]) == ("price_collar", "stale", VENUE)
    assert details["asOf"] == Book.objects.get(venue=VENUE).as_of.isoformat().replace("+00:00", "Z")
    assert "stale" in js["error"]["message"]
    assert Order.objects.count() == before


def test_a_fresh_streamed_book_prices_the_collar(desk: Any) -> None:
    streamed()
    age(59)

    status, _ = order(desk)
    assert status == 201
    status, js = order(desk, price="111")  # the ask 101 + 10%: 111.1
    assert status == 201, js
    status, js = order(desk, price="112")
    assert (status, js["error"]["rule"], js["error"]["details"]["referencePx"]) == (
        422,
        "price_collar",
        "101",
    )


def test_a_book_set_by_hand_prices_whatever_its_age(desk: Any) -> None:
    set_by_hand(desk)
    age(3600)

    status, js = order(desk)
    assert status == 201, js
    assert desk.get(f"/api/queries/books/{VENUE}/{SYMBOL}").json()["stale"] is True


def test_the_last_writer_decides_a_hand_set_over_a_streamed_book_prices_again(desk: Any) -> None:
    streamed()
    set_by_hand(desk)  # the desk takes over a venue whose stream stopped
    age(61)
    assert order(desk)[0] == 201
    streamed()  # the stream is back
    age(61)
    assert order(desk)[1]["error"]["rule"] == "no_reference_price"


def test_a_sim_market_book_prices_whatever_its_age(
    desk: Any, admin_user: Any, settings: Any, tmp_path: Any
) -> None:
    with fresh_sim_venue(settings, tmp_path):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "99", "101", "10", "10")
        age(3600, venue="SIM")
        status, js = send(desk, "orders", order_body(venue="SIM", price="100", orderQty="1"))
    assert status == 201, js


def test_a_cancel_is_never_refused_by_a_stale_streamed_book(desk: Any) -> None:
    streamed()
    status, js = order(desk)
    assert status == 201
    age(3600)
    assert order(desk)[0] == 422

    cancel = {"commandType": "CancelOrderCommand", "orderId": js["order"]["orderId"], "clOrdID": uid("X")}
    status, answer = send(desk, "orders", cancel)
    assert status == 200, answer
    assert answer["order"]["status"] == "Canceled"


def test_a_venueless_order_priced_off_the_freshest_book_is_refused_when_that_one_is_a_stale_stream(
    desk: Any,
) -> None:
    set_by_hand(desk, venue="XNAS")
    age(3600, venue="XNAS")
    streamed()
    age(61)  # streamed, and still the freshest

    status, js = send(desk, "orders", order_body(price="100"))
    assert (status, js["error"]["rule"], js["error"]["details"]["book"]) == (
        422,
        "no_reference_price",
        "stale",
    )


def test_the_book_document_is_unchanged_and_the_source_is_kept_internally(desk: Any, viewer: Any) -> None:
    streamed()
    document = viewer.get(f"/api/queries/books/{VENUE}/{SYMBOL}").json()
    assert set(document) == {"venue", "symbol", "bids", "asks", "bestBid", "bestAsk", "mid", "asOf", "stale"}
    assert Book.objects.get(venue=VENUE).source == "Stream"
    body = {"commandType": "SetBookCommand", "venue": VENUE, "symbol": SYMBOL}
    assert "source" not in ok(desk, "books", body)["book"]
    assert Book.objects.get(venue=VENUE).source == "Set"
