"""Rows the checks read with every new order, parsed once per exact content (rules.reference's
books, rules.controls' venue, the positions' documents: oms.core.sql.ByText): a row read again
unchanged is the same parsed object; a row changed in any way, by a command or a raw write that
keeps its time, is parsed anew by the next order. And the rule set's one function reads a derived
field only when a rule reaches it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from oms.core.sql import ByText
from oms.positions.models import Position
from rules import reference
from rules.conditions import Facts, compile_first, parse
from rules.models import Book, Venue
from tests.controls_support import instrument, ok, order_body, send, venue


def _book(client: Any, venue_name: str, symbol: str, bid: str, ask: str) -> None:
    body = {
        "commandType": "SetBookCommand",
        "venue": venue_name,
        "symbol": symbol,
        "bids": [[bid, "5"]],
        "asks": [[ask, "5"]],
    }
    ok(client, "books", body)


def _collar(client: Any) -> None:
    ok(
        client,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "priceCollarPct": "5"},
    )


@pytest.mark.django_db
def test_an_unchanged_book_is_parsed_once_and_a_rewritten_one_at_the_same_time_anew(
    boss: Any, desk: Any
) -> None:
    _collar(boss)
    instrument(boss, "SIM", "PRB", tickSize="1", lotSize="1", minQty="1")
    _book(boss, "SIM", "PRB", "99", "101")
    first, _ = reference.read("SIM", "PRB")
    again, _ = reference.read("SIM", "PRB")
    book_a, book_b = reference.read("SIM", "PRB")[1], reference.read("SIM", "PRB")[1]
    assert first is again and book_a is not None and book_a is book_b  # one parse, shared
    assert book_a.best_ask == Decimal("101") and book_a.as_of.tzinfo is not None
    assert ok(desk, "orders", order_body(symbol="PRB", venue="SIM", orderQty="1", price="105"))
    # the market moves without a command and without a new time: the levels alone differ
    Book.objects.filter(venue="SIM", symbol="PRB").update(asks=[["90", "5"]], bids=[["89", "5"]])
    moved = reference.read("SIM", "PRB")[1]
    assert moved is not None and moved.best_ask == Decimal("90") and moved.as_of == book_a.as_of
    status, js = send(desk, "orders", order_body(symbol="PRB", venue="SIM", orderQty="1", price="105"))
    assert status == 422 and js["error"]["rule"] == "price_collar"
    assert js["error"]["details"]["referencePx"] == "90"


@pytest.mark.django_db
def test_a_venue_row_changed_outside_the_commands_holds_the_next_order(boss: Any, desk: Any) -> None:
    venue(boss, "PRV", adapter="MANUAL", mode="Paper")
    instrument(boss, "PRV", "PRV1", tickSize="1", lotSize="1", minQty="1")
    assert ok(desk, "orders", order_body(symbol="PRV1", venue="PRV", orderQty="1"))
    assert ok(desk, "orders", order_body(symbol="PRV1", venue="PRV", orderQty="1"))  # parsed, kept
    row = Venue.objects.get(venue="PRV")
    Venue.objects.filter(pk=row.pk).update(doc={**row.doc, "mode": "Live", "armed": False})
    status, js = send(desk, "orders", order_body(symbol="PRV1", venue="PRV", orderQty="1"))
    assert status == 422 and js["error"]["rule"] == "venue_not_armed"


@pytest.mark.django_db
def test_a_position_marked_dirty_outside_the_commands_holds_the_next_order(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "PRP", tickSize="1", lotSize="1", minQty="1")
    body = order_body(symbol="PRP", venue="SIM", account="PRACC", orderQty="1")
    assert ok(desk, "orders", body)
    assert ok(desk, "orders", {**body, "clOrdID": body["clOrdID"] + "b"})
    row = Position.objects.get(account="PRACC", symbol="PRP")
    Position.objects.filter(pk=row.pk).update(
        dirty=True, doc={**row.doc, "dirtyReasons": ["discrepancy:test"]}
    )
    status, js = send(desk, "orders", {**body, "clOrdID": body["clOrdID"] + "c"})
    assert status == 422 and js["error"]["rule"] == "position_dirty"
    assert js["error"]["details"]["reasons"] == ["discrepancy:test"]


def test_by_text_builds_once_per_text_and_anew_for_another() -> None:
    built: list[Any] = []

    def build(doc: dict[str, Any]) -> tuple[int, ...]:
        built.append(doc)
        return (doc["n"],)

    parsed = ByText(build, limit=2)
    one = parsed('{"n": 1}')
    assert parsed('{"n": 1}') is one and len(built) == 1
    assert parsed('{"n": 2}') == (2,) and len(built) == 2
    assert parsed({"n": 3}) == (3,) and len(built) == 3  # already decoded: built, not kept
    parsed('{"n": 4}')  # past the limit: starts afresh, still right
    assert parsed('{"n": 1}') == (1,) and len(built) == 5


def test_the_rule_sets_function_reads_a_derived_field_only_when_a_rule_reaches_it() -> None:
    asked: list[int] = []

    def multiplier() -> Decimal:
        asked.append(1)
        return Decimal(1)

    first = compile_first(
        [
            parse({"field": "symbol", "op": "==", "value": "AAA"}),
            parse({"field": "notional", "op": ">", "value": "1"}),
            parse({"field": "timeOfDay", "op": ">=", "value": "12:30"}),
        ]
    )
    order = {"symbol": "AAA", "side": "Buy", "orderQty": "10", "price": "100", "ordType": "Limit"}
    at = dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)
    facts = Facts(order, at=at, multiplier=multiplier)
    assert first(facts) == 0 and asked == []  # the first rule matched: notional never computed
    other = {**order, "symbol": "BBB", "price": None, "ordType": "Market"}
    assert first(Facts(other, at=at, multiplier=multiplier)) == 2  # no notional without a price
    assert first(Facts(other, at=at - dt.timedelta(minutes=1), multiplier=multiplier)) == -1
    assert Facts(other, at=at).get("timeOfDay") == "12:30"
