"""Books (issue 10, step 2): SetBookCommand, the book query, the reference price (far touch, the
one side of a one-sided book, the freshest book for a venue-less order)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from rules.books import book_for
from rules.models import Book
from tests.controls_support import ok, send

pytestmark = pytest.mark.django_db


def set_book(
    client: Any, venue: str, symbol: str, bids: list[list[str]], asks: list[list[str]]
) -> dict[str, Any]:
    body = {"commandType": "SetBookCommand", "venue": venue, "symbol": symbol, "bids": bids, "asks": asks}
    return ok(client, "books", body)["book"]


def test_set_book_sorts_best_first_and_the_query_answers_it(desk: Any, viewer: Any) -> None:
    book = set_book(desk, "SIM", "XBT-PERP", [["99", "2"], ["100", "1"]], [["102", "3"], ["101", "1.5"]])
    assert book["bids"] == [["100", "1"], ["99", "2"]] and book["asks"] == [["101", "1.5"], ["102", "3"]]
    got = viewer.get("/api/queries/books/SIM/XBT-PERP").json()
    assert (got["bestBid"], got["bestAsk"], got["mid"], got["stale"]) == ("100", "101", "100.5", False)
    assert got["asOf"].endswith("Z")
    missing = viewer.get("/api/queries/books/SIM/NOPE")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_book_changes_no_event_and_is_replaced_whole(desk: Any) -> None:
    answer = ok(
        desk, "books", {"commandType": "SetBookCommand", "venue": "SIM", "symbol": "X", "bids": [["1", "1"]]}
    )
    assert answer["events"] == []
    set_book(desk, "SIM", "X", [], [["2", "1"]])
    row = Book.objects.get(venue="SIM", symbol="X")
    assert (row.bids, row.asks) == ([], [["2", "1"]])


def test_crossed_or_malformed_books_answer_400(desk: Any, viewer: Any) -> None:
    status, js = send(
        desk,
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": "SIM",
            "symbol": "X",
            "bids": [["101", "1"]],
            "asks": [["100", "1"]],
        },
    )
    assert status == 400 and "bids" in js["error"]["fields"]
    status, js = send(
        desk,
        "books",
        {"commandType": "SetBookCommand", "venue": "SIM", "symbol": "X", "bids": [["-1", "1"]], "asks": "x"},
    )
    assert status == 400 and {"bids", "asks"} <= set(js["error"]["fields"])
    status, _ = send(viewer, "books", {"commandType": "SetBookCommand", "venue": "SIM", "symbol": "X"})
    assert status == 403
    assert not Book.objects.exists()


def test_reference_is_the_far_touch_or_the_only_side(desk: Any) -> None:
    set_book(desk, "SIM", "X", [["100", "1"]], [["101", "1"]])
    book = book_for("SIM", "X")
    assert book is not None
    assert (book.reference("Buy"), book.reference("Sell"), book.reference("SellShort")) == (
        Decimal(101),
        Decimal(100),
        Decimal(100),
    )
    set_book(desk, "SIM", "X", [["100", "1"]], [])
    one_sided = book_for("SIM", "X")
    assert one_sided is not None and one_sided.reference("Buy") == Decimal(100)


def test_a_venueless_order_takes_the_freshest_book_of_its_symbol(desk: Any) -> None:
    set_book(desk, "A", "X", [["10", "1"]], [["11", "1"]])
    set_book(desk, "B", "X", [["20", "1"]], [["21", "1"]])
    Book.objects.filter(venue="A").update(as_of=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    fresh = book_for(None, "X")
    assert fresh is not None and fresh.venue == "A"


def test_an_old_book_is_stale(desk: Any, viewer: Any, settings: Any) -> None:
    set_book(desk, "SIM", "X", [["1", "1"]], [])
    settings.OMS_BOOK_STALE_SECONDS = 60
    Book.objects.update(as_of=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61))
    assert viewer.get("/api/queries/books/SIM/X").json()["stale"] is True
