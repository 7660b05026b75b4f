"""The desk's risk view in the blotter (static/blotter/risk.js and its modules) in real Chromium
against a live daphne (fixtures: tests/browser/conftest.py), on SQLite and on PostgreSQL+Redis.

The positions grid is loaded with the page and kept live from position-events: a fill entered by
the desk moves its row, a dirty flag shows with its reason, the unrealized P&L follows the book's
mid. The venues strip shows a venue going Stale when the watchdog says so, the SAFE scopes that
hold a venue and a last-message age that ticks. Alerts pop for a feed change, a SAFE mode the OMS
engaged itself and a dead letter, and are dismissed one by one or all at once.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core.dispatch import dispatch
from oms.positions.dirty import mark_dirty
from oms.venues.ingest import watchdog
from oms.venues.models import VenueDeadLetter
from tests.conftest import uid

pytestmark = pytest.mark.browser
SYSTEM = "system:test"


def wait_live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)


def open_risk(page: Page) -> None:
    wait_live(page)
    if page.locator("#risk").get_attribute("data-open") != "true":
        page.locator("#risk-toggle").click()
    expect(page.locator("#risk-body")).to_be_visible()
    expect(page.locator("#positions-grid.tabulator")).to_be_visible()


def position_row(page: Page, account: str) -> Any:
    return page.locator("#positions-grid .tabulator-row", has_text=account)


def cell(row: Any, field: str) -> Any:
    return row.locator(f'.tabulator-cell[tabulator-field="{field}"]')


def set_book(venue: str, symbol: str, bid: str, ask: str) -> None:
    dispatch(
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": venue,
            "symbol": symbol,
            "bids": [[bid, "5"]],
            "asks": [[ask, "5"]],
        },
        actor=SYSTEM,
    )


def test_a_fill_moves_the_position_live_and_a_dirty_flag_shows_with_its_reason(
    desk_page: Page, trader: Any, screenshot: Any
) -> None:
    account = uid("RISK")
    open_risk(desk_page)
    market = trader.venue_order(10, account=account)
    row = position_row(desk_page, account)
    expect(cell(row, "openBuyQty")).to_have_text("10")  # the open order, before any fill
    expect(cell(row, "qty")).to_have_text("0")

    trader.fill(market, 4, "100")
    expect(cell(row, "qty")).to_have_text("4")
    expect(cell(row, "avgCost")).to_have_text("100")
    expect(cell(row, "openBuyQty")).to_have_text("6")
    expect(cell(row, "worstLong")).to_have_text("10")
    expect(cell(row, "dirtyText")).to_have_text("clean")

    # the mark is the book's mid, read with the positions (books have no events)
    set_book("MANUAL", "ACME", "104", "106")
    expect(cell(row, "markPx")).to_have_text("105", timeout=15_000)
    expect(cell(row, "unrealizedPnl")).to_have_text("20.00")

    mark_dirty(account, "MANUAL", "ACME", f"unknown_outcome:{market['orderId']}")
    expect(cell(row, "dirtyText")).to_contain_text("DIRTY")
    expect(cell(row, "dirtyText")).to_contain_text(f"unknown_outcome:{market['orderId']}")
    expect(row).to_have_class(re.compile(r"\bposition-dirty\b"))
    expect(desk_page.locator("#risk-summary")).to_contain_text("1 dirty")

    trader.fill(market, 6, "110")  # fills still apply to a dirty position; unrealized follows
    expect(cell(row, "qty")).to_have_text("10")
    expect(cell(row, "avgCost")).to_have_text("106")
    expect(cell(row, "unrealizedPnl")).to_have_text("-10.00")
    screenshot(desk_page, "blotter-risk")
    assert desk_page.errors == []


def test_positions_committed_before_the_page_opened_are_loaded_with_it(
    new_page: Any, desk_user: Any, trader: Any
) -> None:
    account = uid("RISK")
    market = trader.venue_order(5, account=account, side="Sell")
    trader.fill(market, 5, "50")
    set_book("MANUAL", "ACME", "39", "41")
    page = new_page(desk_user)
    open_risk(page)
    row = position_row(page, account)
    expect(cell(row, "qty")).to_have_text("-5")
    expect(cell(row, "realizedPnl")).to_have_text("0.00")
    expect(cell(row, "unrealizedPnl")).to_have_text("50.00")  # short 5 from 50, mid 40
    expect(cell(row, "worstShort")).to_have_text("-5")
    # the section stays open on the next visit (kept in localStorage)
    page.reload()
    wait_live(page)
    expect(page.locator("#risk")).to_have_attribute("data-open", "true")
    expect(cell(position_row(page, account), "qty")).to_have_text("-5")
    assert page.errors == []


def _drill_venue() -> dt.datetime:
    """A SIM venue whose feed reports are an hour ahead: the SIM worker inside daphne reports it
    too, with the real clock, and a report older than the stored one changes nothing."""
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "DRILL", "adapter": "SIM", "mode": "Paper"},
        actor=SYSTEM,
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    dispatch(
        "venues",
        {
            "commandType": "RecordVenueFeedCommand",
            "venue": "DRILL",
            "feed": "Healthy",
            "lastMessageAt": later.isoformat(),
        },
        actor=SYSTEM,
    )
    return later


def test_the_venues_strip_shows_stale_when_the_watchdog_marks_it_and_an_alert_pops(
    desk_page: Page,
) -> None:
    wait_live(desk_page)
    later = _drill_venue()
    card = desk_page.locator('#venues-strip .venue-card[data-venue="DRILL"]')
    expect(card).to_have_attribute("data-feed", "Healthy")
    expect(card).to_contain_text("SIM · Paper")

    changed = watchdog(now=later + dt.timedelta(seconds=25))  # the beat task's own function
    assert changed.get("DRILL") == "Stale"
    expect(card).to_have_attribute("data-feed", "Stale")
    expect(card).to_have_class(re.compile(r"\bfeed-stale\b"))
    expect(card.locator(".feed-badge")).to_have_text("Stale")
    alert = desk_page.locator('#alerts .alert[data-kind="feed"]', has_text="DRILL feed Healthy → Stale")
    expect(alert).to_be_visible()
    # the count is every alert not dismissed (the watchdog may have flipped other venues too)
    expect(desk_page.locator("#alerts-count")).to_have_text(re.compile(r"^[1-9]\d*$"))

    # the alerts never cover the toolbars
    stack = desk_page.locator("#alerts").bounding_box()
    for bar in ("#controls-bar", ".actions-bar"):
        box = desk_page.locator(bar).bounding_box()
        assert box is not None and stack is not None
        assert stack["y"] >= box["y"] + box["height"], (bar, box, stack)

    before = int(desk_page.locator("#alerts-count").text_content() or 0)
    alert.locator(".alert-dismiss").click()
    expect(alert).to_have_count(0)
    after = int(desk_page.locator("#alerts-count").text_content() or 0)
    assert after <= before - 1 or after == 0, (before, after)
    assert desk_page.errors == []


def test_a_safe_mode_engaged_by_the_oms_holds_the_venue_and_alerts_and_a_dead_letter_alerts(
    desk_page: Page, trader: Any
) -> None:
    wait_live(desk_page)
    _drill_venue()
    card = desk_page.locator('#venues-strip .venue-card[data-venue="DRILL"]')
    expect(card).to_have_attribute("data-safe", "0")

    # the desk's own SAFE mode holds the venue but is no alert: the desk did it
    dispatch(
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "symbol", "key": "DRILL:ACME", "reason": "drill"},
        actor="trader",
    )
    expect(card.locator('.safe-tag[data-scope="symbol:DRILL:ACME"]')).to_be_visible()
    # the watchdog's engages alert
    dispatch(
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "venue", "key": "DRILL", "reason": "feed down"},
        actor="system:watchdog",
    )
    expect(card).to_have_attribute("data-safe", "2")
    safe_alert = desk_page.locator('#alerts .alert[data-kind="safe"]')
    expect(safe_alert).to_have_count(1)
    expect(safe_alert).to_contain_text("SAFE mode engaged by watchdog: venue:DRILL")
    expect(safe_alert).to_contain_text("feed down")

    # a send that gave up: its dead letter (a row, not an event) comes with the order's reject
    order = trader.venue_order(3, accept=False)
    VenueDeadLetter.objects.create(
        venue="MANUAL",
        task="venues.send_order",
        order_id=order["orderId"],
        cl_ord_id=order["clOrdID"],
        reason="retries_exhausted",
        error="connection reset",
        created_at=dt.datetime.now(dt.UTC),
    )
    trader.do("RejectOrderCommand", order, text="not sent to MANUAL: connection reset")
    dead = desk_page.locator('#alerts .alert[data-kind="dead-letter"]')
    expect(dead).to_contain_text("Dead letter at MANUAL: retries_exhausted")
    expect(dead).to_contain_text(order["clOrdID"])
    expect(
        desk_page.locator('#alerts .alert[data-kind="safe"], #alerts .alert[data-kind="dead-letter"]')
    ).to_have_count(2)

    desk_page.locator("#alerts-dismiss-all").click()
    expect(desk_page.locator("#alerts .alert")).to_have_count(0)
    expect(desk_page.locator("#alerts-count")).to_have_text("")
    assert desk_page.errors == []


def test_the_last_message_age_ticks_without_events(desk_page: Page) -> None:
    wait_live(desk_page)
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "QUIET", "adapter": "SIM", "mode": "Paper"},
        actor=SYSTEM,
    )
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # ahead of the SIM worker's reports
    dispatch(
        "venues",
        {
            "commandType": "RecordVenueFeedCommand",
            "venue": "QUIET",
            "feed": "Healthy",
            "lastMessageAt": at.isoformat(),
        },
        actor=SYSTEM,
    )
    age = desk_page.locator('#venues-strip .venue-card[data-venue="QUIET"] .venue-age')
    expect(age).to_have_text("0s")  # a report from the future is not old yet
    # the page's clock moves the hour on: the age counts up each second from the same report
    desk_page.evaluate("(ms) => { const now = Date.now; Date.now = () => now() + ms; }", 3_600_000 + 90_000)
    expect(age).to_have_text(re.compile(r"^1m 3\ds$"))
    first = age.text_content()
    desk_page.wait_for_timeout(2_100)
    assert age.text_content() != first
    assert desk_page.errors == []


def test_a_viewer_sees_the_risk_view_without_actions(viewer_page: Page, trader: Any) -> None:
    account = uid("RISK")
    open_risk(viewer_page)
    market = trader.venue_order(2, account=account)
    trader.fill(market, 2, "10")
    expect(cell(position_row(viewer_page, account), "qty")).to_have_text("2")
    expect(viewer_page.locator("#venues-strip button.reconcile")).to_have_count(0)
    expect(viewer_page.locator("#discrepancies button.resolve")).to_have_count(0)
    assert viewer_page.errors == []
