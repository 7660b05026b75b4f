"""The blotter's polish a new user asked for, in a real browser (fixtures: tests/browser/conftest.py).

Prices to the instrument's tick and AvgPx blank until something fills (static/blotter/format.js);
the detail panel with readable labels and its whole history in a scrolling area; review reasons
in the admin's words; RFQ grids naming quotes and orders by the references a desk knows; no Fill
before the venue accepted the order; the fill form warning of an overfill before it is sent; stale
field errors cleared once the value changes; toasts clear of the toolbars. Screenshots
`blotter-detail-polish` and `form-fill-overfill-warning`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from executions.enums import REVIEW_REASON_TEXT
from executions.models import Execution
from oms.core.dispatch import dispatch
from oms.orders.models import Order
from tests.lifecycle import new_quote, new_request

pytestmark = pytest.mark.browser

DIALOG = "#oms-dialog"
FORM = f"{DIALOG} form[data-oms-form]"
CAMEL = re.compile(r"^[a-z]+[A-Z]")  # an API key such as "orderQty" shown as a label


def wait_live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)


def row(page: Page, text: str) -> Any:
    return page.locator(".grid:not([hidden]) .tabulator-row", has_text=text).first


def cell(row_locator: Any, field: str) -> Any:
    return row_locator.locator(f'.tabulator-cell[tabulator-field="{field}"]')


def detail(page: Page, field: str) -> Any:
    return page.locator(f'#detail-fields dd[data-field="{field}"]')


def field(page: Page, name: str) -> Any:
    return page.locator(f'{FORM} [name="{name}"]')


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_prices_to_the_tick_readable_detail_and_the_whole_history(
    new_page: Any, desk_user: Any, trader: Any, screenshot: Any
) -> None:
    # an instrument with a 0.05 tick; its orders' prices show two decimals, their AvgPx up to four
    dispatch(
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "MANUAL",
            "symbol": "TICKY",
            "kind": "Equity",
            "tickSize": "0.05",
            "lotSize": "1",
        },
        actor="system:test",
    )
    filled = trader.venue_order(31, clOrdID="PX-FILLED", symbol="TICKY", ordType="Limit", price="100.5")
    trader.fill(filled, 1, "100.05")
    trader.fill(filled, 2, "100.1")
    for _ in range(28):  # a long history: 32 events on the market order; avgPx 100.0532258...
        trader.fill(filled, 1, "100.05")
    trader.client_order(5, clOrdID="PX-OPEN", symbol="TICKY", ordType="Limit", price="99.95")
    trader.client_order(5, clOrdID="PX-NOINST", symbol="NOINST", ordType="Limit", price="10.5")
    page = new_page(desk_user)  # the page reads the instruments' ticks when it loads
    wait_live(page)

    root = row(page, "PX-FILLED")
    expect(cell(root, "price")).to_have_text("100.50")
    expect(cell(root, "avgPx")).to_have_text("100.0532")  # (100.05 * 29 + 100.1 * 2) / 31
    expect(cell(row(page, "PX-OPEN"), "price")).to_have_text("99.95")
    expect(cell(row(page, "PX-OPEN"), "avgPx")).to_have_text("")  # nothing filled: blank, not 0
    expect(cell(row(page, "PX-NOINST"), "price")).to_have_text("10.50")  # no instrument: two decimals
    assert Order.objects.get(cl_ord_id="PX-OPEN").doc["avgPx"] == "0"  # the document is untouched

    # the detail panel: labels, not API keys; prices to the tick; AvgPx left out while unfilled
    row(page, "PX-OPEN").click()
    expect(page.locator("#detail-title")).to_contain_text("PX-OPEN")
    labels = page.locator("#detail-fields dt").all_inner_texts()
    assert {"Quantity", "Filled qty", "Leaves qty", "Limit price", "Order type", "Time in force"} <= set(
        labels
    )
    assert [t for t in labels if CAMEL.match(t)] == []
    expect(detail(page, "price")).to_have_text("99.95")
    expect(detail(page, "avgPx")).to_have_count(0)

    # the market order's whole history, in its own scrolling area, nothing cut off
    page.uncheck("#tree")  # every order a row of its own
    market = Order.objects.get(pk=filled["orderId"]).doc
    row(page, market["clOrdID"]).click()
    expect(page.locator("#detail-title")).to_contain_text(market["clOrdID"])
    expect(detail(page, "avgPx")).to_have_text("100.0532")
    expect(detail(page, "rootId")).to_have_text("PX-FILLED")  # a reference, not an internal id
    events = page.locator("#detail-events tbody tr")
    expect(events).to_have_count(market["version"])
    expect(page.locator("#detail-count")).to_have_text(f"{market['version']} events")
    history = page.locator("#detail-history")
    sizes = history.evaluate(
        "el => ({sh: el.scrollHeight, ch: el.clientHeight, sw: el.scrollWidth, cw: el.clientWidth})"
    )
    assert sizes["sh"] > sizes["ch"], sizes  # longer than the panel: it scrolls...
    assert sizes["sw"] <= sizes["cw"] + 1, sizes  # ...and nothing is cut off at the side
    last = events.last
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    expect(last.locator("td").last).to_have_text("Filled 31/31 @ 100.0532")
    box, frame = last.bounding_box(), history.bounding_box()
    assert box and frame and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    screenshot(page, "blotter-detail-polish")
    assert page.errors == []


def test_review_reasons_in_words_and_rfq_references(desk_page: Page, trader: Any) -> None:
    wait_live(desk_page)
    held = trader.execute(trader.venue_order(5, clOrdID="RV-WORDS"), 6, "10")["execution"]
    assert held["reviewReasons"] == ["overfill"]
    request = new_request(quoteReqID="QR-REF-1", symbol="ACME", orderQty="5")
    quote = new_quote(request, quoteID="QT-REF-1")
    accepted = dispatch(
        "quotes", {"commandType": "AcceptQuoteCommand", "quoteId": quote["quoteId"]}, actor="trader"
    ).body
    order = accepted["order"]

    # the review queue and the detail panel say why in words (the admin's), the code in a tooltip
    desk_page.click("#tab-review")
    r = row(desk_page, held["execID"])
    words = REVIEW_REASON_TEXT["overfill"]
    expect(cell(r, "reviewReasons")).to_have_text(words)
    r.click()
    expect(detail(desk_page, "reviewReasons")).to_have_text(words)
    expect(detail(desk_page, "reviewReasons")).to_have_attribute("title", "overfill")
    expect(detail(desk_page, "orderId")).to_have_text(Order.objects.get(pk=held["orderId"]).doc["clOrdID"])
    assert "{" not in desk_page.locator("#detail-fields").inner_text()  # no raw JSON

    # the RFQ grids name the accepted quote and the order a desk knows, not internal ids
    desk_page.click("#tab-quote-requests")
    r = row(desk_page, "QR-REF-1")
    expect(cell(r, "acceptedQuoteID")).to_have_text("QT-REF-1")
    expect(cell(r, "orderClOrdID")).to_have_text(order["clOrdID"])
    shown = r.inner_text().replace(order["clOrdID"], "")  # an accept's clOrdID is made of its quote's id
    assert quote["quoteId"] not in shown and order["orderId"] not in shown
    desk_page.click("#tab-quotes")
    r = row(desk_page, "QT-REF-1")
    expect(cell(r, "quoteReqID")).to_have_text("QR-REF-1")
    expect(cell(r, "orderClOrdID")).to_have_text(order["clOrdID"])
    assert order["orderId"] not in r.inner_text()
    assert Execution.objects.get(pk=held["executionId"]).doc["status"] == "PendingReview"
    assert desk_page.errors == []


def test_fill_waits_for_the_venue_warns_of_an_overfill_and_errors_go_stale(
    desk_page: Page, trader: Any, screenshot: Any
) -> None:
    wait_live(desk_page)
    pending = trader.venue_order(5, clOrdID="FW-1", accept=False)
    desk_page.uncheck("#tree")
    fill_button = desk_page.locator('#actions button[data-action="fill"]')

    # PendingNew: the venue has not accepted it, no Fill (the server refuses it too)
    row(desk_page, pending["clOrdID"]).click()
    expect(desk_page.locator("#detail-title")).to_contain_text(pending["clOrdID"])
    expect(fill_button).to_be_disabled()
    expect(desk_page.locator('#actions button[data-action="accept"]')).to_be_enabled()
    trader.do("AcceptOrderCommand", pending)
    expect(fill_button).to_be_enabled()

    # an overfill is warned about as it is typed, and held back once before it is sent
    fill_button.click()
    expect(desk_page.locator(FORM)).to_have_attribute("data-oms-form", "fill")
    warning = desk_page.locator(f"{FORM} .oms-warning")
    field(desk_page, "lastPx").fill("10")
    field(desk_page, "lastQty").fill("4")
    expect(warning).to_have_count(0)
    field(desk_page, "lastQty").fill("7")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Above the 5 the order can still take")
    screenshot(desk_page, "form-fill-overfill-warning")
    posts: list[str] = []
    desk_page.on(
        "request", lambda r: r.method == "POST" and "/blotter/forms/" in r.url and posts.append(r.url)
    )
    desk_page.locator(f"{FORM} button[type=submit]").click()
    expect(warning).to_contain_text("Send again to enter it anyway")
    desk_page.wait_for_timeout(300)
    assert posts == []
    expect(desk_page.locator(FORM)).to_be_visible()
    # sent again knowingly: the server handles it as always (held for review, the order unchanged)
    desk_page.locator(f"{FORM} button[type=submit]").click()
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    assert len(posts) == 1
    held = Execution.objects.get(order_id=pending["orderId"]).doc
    assert (held["status"], held["reviewReasons"]) == ("PendingReview", ["overfill"])
    assert trader.refresh(pending)["cumQty"] == "0"

    # the toast says so without covering the toolbars (or their buttons)
    toast = desk_page.locator("#toasts .toast").last
    expect(toast).to_contain_text("held for review")
    toast_box = toast.bounding_box()
    assert toast_box
    for bar in desk_page.locator("header.top, .toolbar").all():
        bar_box = bar.bounding_box()
        if bar_box is not None:  # a bar not shown covers nothing
            assert not boxes_overlap(toast_box, bar_box), (toast_box, bar_box)
    kill = desk_page.locator("#controls-bar button").last
    kill_box = kill.bounding_box()
    assert kill_box
    hit = desk_page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#controls-bar') !== null",
        [kill_box["x"] + kill_box["width"] / 2, kill_box["y"] + kill_box["height"] / 2],
    )
    assert hit  # the toolbar's own button is on top at its centre

    # a field's error goes stale once the value changes, and comes back with the refused value
    desk_page.evaluate(
        "() => { window.openForm('/blotter/forms/new/'); }"
    )  # not awaited: it resolves on close
    expect(desk_page.locator(FORM)).to_have_attribute("data-oms-form", "new")
    field(desk_page, "side").select_option("Buy")
    field(desk_page, "symbol").fill("ACME")
    field(desk_page, "orderQty").fill("abc")
    field(desk_page, "price").fill("10")
    field(desk_page, "account").fill("ACC1")
    desk_page.locator(f"{FORM} button[type=submit]").click()
    qty = desk_page.locator(f'{FORM} .oms-field[data-field="orderQty"]')
    expect(qty.locator(".errorlist")).to_have_text("Enter a number.")
    expect(qty).to_have_class(re.compile(r"\bhas-error\b"))
    field(desk_page, "orderQty").fill("10")
    expect(qty.locator(".errorlist")).to_be_hidden()
    expect(qty).not_to_have_class(re.compile(r"\bhas-error\b"))
    field(desk_page, "orderQty").fill("abc")  # the refused value again: its error again
    expect(qty.locator(".errorlist")).to_be_visible()
    field(desk_page, "orderQty").fill("10")
    desk_page.locator(f"{FORM} button[type=submit]").click()
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    # the refused form's 400 is the browser's console line for the answer it rendered, no error of ours
    assert [e for e in desk_page.errors if "status of 400" not in e] == []
