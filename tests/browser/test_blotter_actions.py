"""The page's action buttons follow the selected document's allowedActions, live: a change
pushed by the feed (here a cancel sent elsewhere) greys the buttons out without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def button(page: Page, action: str) -> Any:
    return page.locator(f'#actions button[data-action="{action}"]')


def test_the_buttons_follow_allowed_actions_as_the_order_changes(desk_page: Page, trader: Any) -> None:
    order = trader.client_order(10, clOrdID="WEB-ALLOWED-1")
    assert {"cancel", "replace", "place"} <= set(order["allowedActions"])
    expect(desk_page.locator(".tabulator").first).to_be_visible()
    row = desk_page.locator(".tabulator-row", has_text="WEB-ALLOWED-1").first
    expect(row).to_be_visible()
    row.locator('.tabulator-cell[tabulator-field="symbol"]').click()

    for action in ("cancel", "replace", "place"):
        expect(button(desk_page, action)).to_be_enabled()
    expect(button(desk_page, "fill")).to_be_disabled()  # a client order takes no desk fill

    canceled = trader.cancel(order)  # by someone else: the page learns it from the feed
    assert canceled["allowedActions"] == []
    # the detail panel shows the selected order as the feed has it (its clOrdID is now the cancel's)
    expect(desk_page.locator("#detail-fields dd.status")).to_have_text("Canceled")
    for action in ("cancel", "replace", "place"):
        expect(button(desk_page, action)).to_be_disabled()
