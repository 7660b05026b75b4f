"""The risk view's discrepancies queue (static/blotter/discrepancies.js) against reconciliation
with the SIM venue, in real Chromium against a live daphne, on SQLite and on PostgreSQL+Redis.

An order open at SIM that the OMS never sent: "Reconcile" on the venue's card finds it (and adopts
it, held for the desk's review), the queue shows it live with an alert (and the SAFE mode
reconciliation engaged), a "Resolve" the server refuses says why in the dialog, and a reasoned
one resolves it.

The server and this process share one SIM venue (its store under OMS_VAR_DIR or Redis, with a
prefix of this test's own): the test plays the venue's other clients through the adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core.dispatch import dispatch
from oms.venues.adapter import PlaceRequest, VenueSide, reset_adapters
from oms.venues.routing import adapter_for
from tests.browser.conftest import LiveServer, server_env
from tests.browser.test_blotter_risk import open_risk
from tests.conftest import uid
from tests.venues_support import sim_instrument, sim_market

pytestmark = pytest.mark.browser
SYMBOL = "BTC-PERP"


@pytest.fixture
def oms_server(transactional_db: Any, settings: Any, admin_user: Any) -> Iterator[LiveServer]:
    """daphne with a SIM venue of this test's own, shared with this process (the fixture of
    tests/browser/conftest.py with OMS_SIM_PREFIX set on both sides)."""
    prefix = f"sim-risk-{uid('P')}"
    settings.OMS_SIM_PREFIX = prefix
    reset_adapters()
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor="system:test",
    )
    sim_instrument(SYMBOL)
    sim_market(SYMBOL, "100", "101", "50", "0")  # nothing offered: a buy rests at the venue
    server = LiveServer(server_env(OMS_SIM_PREFIX=prefix))
    server.start()
    try:
        yield server
    finally:
        server.close()
        reset_adapters()


def test_reconcile_finds_an_unknown_venue_order_and_the_desk_resolves_it_once_the_venue_agrees(
    desk_page: Page,
) -> None:
    open_risk(desk_page)
    card = desk_page.locator('#venues-strip .venue-card[data-venue="SIM"]')
    expect(desk_page.locator("#discrepancies")).to_be_visible()
    adapter = adapter_for("SIM")
    assert adapter is not None
    rogue = uid("ROGUE")
    adapter.place_order(
        PlaceRequest(
            cl_ord_id=rogue, symbol=SYMBOL, side=VenueSide.BUY, order_qty=Decimal(1), account="ACC-R"
        )
    )

    card.locator("button.reconcile").click()
    expect(desk_page.locator("#toasts")).to_contain_text("SIM reconciled")
    row = desk_page.locator('#discrepancies tbody tr[data-kind="unknown_venue_order"]')
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "Open")
    expect(row).to_contain_text(rogue)
    expect(desk_page.locator("#discrepancies-count")).to_have_text("1")
    expect(desk_page.locator('#alerts .alert[data-kind="discrepancy"]')).to_contain_text(
        "Discrepancy at SIM: unknown_venue_order"
    )
    expect(desk_page.locator('#alerts .alert[data-kind="safe"]')).to_contain_text("engaged by reconciliation")
    expect(card).not_to_have_attribute("data-safe", "0")

    # a resolve without a reason is refused by the server: the dialog says why and stays
    row.locator("button.resolve").click()
    dialog = desk_page.locator("#resolve-dialog")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog.locator(".error")).to_contain_text("validation_failed")
    expect(dialog.locator(".error")).to_contain_text("reason")
    expect(dialog).to_be_visible()
    expect(row).to_have_attribute("data-status", "Open")

    # reconciliation adopted the venue order (held for the desk's review): the desk resolves it
    dialog.locator('input[name="reason"]').fill("reviewed the adopted order")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(desk_page.locator('#discrepancies tbody tr[data-kind="unknown_venue_order"]')).to_have_count(0)
    expect(desk_page.locator("#discrepancies-count")).to_have_text("")
    desk_page.locator("#discrepancies-status").select_option("Resolved")
    expect(desk_page.locator('#discrepancies tbody tr[data-status="Resolved"]')).to_have_count(1)
    # the refused resolve's 400 is the browser's log line of a response the page handled
    assert [e for e in desk_page.errors if "400 (Bad Request)" not in e] == []
