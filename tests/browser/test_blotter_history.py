"""The blotter's working set and history in a real browser (fixtures: tests/browser/conftest.py).

The page opens on the snapshot (the working set at one seq, blotter/snapshot.py): yesterday's
finished orders are not in it, the history bar says so; a history search and a widened window
load them from the query API; a snapshot taken while commands commit ends equal, version for
version, to the database.
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
from tests.browser.test_blotter_live import row, store_versions, wait_live, wait_seq
from tests.lifecycle import Desk, uid

pytestmark = pytest.mark.browser


def finished_order(trader: Desk, when: dt.datetime, cl_ord_id: str) -> dict[str, Any]:
    """A canceled client order whose rows say it was created and last changed at `when`."""
    order = trader.cancel(trader.client_order(10, clOrdID=cl_ord_id, symbol="OLDSYM"))
    Order.objects.filter(pk=order["orderId"]).update(created_at=when, updated_at=when)
    return order


def in_store(page: Page, order_id: str) -> bool:
    return bool(page.evaluate("id => window.__blotter.store.docs.orders.has(id)", order_id))


def test_a_history_search_loads_an_old_order_the_snapshot_left_out(
    new_page: Any, desk_user: Any, trader: Desk, screenshot: Any
) -> None:
    start = trading_day_start()
    old = finished_order(trader, start - dt.timedelta(days=4), uid("HIST"))
    other = finished_order(trader, start - dt.timedelta(days=4), uid("NOISE"))
    today = trader.client_order(5)
    page = new_page(desk_user)
    wait_live(page)
    expect(row(page, today["clOrdID"])).to_be_visible()
    assert not in_store(page, old["orderId"]), "yesterday's finished order is not in the working set"
    expect(page.locator("#history-window")).to_contain_text("older history not loaded")
    page.fill("#history-from", (start - dt.timedelta(days=7)).date().isoformat())
    page.fill("#history-to", start.date().isoformat())
    page.select_option("#history-field", "clOrdID")
    page.fill("#history-text", old["clOrdID"])
    page.click("#history-search button")
    expect(row(page, old["clOrdID"])).to_be_visible()
    expect(page.locator("#history-status")).to_contain_text("1 loaded")
    assert not in_store(page, other["orderId"]), "only the match was loaded"
    # a search the server refuses says why and loads nothing
    page.fill("#history-from", "")
    page.fill("#history-text", "")
    page.click("#history-search button")
    expect(page.locator("#history-status")).to_contain_text("give a date range")
    screenshot(page, "blotter-history-search")
    assert page.errors == []


def test_widening_the_window_loads_the_day_before_and_no_more(
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
    expect(row(page, day_before["clOrdID"])).to_be_visible()
    expect(window).to_have_attribute(
        "data-from", (start - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    )
    assert not in_store(page, two_before["orderId"])
    page.click("#history-widen")
    expect(row(page, two_before["clOrdID"])).to_be_visible()
    # loaded history stays live: a change to the old order reaches its row
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
