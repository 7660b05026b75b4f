"""Cursor (keyset) paging and `count=false` on the query API's lists."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.test_api_commands import create

ORDERS = "/api/queries/orders"


def get(client: APIClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    body: dict[str, Any] = response.json()
    return body


def follow(client: APIClient, link: str) -> dict[str, Any]:
    parsed = urlparse(link)
    params = {k: v[0] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
    return get(client, parsed.path, **params)


def ids(page: dict[str, Any]) -> list[str]:
    return [r["orderId"] for r in page["results"]]


def offset_walk(client: APIClient, limit: int, **params: Any) -> list[list[str]]:
    pages, offset = [], 0
    while True:
        page = get(client, ORDERS, limit=limit, offset=offset, **params)
        if not page["results"]:
            return pages
        pages.append(ids(page))
        offset += limit


def cursor_walk(client: APIClient, limit: int, **params: Any) -> tuple[list[list[str]], list[list[str]]]:
    """Pages forward to the end, then backward from the last page to the first."""
    page = get(client, ORDERS, limit=limit, cursor="", **params)
    assert page["previous"] is None
    forward = [ids(page)]
    while page["next"]:
        page = follow(client, page["next"])
        forward.append(ids(page))
    backward = [ids(page)]
    while page["previous"]:
        page = follow(client, page["previous"])
        backward.append(ids(page))
    return forward, backward[::-1]


@pytest.fixture
def orders(desk: APIClient) -> list[dict[str, Any]]:
    # repeated symbols and quantities, so that orderings have ties the id must break
    return [
        create(desk, symbol=f"S{i % 3}", orderQty=str(10 * (i % 4) + 10), side="Buy" if i % 2 else "Sell")
        for i in range(11)
    ]


@pytest.mark.parametrize(
    "ordering", [None, "symbol", "-symbol", "orderQty,-createdAt", "side,symbol", "orderId", "-updatedAt"]
)
@pytest.mark.parametrize("limit", [1, 3, 4, 11, 50])
def test_cursor_walk_equals_offset_walk(
    desk: APIClient, orders: list[dict[str, Any]], ordering: str | None, limit: int
) -> None:
    params = {"ordering": ordering} if ordering else {}
    expected = offset_walk(desk, limit, **params)
    forward, backward = cursor_walk(desk, limit, **params)
    assert forward == expected
    assert backward == expected
    flat = [i for page in forward for i in page]
    assert len(flat) == len(set(flat)) == len(orders)


def test_cursor_pages_carry_count_unless_count_false(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    page = get(desk, ORDERS, limit=4, cursor="")
    assert page["count"] == len(orders)
    assert get(desk, ORDERS, limit=4, cursor="", count="false")["count"] is None
    following = follow(desk, page["next"] + "&count=false")
    assert following["count"] is None and len(following["results"]) == 4


def test_rows_inserted_while_paging_cause_no_duplicates_or_skips(
    desk: APIClient, orders: list[dict[str, Any]]
) -> None:
    existing = offset_walk(desk, 100, ordering="createdAt")[0]
    page = get(desk, ORDERS, limit=3, cursor="", ordering="createdAt")
    seen = ids(page)
    new: list[str] = []
    while page["next"]:
        new.append(create(desk, symbol="NEW")["orderId"])  # lands after every existing row
        page = follow(desk, page["next"])
        seen.extend(ids(page))
    assert len(seen) == len(set(seen))
    assert seen[: len(existing)] == existing
    assert set(seen[len(existing) :]) <= set(new)
    # newest first: the new rows go before the cursor, and never shift what comes after it
    page = get(desk, ORDERS, limit=3, cursor="")
    seen = ids(page)
    while page["next"]:
        create(desk, symbol="NEW")
        page = follow(desk, page["next"])
        seen.extend(ids(page))
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(existing)] == existing[::-1]


def test_count_false_issues_no_count(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    for params in ({"limit": 4, "count": "false"}, {"limit": 4, "count": "false", "cursor": ""}):
        with CaptureQueriesContext(connection) as queries:
            page = get(desk, ORDERS, **params)
        assert page["count"] is None and len(page["results"]) == 4
        assert page["next"] is not None
        assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    with CaptureQueriesContext(connection) as queries:
        assert get(desk, ORDERS, limit=4)["count"] == len(orders)
    assert [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_count_false_with_offset_walks_the_same(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    page = get(desk, ORDERS, limit=4, count="false")
    pages = [ids(page)]
    while page["next"]:
        page = follow(desk, page["next"])
        pages.append(ids(page))
    assert pages == offset_walk(desk, 4)
    assert page["count"] is None


def test_limit_offset_unchanged(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    page = get(desk, ORDERS, limit=4, offset=4)
    assert page["count"] == len(orders)
    assert "cursor=" not in (page["next"] or "") and "cursor=" not in (page["previous"] or "")


def _b64(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",
        _b64([1, 2]),
        _b64({"o": ["-created_at", "-order_id"], "k": [["s", "x"]], "b": False}),
        _b64({"o": ["-created_at", "-order_id"], "k": [["t", "yesterday"], ["s", "x"]], "b": False}),
        _b64({"o": ["-created_at", "-order_id"], "k": [["d", "NaN"], ["s", "x"]], "b": False}),
        _b64({"o": ["-created_at", "-order_id"], "k": [["q", "1"], ["s", "x"]], "b": "no"}),
        _b64({"o": ["symbol", "-order_id"], "k": [["s", "A"], ["s", "x"]], "b": False}),
        _b64({"o": ["-created_at", "-order_id"], "k": [["t", "2026-01-01T00:00:00"], 3], "b": False}),
    ],
)
def test_bad_cursor_is_400(desk: APIClient, orders: list[dict[str, Any]], cursor: str) -> None:
    response = desk.get(ORDERS, {"cursor": cursor})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "validation_failed"


def test_tampered_cursor_from_another_ordering_is_400(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    page = get(desk, ORDERS, limit=2, cursor="", ordering="symbol")
    cursor = parse_qs(urlparse(page["next"]).query)["cursor"][0]
    response = desk.get(ORDERS, {"cursor": cursor, "ordering": "-symbol"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("ordering", ["price", "venue"])
def test_cursor_with_nullable_ordering_is_400(
    desk: APIClient, orders: list[dict[str, Any]], ordering: str
) -> None:
    response = desk.get(ORDERS, {"cursor": "", "ordering": ordering})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert desk.get(ORDERS, {"ordering": ordering}).status_code == 200  # offset paging still does


def test_bad_count_is_400(desk: APIClient) -> None:
    response = desk.get(ORDERS, {"count": "maybe"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("path", ["executions", "quote-requests", "quotes", "instruments", "limits"])
def test_every_list_takes_cursor_and_count(desk: APIClient, path: str) -> None:
    page = get(desk, f"/api/queries/{path}", cursor="", count="false")
    assert page["count"] is None and page["previous"] is None


def test_events_page_takes_cursor(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    url = f"/api/queries/orders/{orders[0]['orderId']}/events"
    expected = [e["seq"] for e in get(desk, url)["results"]]
    page = get(desk, url, limit=1, cursor="", count="false")
    seen = [e["seq"] for e in page["results"]]
    while page["next"]:
        page = follow(desk, page["next"])
        seen.extend(e["seq"] for e in page["results"])
    assert seen == expected
    assert desk.get("/api/queries/orders/nope/events", {"count": "false"}).status_code == 404


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
def test_next_page_scans_the_index_from_the_cursor_key(desk: APIClient, orders: list[dict[str, Any]]) -> None:
    """The keyset predicate gives the planner a range on the leading column: the scan of the
    default ordering's index starts at the key instead of at the newest row (or, as a bitmap,
    reading every older row and sorting them), so a page costs the same anywhere in the list."""
    page = get(desk, ORDERS, limit=4, cursor="", count="false")
    with CaptureQueriesContext(connection) as queries:
        follow(desk, page["next"])
    (select,) = [q["sql"] for q in queries.captured_queries if 'FROM "orders"' in q["sql"]]
    with connection.cursor() as cursor:
        # a table of 11 rows would be read whole; make the planner show what it does at scale
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {select}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using orders_created" in plan, plan
    assert "Index Cond: (created_at <=" in plan, plan
