"""The live blotter in a real browser against a live daphne (fixtures: tests/browser/conftest.py).

Orders committed through dispatch appear in open blotters without a reload; fills update
cumQty/leaves/status and flash; the tree expands; header filters, sorting, the quick filter, CSV
export and saved views work and survive a reload; the feed resyncs after a lost batch and after
the server is killed and restarted while events commit; foreign-origin and anonymous websockets
are refused. Screenshots of every view go to the artifacts dir (docs/screenshots/ with OMS_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import csv
import json
import re
import socket
import zlib
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

from blotter.consumers import max_seq
from executions.models import Execution
from oms.orders.models import Order
from tests.browser.conftest import LiveServer, session_cookie

pytestmark = pytest.mark.browser


# --- helpers --------------------------------------------------------------------------------------
def wait_live(page: Page, timeout: float = 15_000) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=timeout)


def wait_seq(page: Page, timeout: float = 10_000) -> None:
    """Wait until the page has applied everything committed so far."""
    page.wait_for_function(
        "seq => window.__blotter.feed.lastSeq >= seq && !window.__blotter.feed.busy",
        arg=max_seq(),
        timeout=timeout,
    )


def row(page: Page, text: str) -> Any:
    return page.locator(".grid:not([hidden]) .tabulator-row", has_text=text).first


def header_filter(page: Page, field: str, text: str) -> None:
    box = page.locator(f'.grid:not([hidden]) .tabulator-col[tabulator-field="{field}"] input')
    box.fill(text)
    box.press("End")  # Tabulator filters on keyup, as when a person types


def cell(row_locator: Any, field: str) -> Any:
    return row_locator.locator(f'.tabulator-cell[tabulator-field="{field}"]')


def grid_ids(page: Page, view: str = "orders") -> dict[str, int]:
    """{id: version} of every row the view's grid holds (tree children included)."""
    return page.evaluate(
        """view => {
            const g = window.__blotter.grids[view];
            const idField = {orders: "orderId", desk: "orderId", executions: "executionId", review: "executionId"}[view];
            const out = {};
            const walk = rows => rows.forEach(r => { out[r[idField]] = r.version; if (r._children) walk(r._children); });
            walk(g.table.getData());
            return out;
        }""",
        view,
    )


def store_versions(page: Page, kind: str) -> dict[str, int]:
    return page.evaluate(
        "kind => Object.fromEntries([...window.__blotter.store.docs[kind].values()].map(d => [d[kind === 'orders' ? 'orderId' : 'executionId'], d.version]))",
        kind,
    )


def assert_equals_query_api(page: Page) -> None:
    """What the page holds (store and orders grid) is what the database holds, version for version."""
    orders = {d["orderId"]: d["version"] for d in Order.objects.values_list("doc", flat=True)}
    executions = {d["executionId"]: d["version"] for d in Execution.objects.values_list("doc", flat=True)}
    assert store_versions(page, "orders") == orders
    assert store_versions(page, "executions") == executions
    assert grid_ids(page, "orders") == orders


def ws_handshake(server: LiveServer, origin: str | None, cookie: str | None) -> int:
    """The HTTP status daphne answers to a websocket upgrade on /ws/blotter/ (101 = accepted)."""
    lines = [
        "GET /ws/blotter/ HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = s.recv(4096).decode(errors="replace")
    return int(head.split()[1])


# --- tests ----------------------------------------------------------------------------------------
def test_login_then_orders_appear_live_in_two_browsers(
    new_page: Any, viewer_user: User, trader: Any, screenshot: Any
) -> None:
    # a desk trader logs in through the login form (a hash the server's own hashers know)
    user = User.objects.create(
        username="formlogin",
        password=PBKDF2PasswordHasher().encode("pw-formlogin-1", "s4ltS4lt", iterations=1000),
    )
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    desk = new_page(None, "/")
    expect(desk).to_have_url(re.compile("/accounts/login/"))
    desk.fill("input[name=username]", "formlogin")
    desk.fill("input[name=password]", "pw-formlogin-1")
    # the blotter's socket asks for compressed events frames (one zlib stream per frame, shared
    # by every desk) and the page inflates them
    sockets: list[tuple[str, list[str | bytes]]] = []

    def on_websocket(ws: Any) -> None:
        frames: list[str | bytes] = []
        sockets.append((ws.url, frames))
        ws.on("framereceived", lambda payload: frames.append(payload))

    desk.on("websocket", on_websocket)
    desk.click("button[type=submit]")
    wait_live(desk)
    expect(desk.locator("header .who")).to_have_text("formlogin")
    watcher = new_page(viewer_user)
    wait_live(watcher)

    order = trader.client_order(
        250, clOrdID="LIVE-1", symbol="BTC-PERP", side="Sell", price="50000", ordType="Limit"
    )
    for page in (desk, watcher):
        r = row(page, "LIVE-1")
        expect(r).to_be_visible()
        expect(cell(r, "symbol")).to_have_text("BTC-PERP")
        expect(cell(r, "orderQty")).to_have_text("250")
        expect(cell(r, "side").locator(".side-Sell")).to_be_visible()
        expect(page.locator("#row-count")).to_have_text("1 row")
    assert watcher.evaluate("location.pathname") == "/"  # no reload happened
    assert [url.endswith("/ws/blotter/?compress=deflate") for url, _ in sockets] == [True]
    frames = sockets[0][1]
    assert isinstance(frames[0], str) and json.loads(frames[0])["type"] == "hello"
    inflated = [json.loads(zlib.decompress(f)) for f in frames if isinstance(f, bytes)]
    assert any((e.get("state") or {}).get("clOrdID") == "LIVE-1" for f in inflated for e in f["events"])
    assert desk.errors == [] and watcher.errors == []
    # the viewer reads but has no action buttons
    expect(watcher.locator("#actions button")).to_have_count(0)
    expect(desk.locator('#actions button[data-action="new"]')).to_be_visible()
    assert order["orderId"] in grid_ids(watcher)


def test_fills_update_cells_and_flash_and_the_tree_expands(
    desk_page: Page, trader: Any, screenshot: Any
) -> None:
    wait_live(desk_page)
    market = trader.venue_order(100, clOrdID="TREE-1", symbol="ETH-PERP")
    client_row = row(desk_page, "TREE-1")
    expect(client_row).to_be_visible()
    expect(cell(client_row, "leavesQty")).to_have_text("100")

    # every cell that flashes, recorded as it happens: a flash lasts 0.9 s, which a loaded
    # machine can spend between the update and a check of the class
    desk_page.evaluate(
        """() => {
          window.__flashed = [];
          new MutationObserver((mutations) => {
            for (const m of mutations) {
              const c = m.target.classList;
              if (!c || !(c.contains("flash") || c.contains("flash2"))) continue;
              const row = m.target.closest(".tabulator-row");
              window.__flashed.push([row ? row.textContent : "", m.target.getAttribute("tabulator-field")]);
            }
          }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["class"]});
        }"""
    )
    trader.fill(market, 40, "2000")
    expect(cell(client_row, "cumQty")).to_have_text("40")
    expect(cell(client_row, "leavesQty")).to_have_text("60")
    expect(cell(client_row, "status")).to_have_text("PartiallyFilled")
    flashed = {field for text, field in desk_page.evaluate("window.__flashed") if "TREE-1" in text}
    assert {"cumQty", "leavesQty", "status"} <= flashed, flashed
    assert "orderQty" not in flashed  # unchanged: no flash

    # expand the client order: its market order is the child row, with its own fill
    client_row.locator(".tabulator-data-tree-control").click()
    child = row(desk_page, market["clOrdID"])
    expect(child).to_be_visible()
    expect(cell(child, "kind")).to_have_text("Market")
    expect(cell(child, "cumQty")).to_have_text("40")
    trader.fill(market, 60, "2010")
    expect(cell(child, "status")).to_have_text("Filled")
    expect(cell(child, "leavesQty")).to_have_text("0")
    expect(cell(child, "avgPx")).to_have_text("2006.00")  # no instrument: a price's two decimals
    expect(cell(client_row, "status")).to_have_text("Filled")
    screenshot(desk_page, "blotter-orders-tree")
    # the tree stays open across updates
    assert desk_page.evaluate("[...window.__blotter.grids.orders.table.getRows()][0].isTreeExpanded()")
    wait_seq(desk_page)
    assert_equals_query_api(desk_page)


def test_header_filters_sort_quick_filter_and_csv(desk_page: Page, trader: Any, tmp_path: Any) -> None:
    wait_live(desk_page)
    trader.client_order(300, clOrdID="F-A", symbol="BTC-PERP", side="Buy")
    trader.client_order(100, clOrdID="F-B", symbol="ETH-PERP", side="Sell")
    trader.client_order(200, clOrdID="F-C", symbol="BTC-PERP", side="Sell")
    expect(desk_page.locator("#row-count")).to_have_text("3 rows")

    # per-column filter: symbol
    header_filter(desk_page, "symbol", "BTC")
    expect(desk_page.locator("#row-count")).to_have_text("2 of 3 rows")
    # numeric filter with an operator
    header_filter(desk_page, "orderQty", ">250")
    expect(desk_page.locator("#row-count")).to_have_text("1 of 3 rows")
    expect(row(desk_page, "F-A")).to_be_visible()
    header_filter(desk_page, "orderQty", "")
    header_filter(desk_page, "symbol", "")
    expect(desk_page.locator("#row-count")).to_have_text("3 rows")

    # sort by quantity, ascending then descending
    qty_title = desk_page.locator('.tabulator-col[tabulator-field="orderQty"] .tabulator-col-title')
    qty_title.click()

    def ids() -> list[str]:
        return desk_page.locator(
            ".grid:not([hidden]) .tabulator-row .tabulator-cell[tabulator-field=clOrdID]"
        ).all_inner_texts()

    expect(desk_page.locator(".grid:not([hidden]) .tabulator-row").first).to_contain_text("F-B")
    assert [t.strip() for t in ids()] == ["F-B", "F-C", "F-A"]
    qty_title.click()
    expect(desk_page.locator(".grid:not([hidden]) .tabulator-row").first).to_contain_text("F-A")
    assert [t.strip() for t in ids()] == ["F-A", "F-C", "F-B"]

    # quick filter across every column
    desk_page.fill("#quick", "eth-perp")
    expect(desk_page.locator("#row-count")).to_have_text("1 of 3 rows")
    expect(row(desk_page, "F-B")).to_be_visible()
    desk_page.fill("#quick", "Sell")
    expect(desk_page.locator("#row-count")).to_have_text("2 of 3 rows")

    # CSV export downloads the rows the grid shows
    with desk_page.expect_download() as download:
        desk_page.click("#csv")
    path = tmp_path / "orders.csv"
    download.value.save_as(path)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["ClOrdID"] for r in rows) == ["F-B", "F-C"]
    assert {r["Side"] for r in rows} == {"Sell"}
    assert download.value.suggested_filename.startswith(
        "orders-"
    ) and download.value.suggested_filename.endswith(".csv")


def test_saved_view_survives_a_reload(desk_page: Page, trader: Any, screenshot: Any) -> None:
    wait_live(desk_page)
    trader.client_order(10, clOrdID="SV-1", symbol="SOL-PERP")
    trader.client_order(20, clOrdID="SV-2", symbol="BTC-PERP")
    expect(desk_page.locator("#row-count")).to_have_text("2 rows")

    header_filter(desk_page, "symbol", "SOL")
    desk_page.click("#columns")
    desk_page.locator("#columns-menu label", has_text="Venue").locator("input").uncheck()
    desk_page.click("#row-count")  # close the menu
    expect(desk_page.locator('.tabulator-col[tabulator-field="venue"]')).to_be_hidden()
    desk_page.locator('.tabulator-col[tabulator-field="orderQty"] .tabulator-col-title').click()
    # a named view too: "SOL only"
    desk_page.fill("#view-name", "SOL only")
    desk_page.click("#view-save button")
    expect(desk_page.locator("#saved-views option", has_text="SOL only")).to_have_count(1)
    desk_page.wait_for_function("() => !!document.body.dataset.savedAt")
    desk_page.wait_for_timeout(800)  # the current layout is saved 400 ms after the last change

    desk_page.reload()
    wait_live(desk_page)
    expect(desk_page.locator('.tabulator-col[tabulator-field="symbol"] input')).to_have_value("SOL")
    expect(desk_page.locator('.tabulator-col[tabulator-field="venue"]')).to_be_hidden()
    expect(desk_page.locator("#row-count")).to_have_text("1 of 2 rows")
    expect(desk_page.locator('.tabulator-col[tabulator-field="orderQty"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    screenshot(desk_page, "blotter-saved-view")

    # clear the filter, then pick the named view: its filter comes back
    header_filter(desk_page, "symbol", "")
    expect(desk_page.locator("#row-count")).to_have_text("2 rows")
    desk_page.select_option("#saved-views", "SOL only")
    expect(desk_page.locator('.tabulator-col[tabulator-field="symbol"] input')).to_have_value("SOL")
    expect(desk_page.locator("#row-count")).to_have_text("1 of 2 rows")


def test_queues_detail_panel_and_view_screenshots(desk_page: Page, trader: Any, screenshot: Any) -> None:
    wait_live(desk_page)
    desk_order = trader.client_order(500, clOrdID="DQ-1", symbol="BTC-PERP", price="50000", ordType="Limit")
    market = trader.venue_order(100, clOrdID="RV-1", symbol="ETH-PERP", handling="Auto")
    trader.fill(market, 30, "2000")
    # an execution for more than the order has left is held for the desk's review
    held = trader.execute(market, 500, "2001")["execution"]
    assert held["status"] == "PendingReview"
    wait_seq(desk_page)
    screenshot(desk_page, "blotter-orders")

    desk_page.click("#tab-desk")
    expect(desk_page.locator("#tab-desk .badge")).to_have_text("1")
    r = row(desk_page, "DQ-1")
    expect(r).to_be_visible()
    expect(cell(r, "toPlace")).to_have_text("500")
    assert (
        desk_order["routingReason"] is None
        or cell(r, "routingReason").inner_text() == desk_order["routingReason"]
    )
    screenshot(desk_page, "blotter-desk-queue")

    desk_page.click("#tab-executions")
    expect(desk_page.locator("#row-count")).to_have_text("2 rows")
    screenshot(desk_page, "blotter-executions")

    desk_page.click("#tab-review")
    expect(desk_page.locator("#tab-review .badge")).to_have_text("1")
    r = row(desk_page, held["execID"])
    expect(cell(r, "lastQty")).to_have_text("500")
    expect(cell(r, "symbol")).to_have_text("ETH-PERP")  # joined from its order
    screenshot(desk_page, "blotter-review-queue")

    # the detail panel: the order's whole event history
    desk_page.click("#tab-orders")
    row(desk_page, "RV-1").click()
    expect(desk_page.locator("#detail")).to_be_visible()
    expect(desk_page.locator("#detail-title")).to_contain_text("RV-1")
    client_events = Order.objects.get(pk=market["rootId"]).doc["version"]
    expect(desk_page.locator("#detail-events tbody tr")).to_have_count(client_events)
    expect(desk_page.locator("#detail-count")).to_have_text(f"{client_events} events")
    # a new event on the selected order reaches the panel live
    trader.fill(market, 10, "2002")
    expect(desk_page.locator("#detail-events tbody tr")).to_have_count(client_events + 1)
    screenshot(desk_page, "blotter-detail")

    # an RFQ: a client asks for a price, two quotes answer it; both views show them live
    desk_page.click("#detail-close")
    trader.ok(
        "quote-requests",
        {
            "commandType": "CreateQuoteRequestCommand",
            "quoteReqID": "QR-1",
            "symbol": "BTC-PERP",
            "side": "Buy",
            "orderQty": "5",
            "account": "ACC1",
        },
    )
    for quote_id, bid, offer in (("QT-1", "49990", "50010"), ("QT-2", "49995", "50020")):
        trader.ok(
            "quotes",
            {
                "commandType": "CreateQuoteCommand",
                "quoteID": quote_id,
                "quoteReqID": "QR-1",
                "bidPx": bid,
                "offerPx": offer,
                "bidSize": "5",
                "offerSize": "5",
            },
        )
    for view, shown in (("quote-requests", "QR-1"), ("quotes", "QT-2")):
        desk_page.click(f"#tab-{view}")
        expect(desk_page.locator(f'.grid[data-view="{view}"]')).to_be_visible()
        expect(row(desk_page, shown)).to_be_visible()
        screenshot(desk_page, f"blotter-{view}")
    assert desk_page.errors == []


def test_a_lost_batch_is_detected_and_resynced(desk_page: Page, trader: Any) -> None:
    wait_live(desk_page)
    # the page loses the next batch the server sends (as a slow consumer would under load)
    desk_page.evaluate(
        """() => {
            const feed = window.__blotter.feed, original = feed.onEvents.bind(feed);
            let dropped = false;
            feed.onEvents = events => { if (!dropped) { dropped = true; return; } original(events); };
        }"""
    )
    lost = trader.client_order(11, clOrdID="GAP-LOST")
    desk_page.wait_for_timeout(300)
    assert not desk_page.evaluate("id => window.__blotter.store.docs.orders.has(id)", lost["orderId"])
    trader.client_order(12, clOrdID="GAP-NEXT")  # its seq is not last+1: the page resyncs
    expect(row(desk_page, "GAP-LOST")).to_be_visible()
    expect(row(desk_page, "GAP-NEXT")).to_be_visible()
    assert desk_page.evaluate("window.__blotter.feed.stats.gaps") >= 1
    assert desk_page.evaluate("window.__blotter.feed.stats.resyncs") >= 1
    wait_seq(desk_page)
    assert_equals_query_api(desk_page)


def test_reconnects_and_resyncs_after_a_server_restart(
    desk_page: Page, oms_server: LiveServer, trader: Any, screenshot: Any
) -> None:
    wait_live(desk_page)
    market = trader.venue_order(100, clOrdID="RS-1")
    expect(row(desk_page, "RS-1")).to_be_visible()

    oms_server.stop(kill=True)  # a crash: no close frame
    expect(desk_page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    screenshot(desk_page, "blotter-reconnecting")
    # the desk keeps working while the page is cut off
    trader.fill(market, 25, "10")
    trader.client_order(5, clOrdID="RS-2")
    oms_server.start()

    wait_live(desk_page, timeout=30_000)
    expect(cell(row(desk_page, "RS-1"), "cumQty")).to_have_text("25")
    expect(row(desk_page, "RS-2")).to_be_visible()
    wait_seq(desk_page)
    assert desk_page.evaluate("window.__blotter.feed.stats.resyncs") >= 1
    assert desk_page.evaluate("window.__blotter.feed.stats.snapshots") == 1  # caught up from the feed
    assert_equals_query_api(desk_page)
    assert Decimal(Order.objects.get(pk=market["rootId"]).doc["cumQty"]) == 25


def test_foreign_origin_and_anonymous_websockets_are_refused(oms_server: LiveServer, desk_user: User) -> None:
    cookie = session_cookie(desk_user)
    session = f"{cookie['name']}={cookie['value']}"
    own = f"http://127.0.0.1:{oms_server.port}"
    assert ws_handshake(oms_server, own, session) == 101
    assert ws_handshake(oms_server, "https://evil.example.com", session) == 403
    assert ws_handshake(oms_server, own, None) == 403
    roleless = User.objects.create_user(username="nobody", password="x")
    cookie = session_cookie(roleless)
    assert ws_handshake(oms_server, own, f"{cookie['name']}={cookie['value']}") == 403
