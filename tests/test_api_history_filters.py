"""The blotter's filters on a history range, run by the query API (static/blotter/history.js).

The history grid sends its header filters, quick filter and sort as query parameters: numeric
ranges in the header filter's own syntax (`>100`, `<=5`, `10-20`), a part of a text column
(`clOrdIDContains`, ...), a quick search over several columns (`q`), and `ordering`. Each means
on the server what it means on the grid; a malformed one is a 400 naming the parameter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oms.core.specification import parse_range
from oms.orders.selectors import OrderSpecification
from tests.lifecycle import Desk, uid


def ids(page: dict[str, Any]) -> set[str]:
    return {o["orderId"] for o in page["results"]}


@pytest.fixture
def book(trader: Desk) -> dict[str, dict[str, Any]]:
    tag = uid("H").replace("-", "x")
    return {
        "small": trader.client_order(5, clOrdID=f"{tag}-small", symbol="ALPHA", account="ACC-NORTH"),
        "mid": trader.client_order(50, clOrdID=f"{tag}-mid", symbol="BETA", account="ACC-SOUTH"),
        "big": trader.client_order(500, clOrdID=f"{tag}-BIG", symbol="GAMMA", account="ACC-NORTH"),
        "tag": {"clOrdID": tag},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", [("eq", Decimal("100"))]),
        (">100", [("gt", Decimal("100"))]),
        (">= 2.5", [("gte", Decimal("2.5"))]),
        ("<-1", [("lt", Decimal("-1"))]),
        ("<=5", [("lte", Decimal("5"))]),
        ("=7", [("eq", Decimal("7"))]),
        ("10-20", [("gte", Decimal("10")), ("lte", Decimal("20"))]),
        ("-5--2", [("gte", Decimal("-5")), ("lte", Decimal("-2"))]),
        ("1..2", [("gte", Decimal("1")), ("lte", Decimal("2"))]),
    ],
)
def test_a_range_reads_the_numeric_header_filters_syntax(text: str, expected: list[Any]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["", "abc", ">", "1-", "1e5", ">>1", "1-2-3", "NaN"])
def test_a_malformed_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_range(text)


def test_numeric_ranges_filter_orders_as_the_grid_does(desk: Any, book: dict[str, Any]) -> None:
    def got(value: str) -> set[str]:
        return ids(desk.get("/api/queries/orders", {"orderQty": value, "count": "false"}).json())

    small, mid, big = (book[k]["orderId"] for k in ("small", "mid", "big"))
    assert got(">5") == {mid, big}
    assert got(">=5") == {small, mid, big}
    assert got("<500") == {small, mid}
    assert got("10-500") == {mid, big}
    assert got("50") == {mid}


def test_text_parts_and_the_quick_search_are_case_insensitive(desk: Any, book: dict[str, Any]) -> None:
    small, mid, big = (book[k]["orderId"] for k in ("small", "mid", "big"))
    tag = book["tag"]["clOrdID"]

    def got(**params: str) -> set[str]:
        return ids(desk.get("/api/queries/orders", {**params, "count": "false"}).json())

    assert got(clOrdIDContains=f"{tag}-big".lower()) == {big}
    assert got(clOrdIDContains=tag, symbolContains="et") == {mid}
    assert got(clOrdIDContains=tag, accountContains="north") == {small, big}
    assert got(q=tag) == {small, mid, big}
    assert got(q=tag, symbol="GAMMA") == {big}
    assert got(q="gamm") == {big}  # the symbol
    assert got(q=big) == {big}  # the orderId


def test_the_specification_matches_a_document_as_the_query_does(book: dict[str, Any]) -> None:
    """The same criteria evaluated in Python (live updates) and in SQL agree."""
    from oms.orders.selectors import order_query

    tag = book["tag"]["clOrdID"]
    params = {"q": tag, "orderQty": "5-50", "accountContains": "NORTH"}
    spec = OrderSpecification.from_params(params)
    in_sql = set(order_query(spec).values_list("order_id", flat=True))
    in_python = {o["orderId"] for k, o in book.items() if k != "tag" and spec.matches(o)}
    assert in_sql == in_python == {book["small"]["orderId"]}


def test_a_sort_runs_across_the_whole_range_with_cursor_paging(desk: Any, trader: Desk) -> None:
    tag = uid("S")
    made = [trader.client_order(q, clOrdID=f"{tag}-{q}") for q in (7, 3, 9, 1, 5)]
    seen: list[str] = []
    url: str | None = "/api/queries/orders"
    params: dict[str, str] | None = {
        "clOrdIDContains": tag,
        "ordering": "-orderQty",
        "limit": "2",
        "cursor": "",
        "count": "false",
    }
    while url:
        body = desk.get(url, params).json()
        seen += [o["orderQty"] for o in body["results"]]
        url, params = body["next"], None
    assert [Decimal(q) for q in seen] == [9, 7, 5, 3, 1]
    assert len(made) == len(seen)
    by_kind = desk.get("/api/queries/orders", {"clOrdIDContains": tag, "ordering": "kind,-createdAt"})
    assert by_kind.status_code == 200


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("orders", "orderQty", "lots"),
        ("orders", "price", ">"),
        ("orders", "q", "a\x00b"),
        ("orders", "clOrdIDContains", "x\x00"),
        ("executions", "lastPx", "1-"),
        ("executions", "q", "\x00"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_the_parameter(
    desk: Any, path: str, param: str, value: str
) -> None:
    answer = desk.get(f"/api/queries/{path}", {param: value})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert list(error["fields"]) == [param]


def test_executions_take_ranges_parts_and_the_quick_search(desk: Any, trader: Desk) -> None:
    market = trader.venue_order(100)
    tag = uid("E")
    one = trader.execute(market, 10, "101", execID=f"{tag}-one")["execution"]
    two = trader.execute(market, 30, "99", execID=f"{tag}-TWO")["execution"]

    def got(**params: str) -> set[str]:
        body = desk.get("/api/queries/executions", {**params, "count": "false"}).json()
        return {e["executionId"] for e in body["results"]}

    assert got(execIDContains=tag) == {one["executionId"], two["executionId"]}
    assert got(execIDContains=f"{tag}-two") == {two["executionId"]}
    assert got(q=tag, lastQty=">10") == {two["executionId"]}
    assert got(q=tag, lastPx="100-200") == {one["executionId"]}
    ordered = desk.get("/api/queries/executions", {"q": tag, "ordering": "execID"}).json()["results"]
    assert [e["execID"] for e in ordered] == [f"{tag}-TWO", f"{tag}-one"]
