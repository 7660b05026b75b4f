"""The desk forms in a real browser: the blotter page's dialog hosting blotter/forms.py's fragments
against a live daphne (fixtures in tests/browser/conftest.py; contract in
docs/design/blotter-dialog-contract.md).

An order entered through the form appears in a second browser's blotter without a reload; fills
entered for a MANUAL venue order update cumQty/leaves/status; bad input shows the field error
and changes nothing; Enter in a field sends nothing; a viewer has no action buttons and a forged
POST is refused; a large notional needs the confirmation ticked. Screenshots of the forms go to
the artifacts dir (docs/screenshots/ with OMS_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core import eventfeed
from oms.orders.models import Order, OrderEvent

pytestmark = pytest.mark.browser

DIALOG = "#oms-dialog"
FORM = f"{DIALOG} form[data-oms-form]"


def _events() -> int:
    """The events appended, but the positions' (an order's open quantity follows it on
    position-events, oms/positions)."""
    return eventfeed.count_events_after(0, [t for t in eventfeed.topics() if t != "position-events"])


def open_form(page: Page, url: str) -> Any:
    """Open a form in the page's dialog (window.openForm of static/blotter/dialog.js)."""
    page.evaluate("url => { window.openForm(url); }", url)
    form = page.locator(FORM)
    expect(form).to_be_visible()
    return form


def field(page: Page, name: str) -> Any:
    return page.locator(f'{FORM} [name="{name}"]')


def field_error(page: Page, name: str) -> Any:
    return page.locator(f'{FORM} .oms-field[data-field="{name}"] .errorlist')


def send(page: Page) -> None:
    page.locator(f"{FORM} button[type=submit]").click()


def grid_row(page: Page, text: str) -> Any:
    return page.locator(".tabulator-row", has_text=text).first


def cell(row: Any, name: str) -> Any:
    return row.locator(f'.tabulator-cell[tabulator-field="{name}"]')


def wait_grid(page: Page) -> None:
    expect(page.locator(".tabulator").first).to_be_visible()


def fill_new_order(page: Page, **values: str) -> None:
    defaults = {"symbol": "BTC-PERP", "orderQty": "2", "price": "50000", "account": "ACC1", "venue": "MANUAL"}
    for name, value in {**defaults, **values}.items():
        field(page, name).fill(value)
    field(page, "side").select_option("Buy")


def test_new_order_through_the_form_appears_in_another_blotter_live(
    desk_page: Page, new_page: Any, viewer_user: Any, screenshot: Any
) -> None:
    watcher = new_page(viewer_user)
    wait_grid(watcher)
    wait_grid(desk_page)

    desk_page.keyboard.press("n")  # the shortcut opens the new-order form
    expect(desk_page.locator(FORM)).to_be_visible()
    fill_new_order(desk_page, clOrdID="WEB-NEW-1")
    screenshot(desk_page, "form-new-order")
    desk_page.locator(f"{FORM} button[type=submit]").dblclick()  # an impatient double click

    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    expect(desk_page.locator("#toasts .toast.success")).to_contain_text("WEB-NEW-1")
    row = grid_row(watcher, "WEB-NEW-1")  # the other browser never reloads
    expect(row).to_be_visible()
    expect(cell(row, "symbol")).to_have_text("BTC-PERP")
    order = Order.objects.get(cl_ord_id="WEB-NEW-1")
    assert order.doc["status"] == "New"
    assert OrderEvent.objects.filter(aggregate_id=order.order_id).count() == 1  # sent once


def test_fills_for_a_manual_venue_order_update_the_blotter(
    desk_page: Page, trader: Any, screenshot: Any
) -> None:
    market = trader.venue_order(10, ordType="Limit", price="100")
    client_cl = trader.get(market["parentId"])["clOrdID"]
    wait_grid(desk_page)
    row = grid_row(desk_page, client_cl)
    expect(cell(row, "status")).to_have_text("New")

    open_form(desk_page, f"/blotter/forms/fill/?orderId={market['orderId']}")
    expect(field(desk_page, "lastQty")).to_have_value("10")  # prefilled with what is left
    field(desk_page, "lastQty").fill("4")
    field(desk_page, "lastPx").fill("99.5")
    screenshot(desk_page, "form-fill")
    send(desk_page)
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    expect(cell(row, "cumQty")).to_have_text("4")
    expect(cell(row, "leavesQty")).to_have_text("6")
    expect(cell(row, "status")).to_have_text("PartiallyFilled")

    open_form(desk_page, f"/blotter/forms/fill/?orderId={market['orderId']}")
    expect(field(desk_page, "lastQty")).to_have_value("6")
    send(desk_page)
    expect(cell(row, "cumQty")).to_have_text("10")
    expect(cell(row, "leavesQty")).to_have_text("0")
    expect(cell(row, "status")).to_have_text("Filled")

    # the other desk forms, for the README
    client = trader.client_order(100, ordType="Limit", price="10")
    open_form(desk_page, f"/blotter/forms/place/?orderId={client['orderId']}")
    expect(field(desk_page, "orderQty")).to_have_value("100")
    screenshot(desk_page, "form-place")
    desk_page.keyboard.press("Escape")
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    open_form(desk_page, f"/blotter/forms/replace/?orderId={client['orderId']}")
    expect(field(desk_page, "price")).to_have_value("10")
    screenshot(desk_page, "form-replace")


def test_bad_input_shows_the_field_error_and_changes_nothing_then_a_double_send_appends_once(
    desk_page: Page, screenshot: Any
) -> None:
    wait_grid(desk_page)
    before = _events()
    open_form(desk_page, "/blotter/forms/new/")
    fill_new_order(desk_page, orderQty="abc", symbol="")
    send(desk_page)

    expect(field_error(desk_page, "orderQty")).to_have_text("Enter a number.")
    expect(field_error(desk_page, "symbol")).to_have_text("This field is required.")
    expect(desk_page.locator(DIALOG)).to_be_visible()
    screenshot(desk_page, "form-field-errors")
    assert _events() == before

    # a handler's refusal is shown on its field too: a Limit order needs a price
    fill_new_order(desk_page, price="")
    send(desk_page)
    expect(field_error(desk_page, "price")).to_have_text("Required for Limit and StopLimit orders.")
    assert _events() == before

    # corrected, the same form sent twice at once (a double send): one order, one answer
    fill_new_order(desk_page, clOrdID="")  # generated from the form's one-time token
    before = _events()
    answers = desk_page.evaluate(
        """async () => {
            const form = document.querySelector("#oms-dialog form[data-oms-form]");
            const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
            const post = () => fetch(form.action, {method: "POST", body: new FormData(form),
                headers: {"X-CSRFToken": csrf}}).then(async (r) => ({status: r.status, body: await r.json()}));
            return Promise.all([post(), post()]);
        }"""
    )
    assert [a["status"] for a in answers] == [200, 200]
    orders = [a["body"]["result"]["order"] for a in answers]
    assert orders[0] == orders[1]
    assert sorted(a["body"]["replayed"] for a in answers) == [False, True]
    assert _events() == before + 1
    assert Order.objects.filter(cl_ord_id=orders[0]["clOrdID"]).count() == 1


def test_enter_never_sends_ctrl_enter_does_and_large_notional_needs_confirming(
    desk_page: Page, screenshot: Any
) -> None:
    wait_grid(desk_page)
    open_form(desk_page, "/blotter/forms/new/")
    fill_new_order(desk_page, clOrdID="WEB-ENTER-1")
    posts: list[str] = []
    desk_page.on(
        "request", lambda r: r.method == "POST" and "/blotter/forms/" in r.url and posts.append(r.url)
    )

    for name in ("orderQty", "price", "symbol"):
        field(desk_page, name).press("Enter")
    field(desk_page, "side").press("Enter")
    desk_page.wait_for_timeout(500)

    assert posts == []
    assert not Order.objects.filter(cl_ord_id="WEB-ENTER-1").exists()
    expect(desk_page.locator(FORM)).to_be_visible()

    field(desk_page, "orderQty").press("Control+Enter")
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    assert len(posts) == 1
    assert Order.objects.filter(cl_ord_id="WEB-ENTER-1").count() == 1

    # a large notional asks for confirmation, checked by the server
    open_form(desk_page, "/blotter/forms/new/")
    fill_new_order(desk_page, clOrdID="WEB-BIG-1", orderQty="100", price="50000")  # 5,000,000
    send(desk_page)

    expect(field_error(desk_page, "confirm")).to_contain_text("tick to confirm")
    screenshot(desk_page, "form-confirm-notional")
    assert not Order.objects.filter(cl_ord_id="WEB-BIG-1").exists()
    field(desk_page, "confirm").check()
    send(desk_page)
    expect(desk_page.locator(DIALOG)).not_to_be_visible()
    assert Order.objects.get(cl_ord_id="WEB-BIG-1").doc["orderQty"] == "100"


def test_a_viewer_cannot_act(viewer_page: Page, trader: Any) -> None:
    order = trader.client_order(10)
    wait_grid(viewer_page)
    expect(grid_row(viewer_page, order["clOrdID"])).to_be_visible()  # sees everything
    expect(
        viewer_page.get_by_role("button", name=re.compile(r"^(New order|Cancel|Fill|Place)$"))
    ).to_have_count(0)
    expect(viewer_page.locator("#actions button")).to_have_count(0)

    before = _events()
    viewer_page.keyboard.press("n")
    expect(viewer_page.locator(FORM)).to_have_count(0)
    answer = viewer_page.evaluate(
        """async (orderId) => {
            const csrf = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";
            const body = new URLSearchParams({orderId, clOrdID: "FORGED-1", token: "f".repeat(32)});
            const r = await fetch("/blotter/forms/cancel/", {method: "POST", body,
                headers: {"X-CSRFToken": csrf, "X-Requested-With": "XMLHttpRequest"}});
            return {status: r.status, body: await r.text()};
        }""",
        order["orderId"],
    )
    assert answer["status"] == 403
    assert "permission_denied" in answer["body"]  # refused by the form view, not by CSRF
    assert _events() == before
    assert trader.refresh(order)["status"] == "New"
