"""The depth ladder's read (/blotter/api/book): the book query's document, null without a book
(never the 404 that a polling page would log every second), 400 for a missing parameter, only for
a logged-in reader."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from oms.core.dispatch import dispatch

pytestmark = pytest.mark.django_db


def _client(user: Any = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_ladder_reads_the_book_querys_document_and_null_without_a_book(viewer_user: Any) -> None:
    dispatch(
        "books",
        {"commandType": "SetBookCommand", "venue": "ccxt:binance", "symbol": "BTC/USDT:USDT",
         "bids": [["60000", "1"]], "asks": [["60000.5", "2"], ["60001", "3"]]},
        actor="system:test",
    )  # fmt: skip
    client = _client(viewer_user)

    found = client.get("/blotter/api/book", {"venue": "ccxt:binance", "symbol": "BTC/USDT:USDT"})
    missing = client.get("/blotter/api/book", {"venue": "ccxt:binance", "symbol": "ETH/USDT:USDT"})

    assert found.status_code == 200
    book = found.json()["book"]
    assert (book["bids"], book["asks"][1], book["bestAsk"], book["stale"]) == (
        [["60000", "1"]], ["60001", "3"], "60000.5", False,
    )  # fmt: skip
    assert (missing.status_code, missing.json()) == (200, {"book": None})


def test_the_ladder_read_refuses_a_missing_parameter_and_an_anonymous_user(viewer_user: Any) -> None:
    bad = _client(viewer_user).get("/blotter/api/book", {"venue": "SIM"})
    anonymous = _client().get("/blotter/api/book", {"venue": "SIM", "symbol": "X"})

    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_failed" and "symbol" in bad.json()["error"]["fields"]
    assert anonymous.status_code == 401
