"""Order preview (issue 10, step 4): checks, routing and a cost estimate, writing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controls_support import instrument, ok, order_body, send

pytestmark = pytest.mark.django_db


def event_count(client: Any) -> int:
    return len(client.get("/api/queries/events", {"limit": 1000}).json()["results"])


def preview(client: Any, **terms: Any) -> tuple[int, Any]:
    response = client.post("/api/commands/orders/preview", order_body(**terms), format="json")
    return response.status_code, response.json()


def test_preview_walks_the_book_and_writes_nothing(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "XBT-PERP", tickSize="0.5", lotSize="0.1", minQty="0.1", multiplier="1")
    ok(
        desk,
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": "SIM",
            "symbol": "XBT-PERP",
            "bids": [["99", "5"]],
            "asks": [["100", "1"], ["101", "2"], ["105", "10"]],
        },
    )
    before = event_count(desk)
    status, js = preview(
        desk, symbol="XBT-PERP", venue="SIM", ordType="Market", price=None, orderQty="2", handling="Auto"
    )
    assert status == 200, js
    assert js["accepted"] is True and js["refusals"] == []
    assert js["routing"]["handling"] == "Auto"
    est = js["estimate"]
    assert est["referencePx"] == "100" and est["levels"] == [["100", "1"], ["101", "1"]]
    assert (est["avgPx"], est["notional"], est["slippage"]) == ("100.5", "201", "1")
    assert est["fees"] == "0.1005"  # 5 bps at SIM
    assert event_count(desk) == before


def test_preview_lists_every_refusal_and_the_desk_routing(boss: Any, desk: Any) -> None:
    ok(
        boss,
        "limits",
        {
            "commandType": "SetLimitsCommand",
            "account": "*",
            "symbol": "*",
            "maxOrderQty": "10",
            "priceCollarPct": "5",
        },
    )
    before = event_count(desk)
    status, js = preview(desk, orderQty="11", price="100")
    assert status == 200 and js["accepted"] is False
    assert {r["rule"] for r in js["refusals"]} == {"max_order_qty", "no_reference_price"}
    assert js["routing"] == {
        "handling": "Desk",
        "routingReason": "client requested desk handling",
        "routingRule": "client_requested_desk",
    }
    assert event_count(desk) == before  # a refusal in a preview is not recorded either


def test_a_malformed_preview_answers_400_like_the_command(desk: Any, viewer: Any) -> None:
    status, js = preview(desk, orderQty="-1")
    assert status == 400 and "orderQty" in js["error"]["fields"]
    status, _ = preview(viewer)
    assert status == 403
    status, js = send(desk, "orders", order_body(orderQty="-1"))
    assert status == 400


def test_a_preview_refuses_what_the_command_bus_refuses(desk: Any) -> None:
    # unknown fields, as on POST /api/commands/orders
    status, js = preview(desk, bogusField="1")
    assert status == 400 and js["error"]["code"] == "validation_failed"
    assert "bogusField" in js["error"]["fields"]
    # a JSON body that is not an object: 400, not a 500
    response = desk.post("/api/commands/orders/preview", "null", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_failed"
