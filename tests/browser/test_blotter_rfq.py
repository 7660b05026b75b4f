"""The RFQ desk actions in a real browser (blotter/rfq_forms.py in the page's dialog, fixtures in
tests/browser/conftest.py): the desk enters a quote request through the toolbar's New RFQ form,
quotes it from the selected request (Q shortcut), accepts the quote from the quotes view (the
form shows the price and quantity the order gets), and the client order the accept creates appears
in the orders view of the desk's and a viewer's blotter without a reload. Screenshot
`blotter-rfq-accept` (the accept form).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core import eventfeed
from oms.orders.models import Order
from oms.quotes.models import Quote, QuoteRequest

pytestmark = pytest.mark.browser

DIALOG = "#oms-dialog"
FORM = f"{DIALOG} form[data-oms-form]"


def _events() -> int:
    """The events appended, but the positions' (an order's open quantity follows it on
    position-events, oms/positions)."""
    return eventfeed.count_events_after(0, [t for t in eventfeed.topics() if t != "position-events"])


def field(page: Page, name: str) -> Any:
    return page.locator(f'{FORM} [name="{name}"]')


def send(page: Page) -> None:
    page.locator(f"{FORM} button[type=submit]").click()


def grid_row(page: Page, view: str, text: str) -> Any:
    return page.locator(f'.grid[data-view="{view}"] .tabulator-row', has_text=text).first


def cell(row: Any, name: str) -> Any:
    return row.locator(f'.tabulator-cell[tabulator-field="{name}"]')


def action(page: Page, action_id: str) -> Any:
    return page.locator(f'#actions button[data-action="{action_id}"]')


def test_desk_creates_quotes_and_accepts_an_rfq_and_the_order_appears_live(
    desk_page: Page, new_page: Any, viewer_user: Any, screenshot: Any
) -> None:
    watcher = new_page(viewer_user)  # a viewer's blotter on the orders view, never reloaded
    expect(watcher.locator('.grid[data-view="orders"]')).to_be_visible()
    expect(desk_page.locator('.grid[data-view="orders"]')).to_be_visible()
    expect(action(desk_page, "rfq-new")).to_have_count(0)  # New RFQ belongs to the quote-requests view

    # 1. a new quote request from the toolbar of the quote-requests view
    desk_page.locator("#tab-quote-requests").click()
    action(desk_page, "rfq-new").click()
    expect(desk_page.locator(FORM)).to_have_attribute("data-oms-form", "rfq-new")
    field(desk_page, "side").select_option("Buy")
    for name, value in {
        "symbol": "ACME",
        "orderQty": "100",
        "account": "ACC7",
        "quoteReqID": "WEB-RFQ-1",
    }.items():
        field(desk_page, name).fill(value)
    send(desk_page)
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    expect(desk_page.locator("#toasts .toast.success").last).to_contain_text("WEB-RFQ-1")
    request_row = grid_row(desk_page, "quote-requests", "WEB-RFQ-1")
    expect(cell(request_row, "status")).to_have_text("Open")

    # 2. quote it: select the request, Q opens the quote form with the request's key and size
    request_row.click()
    expect(action(desk_page, "rfq-quote")).to_be_enabled()
    desk_page.keyboard.press("q")
    expect(desk_page.locator(FORM)).to_have_attribute("data-oms-form", "rfq-quote")
    expect(field(desk_page, "quoteReqID")).to_have_value("WEB-RFQ-1")
    expect(field(desk_page, "quoteReqID")).to_be_disabled()
    expect(field(desk_page, "offerSize")).to_have_value("100")  # the side a buyer trades on
    field(desk_page, "quoteID").fill("WEB-Q-1")
    field(desk_page, "bidPx").fill("10.05")
    field(desk_page, "offerPx").fill("10.25")
    field(desk_page, "offerSize").fill("80")  # the desk quotes less than was asked
    field(desk_page, "offerPx").press("Enter")  # Enter never sends
    desk_page.wait_for_timeout(300)
    expect(desk_page.locator(FORM)).to_be_visible()
    assert not Quote.objects.filter(fix_quote_id="WEB-Q-1").exists()
    send(desk_page)
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    expect(cell(request_row, "status")).to_have_text("Quoted")  # live

    # 3. accept it from the quotes view: the form shows what the client order will be
    desk_page.locator("#tab-quotes").click()
    quote_row = grid_row(desk_page, "quotes", "WEB-Q-1")
    expect(cell(quote_row, "status")).to_have_text("Active")
    quote_row.click()
    action(desk_page, "quote-accept").click()
    expect(desk_page.locator(FORM)).to_have_attribute("data-oms-form", "quote-accept")
    terms = desk_page.locator(f"{FORM} .oms-form-terms")
    expect(terms.locator('[data-term="price"]')).to_have_text("10.25")  # a buyer lifts the offer
    expect(terms.locator('[data-term="orderQty"]')).to_have_text("80")  # min(100 asked, 80 quoted)
    expect(terms.locator('[data-term="order"]')).to_have_text("Buy 80 ACME Limit @ 10.25 Day for ACC7")
    screenshot(desk_page, "blotter-rfq-accept")
    before = _events()
    send(desk_page)
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    expect(desk_page.locator("#toasts .toast.success").last).to_contain_text("Accepted WEB-Q-1")
    expect(cell(quote_row, "status")).to_have_text("Accepted")

    # 4. the client order appears live, in the viewer's orders view and in the desk's
    quote_id = Quote.objects.get(fix_quote_id="WEB-Q-1").quote_id
    cl_ord_id = f"{quote_id}-A"
    for page in (watcher, desk_page):
        if page is desk_page:
            page.locator("#tab-orders").click()
        row = grid_row(page, "orders", cl_ord_id)
        expect(row).to_be_visible()
        expect(cell(row, "side")).to_have_text("Buy")
        expect(cell(row, "orderQty")).to_have_text("80")
        expect(cell(row, "price")).to_have_text("10.25")
        expect(cell(row, "account")).to_have_text("ACC7")
    order = Order.objects.get(cl_ord_id=cl_ord_id).doc
    assert order["attributes"]["quoteReqID"] == "WEB-RFQ-1"
    assert _events() == before + 3  # OrderCreated, QuoteAccepted, QuoteRequestAccepted
    assert QuoteRequest.objects.get(quote_req_id="WEB-RFQ-1").doc["status"] == "Accepted"
    assert not desk_page.errors and not watcher.errors
