"""The desk's controls in the blotter (static/blotter/controls.js, preview.js) in real Chromium
against a live daphne (fixtures: tests/browser/conftest.py).

The controls bar shows a SAFE mode and a venue's feed health as they are committed (live, from
the page's feed); the kill switch cancels working orders only once confirmed; a refused order
appears in the refusals panel with its rule and numbers; the new-order form previews as the desk
types: a price_collar refusal for an off-market limit, accepted for a sane one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from oms.core.dispatch import dispatch
from oms.orders.models import Order

pytestmark = pytest.mark.browser
SYSTEM = "system:test"


def wait_live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=15_000)


def limits(**fields: Any) -> None:
    dispatch(
        "limits", {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", **fields}, actor=SYSTEM
    )


def test_a_safe_mode_and_a_venue_feed_change_arrive_live_in_the_controls_bar(desk_page: Page) -> None:
    wait_live(desk_page)
    expect(desk_page.locator("#safe-scopes")).to_contain_text("no SAFE mode")
    dispatch(
        "controls",
        {
            "commandType": "EngageSafeModeCommand",
            "scope": "venue",
            "key": "SIM",
            "reason": "fat finger drill",
        },
        actor="trader",
    )
    chip = desk_page.locator('#safe-scopes .chip[data-scope="venue:SIM"]')
    expect(chip).to_contain_text("fat finger drill")
    expect(chip).to_contain_text("trader")
    expect(desk_page.locator("body")).to_have_attribute("data-safe", "on")
    control_id = chip.get_attribute("data-control-id")
    dispatch(
        "controls",
        {"commandType": "ReleaseSafeModeCommand", "controlId": control_id, "reason": "done"},
        actor=SYSTEM,
    )
    expect(chip).to_have_count(0)
    expect(desk_page.locator("body")).to_have_attribute("data-safe", "off")

    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "DRILL", "adapter": "SIM", "mode": "Paper"},
        actor=SYSTEM,
    )
    # later than any report the SIM worker inside daphne may send meanwhile (older ones are ignored)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    dispatch(
        "venues",
        {"commandType": "RecordVenueFeedCommand", "venue": "DRILL", "feed": "Stale", "lastMessageAt": later},
        actor=SYSTEM,
    )
    venue = desk_page.locator('#venue-health .chip[data-venue="DRILL"]')
    expect(venue).to_have_attribute("data-feed", "Stale")
    expect(venue).to_contain_text("Paper")
    assert desk_page.errors == []


def test_the_kill_switch_cancels_working_orders_after_confirmation_and_not_when_dismissed(
    desk_page: Page, trader: Any
) -> None:
    orders = [trader.client_order(5), trader.client_order(7)]
    wait_live(desk_page)
    ids = [o["orderId"] for o in orders]

    desk_page.locator("#kill-switch").click()
    dialog = desk_page.locator("#kill-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('button[value="dismiss"]').click()
    expect(dialog).to_be_hidden()
    desk_page.wait_for_timeout(300)
    assert {o.status for o in Order.objects.filter(pk__in=ids)} == {"New"}

    desk_page.locator("#kill-switch").click()
    dialog.locator('select[name="scope"]').select_option("account")
    dialog.locator('input[name="key"]').fill("ACC1")
    dialog.locator('input[name="reason"]').fill("runaway algo")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(desk_page.locator("#toasts")).to_contain_text("2 orders canceled")
    assert {o.status for o in Order.objects.filter(pk__in=ids)} == {"Canceled"}
    assert desk_page.errors == []


def test_a_kill_switch_refused_by_the_server_says_why_in_the_dialog(desk_page: Page) -> None:
    wait_live(desk_page)
    desk_page.locator("#kill-switch").click()
    dialog = desk_page.locator("#kill-dialog")
    dialog.locator('select[name="scope"]').select_option("venue")  # a venue scope needs its key
    dialog.locator('button[value="confirm"]').click()
    expect(dialog.locator(".error")).not_to_be_empty()
    expect(dialog).to_be_visible()


def test_a_refused_order_appears_live_with_its_rule_and_numbers(desk_page: Page, trader: Any) -> None:
    limits(maxOrderQty="10")
    wait_live(desk_page)
    desk_page.locator("#refusals-toggle").click()
    error = trader.refused(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": "REF-1",
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "11",
            "ordType": "Market",
            "account": "ACC1",
            "handling": "Desk",
        },
        422,
        "rule_refused",
    )
    assert error["rule"] == "max_order_qty"
    row = desk_page.locator('#refusals tr[data-rule="max_order_qty"]')
    expect(row).to_contain_text("limit 10")
    expect(row).to_contain_text("value 11")
    expect(row).to_contain_text("ACC1 ACME Buy 11")
    expect(row).to_contain_text("trader")
    expect(desk_page.locator("#refusals-count")).to_have_text("1")


def test_the_new_order_form_previews_a_collar_refusal_then_acceptance_as_the_desk_types(
    desk_page: Page,
) -> None:
    dispatch(
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": "SIM",
            "symbol": "ACME",
            "bids": [["99", "5"]],
            "asks": [["101", "5"]],
        },
        actor=SYSTEM,
    )
    limits(priceCollarPct="5")
    wait_live(desk_page)
    prices: list[str] = []
    desk_page.on(
        "request",
        lambda r: (
            r.url.endswith("/orders/preview")
            and prices.append(json.loads(r.post_data or "{}").get("price", ""))
        ),
    )
    desk_page.evaluate("url => { window.openForm(url); }", "/blotter/forms/new/")
    form = desk_page.locator('#oms-dialog form[data-oms-form="new"]')
    form.locator('[name="side"]').select_option("Buy")
    form.locator('[name="symbol"]').fill("ACME")
    form.locator('[name="orderQty"]').fill("2")
    form.locator('[name="account"]').fill("ACC1")
    form.locator('[name="ordType"]').select_option("Limit")
    form.locator('[name="price"]').press_sequentially("150")
    preview = form.locator(".order-preview")
    expect(preview).to_have_attribute("data-state", "refused")
    refusal = preview.locator('[data-rule="price_collar"]')
    expect(refusal).to_contain_text("referencePx 101")
    expect(refusal).to_contain_text("value 150")
    assert "1" not in prices and "15" not in prices and "150" in prices  # debounced: one per pause
    form.locator('[name="price"]').fill("100")
    expect(preview).to_have_attribute("data-state", "accepted")
    expect(preview.locator(".estimate")).to_contain_text("referencePx 101")
    expect(preview.locator(".routing")).to_contain_text("Routing:")
    assert Order.objects.count() == 0  # the preview wrote nothing


def test_a_viewer_sees_the_controls_but_no_kill_switch(viewer_page: Page) -> None:
    wait_live(viewer_page)
    expect(viewer_page.locator("#safe-scopes")).to_contain_text("no SAFE mode")
    expect(viewer_page.locator("#kill-switch")).to_have_count(0)
    expect(viewer_page.locator("#engage-safe")).to_have_count(0)


def test_the_desk_engages_safe_mode_from_the_bar(desk_page: Page) -> None:
    wait_live(desk_page)
    desk_page.locator("#engage-safe").click()
    dialog = desk_page.locator("#safe-dialog")
    dialog.locator('select[name="scope"]').select_option("symbol")
    dialog.locator('input[name="key"]').fill("ACME")
    dialog.locator('input[name="reason"]').fill("news pending")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog).to_be_hidden()
    chip = desk_page.locator('#safe-scopes .chip[data-scope="symbol:ACME"]')
    expect(chip).to_contain_text("news pending")
    expect(chip).to_contain_text("trader")


def test_controls_and_refusals_committed_before_the_page_opened_are_shown_on_load(
    new_page: Any, desk_user: Any, trader: Any
) -> None:
    dispatch(
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "global", "reason": "open check"},
        actor="trader",
    )
    status, answer = trader.send(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": "REF-2",
            "symbol": "ACME",
            "side": "Sell",
            "orderQty": "3",
            "ordType": "Market",
            "account": "ACC9",
            "handling": "Desk",
        },
    )
    assert (status, answer["error"]["rule"]) == (422, "safe_mode")
    page = new_page(desk_user)
    wait_live(page)
    expect(page.locator('#safe-scopes .chip[data-scope="global:*"]')).to_contain_text("open check")
    page.locator("#refusals-toggle").click()
    row = page.locator('#refusals tr[data-rule="safe_mode"]')
    expect(row).to_contain_text("ACC9 ACME Sell 3")
    expect(row).to_contain_text("trader")


# --- refusals in the desk queue ------------------------------------------------------------------


def refused_create(trader: Any, cl_ord_id: str, qty: str, account: str = "ACC1") -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": cl_ord_id,
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": qty,
        "ordType": "Limit",
        "price": "10",
        "account": account,
        "handling": "Desk",
    }
    return trader.refused("orders", body, 422, "rule_refused")  # type: ignore[no-any-return]  # the JSON body is Any


def queue_row(page: Page, text: str) -> Any:
    return page.locator(".grid:not([hidden]) .tabulator-row", has_text=text).first


def test_refusals_appear_in_the_desk_queue_with_the_rule_and_the_numbers(
    new_page: Any, desk_user: Any, trader: Any
) -> None:
    limits(maxOrderQty="10")
    working = trader.client_order(5)  # a desk order the queue holds as before
    assert refused_create(trader, "REF-Q1", "12")["rule"] == "max_order_qty"  # before the page opened
    page = new_page(desk_user)
    wait_live(page)
    page.locator("#tab-desk").click()
    expect(queue_row(page, working["clOrdID"])).to_be_visible()
    loaded = queue_row(page, "REF-Q1")
    expect(loaded.locator('[tabulator-field="status"]')).to_have_text("Refused")
    expect(loaded.locator('[tabulator-field="refusal"]')).to_contain_text(
        "max_order_qty: limit 10 · value 12"
    )

    refused_create(trader, "REF-Q2", "11", account="ACC7")  # live, while the desk looks at its queue
    row = queue_row(page, "REF-Q2")
    expect(row.locator('[tabulator-field="status"]')).to_have_text("Refused")
    cell = row.locator('[tabulator-field="refusal"] .refused-by')
    expect(cell).to_have_text("max_order_qty: limit 10 · value 11")
    expect(cell).to_have_attribute("title", "orderQty 11 exceeds the limit 10")
    expect(row.locator('[tabulator-field="account"]')).to_have_text("ACC7")
    expect(row.locator('[tabulator-field="orderQty"]')).to_have_text("11")
    # the panel still lists them, and the refusal rows take no desk action
    page.locator("#refusals-toggle").click()
    expect(page.locator('#refusals tr[data-rule="max_order_qty"]')).to_have_count(2)
    expect(page.locator("#tab-desk .badge")).to_have_text("1")
    assert page.errors == []


# --- SAFE release (superuser) and arming (two users) from the bar ---------------------------------


def js_errors(page: Page) -> list[str]:
    """Script errors (a refused command's 4xx is logged by the browser as a failed resource: expected)."""
    return [e for e in page.errors if "Failed to load resource" not in e]


def _desk_user(username: str) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username)
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    return user


def test_a_superuser_releases_safe_mode_with_a_reason_once_no_discrepancy_is_open(
    new_page: Any, admin_user: Any, desk_user: Any
) -> None:
    from oms.positions.dirty import clear_dirty, mark_dirty
    from rules.models import Control

    engaged = dispatch(
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "account", "key": "ACCX", "reason": "drift"},
        actor="trader",
    ).body["control"]
    mark_dirty("ACCX", "SIM", "ACME", "discrepancy:D1")
    desk = new_page(desk_user)
    wait_live(desk)
    expect(desk.locator('#safe-scopes .chip[data-scope="account:ACCX"]')).to_be_visible()
    expect(desk.locator('#safe-scopes [data-action="release"]')).to_have_count(0)  # desk: no release

    page = new_page(admin_user)
    wait_live(page)
    chip = page.locator('#safe-scopes .chip[data-scope="account:ACCX"]')
    chip.locator('[data-action="release"]').click()
    dialog = page.locator("#control-action-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('button[value="confirm"]').click()
    expect(dialog.locator(".error")).to_have_text("A reason is required.")
    dialog.locator('input[name="reason"]').fill("reconciled by hand")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog.locator(".error")).to_contain_text("open_discrepancies")
    expect(dialog.locator(".error")).to_contain_text("1 open discrepancy in account ACCX")
    expect(dialog).to_be_visible()
    assert Control.objects.get(pk=engaged["controlId"]).active

    clear_dirty("ACCX", "SIM", "ACME", "discrepancy:D1")
    dialog.locator('button[value="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(chip).to_have_count(0)
    expect(desk.locator('#safe-scopes .chip[data-scope="account:ACCX"]')).to_have_count(0)  # live
    released = Control.objects.get(pk=engaged["controlId"]).doc
    assert (released["active"], released["releasedBy"]) == (False, "boss")
    assert js_errors(page) == [] and js_errors(desk) == []


def test_arming_a_live_venue_takes_a_request_and_a_second_user_and_disarm_ends_it(
    new_page: Any, desk_user: Any
) -> None:
    from rules.models import Venue

    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "LIVEX", "adapter": "MANUAL", "mode": "Live"},
        actor=SYSTEM,
    )
    first = new_page(desk_user)
    second = new_page(_desk_user("trader2"))
    wait_live(first)
    wait_live(second)
    chip_1 = first.locator('#venue-health .chip[data-venue="LIVEX"]')
    chip_2 = second.locator('#venue-health .chip[data-venue="LIVEX"]')
    expect(chip_1).to_have_attribute("data-armed", "disarmed")
    dialog_1 = first.locator("#control-action-dialog")

    chip_1.locator('[data-action="request-arming"]').click()
    dialog_1.locator('input[name="reason"]').fill("open of the session")
    dialog_1.locator('button[value="confirm"]').click()
    expect(dialog_1).to_be_hidden()
    expect(chip_1).to_have_attribute("data-armed", "requested")
    expect(chip_2).to_have_attribute("data-armed", "requested")  # live, on the other desk's page
    expect(chip_2).to_contain_text("arming requested by trader")

    # the requester cannot confirm: the server says why, the dialog stays open
    chip_1.locator('[data-action="confirm-arming"]').click()
    dialog_1.locator('button[value="confirm"]').click()
    expect(dialog_1.locator(".error")).to_contain_text("second_user_required")
    expect(dialog_1).to_be_visible()
    dialog_1.locator('button[value="dismiss"]').click()
    assert not Venue.objects.get(venue="LIVEX").doc["armed"]

    chip_2.locator('[data-action="confirm-arming"]').click()
    dialog_2 = second.locator("#control-action-dialog")
    expect(dialog_2).to_contain_text("trader asked to arm LIVEX (open of the session)")
    dialog_2.locator('button[value="confirm"]').click()
    expect(dialog_2).to_be_hidden()
    expect(chip_2).to_have_attribute("data-armed", "armed")
    expect(chip_1).to_have_attribute("data-armed", "armed")
    assert Venue.objects.get(venue="LIVEX").doc["armed"]

    chip_1.locator('[data-action="disarm"]').click()
    dialog_1.locator('button[value="confirm"]').click()
    expect(dialog_1).to_be_hidden()
    expect(chip_1).to_have_attribute("data-armed", "disarmed")
    expect(chip_2).to_have_attribute("data-armed", "disarmed")
    assert not Venue.objects.get(venue="LIVEX").doc["armed"]
    assert js_errors(first) == [] and js_errors(second) == []
