"""The blotter's working set and history in a real browser (fixtures: tests/browser/conftest.py).

The page opens on the snapshot (the working set at one seq, blotter/snapshot.py): yesterday's
finished orders are not in it, the history bar says so. The History mode shows the history range
in a grid of its own whose header filters, quick filter and sort run in the query API, a page at
a time: a filter finds a row the page never loaded, a sort orders the whole range, a widened
window asks the server for the day before. A snapshot taken while commands commit ends equal,
version for version, to the database.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from blotter.consumers import max_seq
from blotter.snapshot import trading_day_start
from oms.orders.models import Order
from tests.browser.test_blotter_live import header_filter, row, store_versions, wait_live, wait_seq
from tests.lifecycle import Desk, uid

pytestmark = pytest.mark.browser

PAGE = 200  # static/blotter/history.js: rows per history request


def finished_order(trader: Desk, when: dt.datetime, cl_ord_id: str, qty: int = 10) -> dict[str, Any]:
    """A canceled client order whose rows say it was created and last changed at `when`."""
    order = trader.cancel(trader.client_order(qty, clOrdID=cl_ord_id, symbol="OLDSYM"))
    Order.objects.filter(pk=order["orderId"]).update(created_at=when, updated_at=when)
    return order


def many_finished(trader: Desk, n: int, when: dt.datetime, prefix: str) -> None:
    """n more finished orders at `when` (copies of one through the write path: the history a
    page of the grid cannot hold)."""
    model = Order.objects.get(pk=finished_order(trader, when, uid(prefix))["orderId"])
    copies = []
    for i in range(n - 1):
        copy = Order(**{f.attname: getattr(model, f.attname) for f in Order._meta.concrete_fields})
        copy.order_id = copy.root_id = f"{model.order_id}c{i}"
        copy.cl_ord_id = f"{prefix}{i:04d}"
        copy.doc = {**model.doc, "orderId": copy.order_id, "rootId": copy.order_id, "clOrdID": copy.cl_ord_id}
        copies.append(copy)
    Order.objects.bulk_create(copies)


def in_store(page: Page, order_id: str) -> bool:
    return bool(page.evaluate("id => window.__blotter.store.docs.orders.has(id)", order_id))


def history_ids(page: Page) -> list[str]:
    """The order ids the history grid holds, in its order."""
    return list(
        page.evaluate(
            "() => [...document.querySelectorAll('.history-grid')].length"
            " ? window.__blotterHistory.table.getData().map(r => r.orderId) : []"
        )
    )


def open_history(page: Page, days_back: int) -> None:
    """The History mode over the last `days_back` days (the search form's date range)."""
    start = trading_day_start()
    page.fill("#history-from", (start - dt.timedelta(days=days_back)).date().isoformat())
    page.click("#history-search button")
    expect(page.locator("#history-window")).to_have_attribute("data-mode", "history")
    expect(page.locator(".history-grid")).to_be_visible()


def test_a_header_filter_on_history_finds_a_row_the_page_never_loaded(
    new_page: Any, desk_user: Any, trader: Desk, screenshot: Any
) -> None:
    start = trading_day_start()
    target = finished_order(trader, start - dt.timedelta(days=4, hours=1), uid("HIST"))  # the oldest
    many_finished(trader, PAGE + 10, start - dt.timedelta(days=4), "NOISE")
    today = trader.client_order(5)
    page = new_page(desk_user)
    requests: list[str] = []
    page.on("request", lambda r: "/api/queries/orders" in r.url and requests.append(r.url))
    wait_live(page)
    expect(row(page, today["clOrdID"])).to_be_visible()
    assert not in_store(page, target["orderId"]), "history is not in the working set"
    expect(page.locator("#history-window")).to_contain_text("Working set")
    open_history(page, 7)
    expect(page.locator("#row-count")).to_contain_text(f"{PAGE} history rows, more on scroll")
    assert target["orderId"] not in history_ids(page), "newest first: the oldest is beyond the first page"
    header_filter(page, "clOrdID", target["clOrdID"][2:].lower())  # a part, another case
    expect(row(page, target["clOrdID"])).to_be_visible()
    expect(page.locator("#row-count")).to_have_text("1 history row")
    assert history_ids(page) == [target["orderId"]]
    assert any("clOrdIDContains=" in url for url in requests), "the filter ran in the query API"
    assert not in_store(page, target["orderId"]), "no client copy of the history"
    # the quick filter runs on the server too (`q`), with the header filter
    header_filter(page, "clOrdID", "")
    expect(page.locator("#row-count")).to_contain_text(f"{PAGE} history rows, more on scroll")
    with page.expect_request(lambda r: "q=NOISE0007" in r.url):
        page.fill("#quick", "NOISE0007")
    expect(row(page, "NOISE0007")).to_be_visible()
    expect(page.locator("#row-count")).to_have_text("1 history row")
    screenshot(page, "blotter-history-search")
    # a search the server cannot run without a range says why
    page.fill("#history-from", "")
    page.fill("#history-text", "")
    page.click("#history-search button")
    expect(page.locator("#history-status")).to_contain_text("give a date range")
    # back to the working set: the live grid again
    page.fill("#quick", "")
    expect(page.locator("#row-count")).to_contain_text(f"{PAGE} history rows")  # the quick filter's pause
    page.click("#history-mode")
    expect(page.locator("#history-window")).to_have_attribute("data-mode", "working")
    expect(row(page, today["clOrdID"])).to_be_visible()
    assert page.errors == []


def test_a_sort_on_history_orders_the_whole_range_on_the_server(
    new_page: Any, desk_user: Any, trader: Desk
) -> None:
    start = trading_day_start()
    biggest = finished_order(trader, start - dt.timedelta(days=3, hours=2), uid("BIG"), qty=999)
    many_finished(trader, PAGE + 10, start - dt.timedelta(days=3), "SORT")
    page = new_page(desk_user)
    wait_live(page)
    open_history(page, 5)
    assert biggest["orderId"] not in history_ids(page)
    sorter = page.locator('.history-grid .tabulator-col[tabulator-field="orderQty"] .tabulator-col-title')
    sorter.click()  # ascending
    expect(page.locator(".history-grid .tabulator-row").first).not_to_contain_text(biggest["clOrdID"])
    sorter.click()  # descending: the biggest of the range, which no page had loaded, comes first
    expect(page.locator(".history-grid .tabulator-row").first).to_contain_text(biggest["clOrdID"])
    # scrolling appends the next page of the same order (cursor paging)
    page.evaluate(
        "() => window.__blotterHistory.table.scrollToRow(window.__blotterHistory.table.getRows().at(-1))"
    )
    expect(page.locator("#row-count")).to_have_text(f"{PAGE + 11} history rows")
    qtys = page.evaluate("() => window.__blotterHistory.table.getData().map(r => Number(r.orderQty))")
    assert qtys == sorted(qtys, reverse=True) and qtys[0] == 999
    assert page.errors == []


def test_widening_the_window_asks_the_server_for_the_day_before_and_no_more(
    new_page: Any, desk_user: Any, trader: Desk
) -> None:
    start = trading_day_start()
    day_before = finished_order(trader, start - dt.timedelta(hours=6), uid("DAY1"))
    two_before = finished_order(trader, start - dt.timedelta(hours=30), uid("DAY2"))
    page = new_page(desk_user)
    wait_live(page)
    window = page.locator("#history-window")
    expect(window).to_have_attribute("data-from", start.isoformat().replace("+00:00", "Z"))
    assert not in_store(page, day_before["orderId"])
    page.click("#history-widen")
    expect(window).to_have_attribute("data-mode", "history")
    expect(row(page, day_before["clOrdID"])).to_be_visible()
    expect(window).to_have_attribute(
        "data-from", (start - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    )
    assert two_before["orderId"] not in history_ids(page)
    page.click("#history-widen")
    expect(row(page, two_before["clOrdID"])).to_be_visible()
    assert day_before["orderId"] in history_ids(page)
    # a history row the desk opens joins the store: the detail panel shows it
    row(page, two_before["clOrdID"]).click()
    expect(page.locator("#detail-title")).to_contain_text(two_before["clOrdID"])
    assert in_store(page, two_before["orderId"])
    assert page.errors == []


def test_a_snapshot_taken_while_commands_commit_ends_equal_to_the_database(
    new_page: Any, desk_user: Any, trader: Desk
) -> None:
    markets = [trader.venue_order(1000) for _ in range(20)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        from django.db import connection

        try:
            i = 0
            while not stop.is_set() and i < 400:
                trader.execute(markets[i % len(markets)], 1)
                if i % 5 == 0:
                    trader.client_order(3)
                i += 1
                stop.wait(0.02)  # ~50 commands/s: a busy desk (the machine runs the browser too)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        before = max_seq()
        pages = []
        for _ in range(2):  # pages open one after another while the writer commits
            pages.append(new_page(desk_user))
        for page in pages:
            wait_live(page, timeout=30_000)
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    final = max_seq()
    expected = dict(Order.objects.values_list("order_id", "version"))
    for page in pages:
        wait_seq(page, timeout=90_000)
        snap = page.evaluate("window.__blotter.feed.snapshotSeq")
        assert before < snap < final, "the snapshot was taken while commands committed"
        assert store_versions(page, "orders") == expected
        assert page.errors == []
