"""The depth ladder (static/blotter/ladder.js) in real Chromium against a live daphne: selecting an
order shows its instrument's book (its venue and symbol), levels best first around the touch; a
change of the market shows within the ladder's one-second read; a book the venue stopped
refreshing is flagged STALE; an order without a book says so."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core.dispatch import dispatch
from rules.models import Book

pytestmark = pytest.mark.browser
SYSTEM = "system:test"


def wait_live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)


def select(page: Page, cl_ord_id: str) -> None:
    row = page.locator(".tabulator-row", has_text=cl_ord_id).first
    expect(row).to_be_visible()
    row.locator('.tabulator-cell[tabulator-field="symbol"]').click()


def sim_market(symbol: str, bid: str, ask: str, bid_size: str, ask_size: str) -> None:
    body = {"commandType": "SimSetMarketCommand", "symbol": symbol, "bidPx": bid, "askPx": ask,
            "bidSize": bid_size, "askSize": ask_size}  # fmt: skip
    dispatch("sim", body, actor=SYSTEM)


def test_the_ladder_shows_the_selected_orders_book_and_follows_the_market(
    desk_page: Page, trader: Any, settings: Any, tmp_path: Any
) -> None:
    settings.VAR_DIR = tmp_path  # this process's SIM store (the server only reads the book query)
    dispatch(
        "instruments",
        {"commandType": "UpsertInstrumentCommand", "venue": "SIM", "symbol": "LADDER-PERP",
         "kind": "Perpetual", "tickSize": "0.5", "lotSize": "1"},
        actor=SYSTEM,
    )  # fmt: skip
    sim_market("LADDER-PERP", "100", "101", "7", "3")
    order = trader.client_order(5, clOrdID="WEB-LADDER-1", symbol="LADDER-PERP", venue="SIM")
    wait_live(desk_page)

    select(desk_page, order["clOrdID"])

    ladder = desk_page.locator("#ladder")
    expect(ladder).to_be_visible()
    expect(desk_page.locator("#ladder-title")).to_have_text("SIM LADDER-PERP")
    expect(desk_page.locator("#ladder tr.bid.touch td.px")).to_have_text("100")
    expect(desk_page.locator("#ladder tr.bid.touch td.bid-qty")).to_have_text("7")
    expect(desk_page.locator("#ladder tr.ask td.px").last).to_have_text("101")
    expect(ladder).to_have_attribute("data-stale", "false")

    sim_market("LADDER-PERP", "102", "102.5", "4", "9")  # the market moves: no reload, no click

    expect(desk_page.locator("#ladder tr.bid.touch td.px")).to_have_text("102", timeout=5_000)
    expect(desk_page.locator("#ladder tr.ask td.ask-qty").last).to_have_text("9")


def test_a_book_left_unrefreshed_is_flagged_stale_and_an_order_without_one_says_so(
    desk_page: Page, trader: Any
) -> None:
    dispatch(
        "books",
        {"commandType": "SetBookCommand", "venue": "MANUAL", "symbol": "OLD",
         "bids": [["10", "1"], ["9.5", "2"]], "asks": [["10.5", "3"]]},
        actor="trader",
    )  # fmt: skip
    Book.objects.filter(venue="MANUAL", symbol="OLD").update(as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    old = trader.client_order(1, clOrdID="WEB-LADDER-OLD", symbol="OLD")
    none = trader.client_order(1, clOrdID="WEB-LADDER-NONE", symbol="NOBOOK")
    wait_live(desk_page)

    select(desk_page, old["clOrdID"])
    expect(desk_page.locator("#ladder-stale")).to_be_visible()
    expect(desk_page.locator("#ladder")).to_have_attribute("data-stale", "true")
    expect(desk_page.locator("#ladder tr.bid td.px")).to_have_text(["10", "9.5"])

    select(desk_page, none["clOrdID"])
    expect(desk_page.locator("#ladder-title")).to_have_text("MANUAL NOBOOK")
    expect(desk_page.locator("#ladder-note")).to_have_text("no book for this instrument")
    expect(desk_page.locator("#ladder-stale")).to_be_hidden()
