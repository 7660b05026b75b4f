"""The page's action buttons follow the selected document's allowedActions, live: a change
pushed by the feed (here a cancel sent elsewhere) greys the buttons out without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.venues_support import fresh_sim_venue

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


def select(page: Page, parent_cl_ord_id: str, cl_ord_id: str) -> None:
    """Expand the client order's row and select its market order's."""
    parent = page.locator(".tabulator-row", has_text=parent_cl_ord_id).first
    expect(parent).to_be_visible()
    parent.locator(".tabulator-data-tree-control").click()
    row = page.locator(".tabulator-row", has_text=cl_ord_id).first
    expect(row).to_be_visible()
    row.locator('.tabulator-cell[tabulator-field="symbol"]').click()
    expect(page.locator("#detail-fields")).to_contain_text(cl_ord_id)


def test_an_order_at_sim_offers_no_venue_report_while_a_manual_one_still_does(
    desk_page: Page, trader: Any, settings: Any, tmp_path: Any
) -> None:
    with fresh_sim_venue(settings, tmp_path):  # its own SIM, reset after: no order left open there
        _sim_order_and_manual_order(desk_page, trader)


def _sim_order_and_manual_order(desk_page: Page, trader: Any) -> None:
    from oms.core.dispatch import dispatch

    dispatch(
        "instruments",
        {"commandType": "UpsertInstrumentCommand", "venue": "SIM", "symbol": "ACTS-PERP",
         "kind": "Perpetual", "tickSize": "0.5", "lotSize": "1"},
        actor="system:test",
    )  # fmt: skip
    dispatch(
        "sim",
        {"commandType": "SimSetMarketCommand", "symbol": "ACTS-PERP", "bidPx": "100", "askPx": "101",
         "bidSize": "5", "askSize": "0"},
        actor="system:test",
    )  # fmt: skip
    sim_parent = trader.client_order(4, clOrdID="WEB-SIM-PARENT", symbol="ACTS-PERP", venue="SIM")
    at_sim = trader.child(sim_parent, 4, clOrdID="WEB-AT-SIM", venue="SIM", ordType="Limit", price="100.5")
    at_manual = trader.venue_order(4, accept=False, clOrdID="WEB-MANUAL-PARENT")
    assert "accept" not in trader.refresh(at_sim)["allowedActions"]
    expect(desk_page.locator(".tabulator").first).to_be_visible()

    select(desk_page, "WEB-SIM-PARENT", "WEB-AT-SIM")
    expect(button(desk_page, "cancel")).to_be_enabled()
    for action in ("accept", "fill", "reject", "confirm-cancel", "confirm-replace"):
        expect(button(desk_page, action)).to_be_disabled()

    select(desk_page, "WEB-MANUAL-PARENT", at_manual["clOrdID"])
    for action in ("accept", "reject", "confirm-cancel"):
        expect(button(desk_page, action)).to_be_enabled()
