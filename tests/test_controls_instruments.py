"""Instruments (issue 10, step 1): UpsertInstrumentCommand, the query, history, sync from an
adapter, and the instrument checks in the contract's scope (adapter venues always; MANUAL and
venue-less orders only where an instrument exists for the symbol)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from rules.models import Instrument
from tests.conftest import uid
from tests.controls_support import instrument, ok, order_body, refusals, send

pytestmark = pytest.mark.django_db


def test_upsert_creates_then_updates_with_history(boss: Any) -> None:
    created = instrument(boss, "SIM", "XBT-PERP", tickSize="0.5")
    assert created["tickSize"] == "0.5" and created["version"] == 1 and created["enabled"] is True
    assert created["minQty"] == "0.02" and created["multiplier"] == "1"
    again = ok(
        boss,
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": "XBT-PERP",
            "kind": "Perpetual",
            "tickSize": "0.5",
            "lotSize": "0.01",
            "minQty": "0.02",
            "multiplier": "1",
        },
    )
    assert again["events"] == [] and again["duplicate"] is True
    updated = instrument(boss, "SIM", "XBT-PERP", tickSize="0.1")
    assert updated["instrumentId"] == created["instrumentId"] and updated["version"] == 2

    listed = boss.get("/api/queries/instruments", {"venue": "SIM", "symbol": "XBT-PERP"}).json()
    assert [i["tickSize"] for i in listed["results"]] == ["0.1"]
    events = boss.get(f"/api/queries/instruments/{created['instrumentId']}/events").json()
    assert [e["type"] for e in events["results"]] == ["InstrumentCreated", "InstrumentUpdated"]
    assert events["results"][1]["data"] == {"tickSize": "0.1"}
    assert events["results"][0]["topic"] == "instrument-events"


def test_only_a_superuser_changes_instruments(desk: Any) -> None:
    status, js = send(
        desk,
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": "X",
            "kind": "Spot",
            "tickSize": "1",
            "lotSize": "1",
        },
    )
    assert status == 403 and js["error"]["code"] == "permission_denied"
    assert not Instrument.objects.exists()


def test_bad_instrument_fields_answer_400(boss: Any) -> None:
    status, js = send(
        boss,
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": "X",
            "kind": "Option",
            "tickSize": "-1",
            "lotSize": "x",
        },
    )
    assert status == 400
    assert {"kind", "tickSize", "lotSize"} <= set(js["error"]["fields"])


def test_sync_instruments_loads_the_sim_adapter_and_is_idempotent() -> None:
    call_command("sync_instruments", "--venue", "SIM")
    symbols = set(Instrument.objects.filter(venue="SIM").values_list("symbol", flat=True))
    assert {"BTC-PERP", "ETH-PERP"} <= symbols
    events = sum(1 for _ in Instrument.objects.all())
    call_command("sync_instruments")
    assert Instrument.objects.count() == events
    assert all(i.version == 1 for i in Instrument.objects.all())


def _refused(client: Any, rule: str, **terms: Any) -> dict[str, Any]:
    before = Order.objects.count()
    status, js = send(client, "orders", order_body(**terms))
    assert status == 422, js
    assert js["error"]["code"] == "rule_refused" and js["error"]["rule"] == rule, js
    assert Order.objects.count() == before
    return js["error"]


def test_adapter_venue_refuses_unknown_disabled_off_tick_and_off_lot(boss: Any, desk: Any) -> None:
    err = _refused(desk, "unknown_instrument", symbol="NOPE", venue="SIM", handling="Auto")
    assert err["details"]["symbol"] == "NOPE"
    instrument(boss, "SIM", "XBT-PERP")
    err = _refused(desk, "tick_size", symbol="XBT-PERP", venue="SIM", price="100.2", orderQty="1")
    assert err["details"] == {
        "venue": "SIM",
        "symbol": "XBT-PERP",
        "field": "price",
        "value": "100.2",
        "tickSize": "0.5",
    }
    err = _refused(desk, "lot_size", symbol="XBT-PERP", venue="SIM", price="100.5", orderQty="1.005")
    assert err["details"]["lotSize"] == "0.01"
    err = _refused(desk, "lot_size", symbol="XBT-PERP", venue="SIM", price="100.5", orderQty="0.01")
    assert err["details"]["minQty"] == "0.02"
    assert ok(desk, "orders", order_body(symbol="XBT-PERP", venue="SIM", price="100.5", orderQty="1.01"))
    instrument(boss, "SIM", "XBT-PERP", enabled=False)
    _refused(desk, "unknown_instrument", symbol="XBT-PERP", venue="SIM", price="100.5", orderQty="1")


def test_manual_and_venueless_orders_are_checked_only_where_an_instrument_exists(
    boss: Any, desk: Any
) -> None:
    # no instrument for the symbol: the first part of the contract is unchanged
    assert ok(desk, "orders", order_body(symbol="ANY", venue="MANUAL", price="100.123", orderQty="1.5"))
    assert ok(desk, "orders", order_body(symbol="ANY", price="100.123", orderQty="1.5"))
    instrument(boss, "SIM", "XBT-PERP")
    _refused(desk, "tick_size", symbol="XBT-PERP", venue="MANUAL", price="100.2", orderQty="1")
    _refused(desk, "tick_size", symbol="XBT-PERP", price="100.2", orderQty="1")
    assert ok(desk, "orders", order_body(symbol="XBT-PERP", price="100.5", orderQty="1"))


def test_a_refusal_is_recorded_as_an_order_refused_event_the_desk_sees(boss: Any, desk: Any) -> None:
    cl = uid("C")
    _refused(desk, "unknown_instrument", symbol="NOPE", venue="SIM", clOrdID=cl)
    [doc] = refusals("unknown_instrument")
    assert doc["clOrdID"] == cl and doc["symbol"] == "NOPE" and doc["venue"] == "SIM"
    feed = desk.get("/api/queries/events", {"topic": "control-events"}).json()
    refused = [e for e in feed["results"] if e["type"] == "OrderRefused"]
    assert refused and refused[-1]["data"]["rule"] == "unknown_instrument"
    assert refused[-1]["actor"] == "trader"
    listed = desk.get("/api/queries/refusals", {"rule": "unknown_instrument"}).json()
    assert [r["clOrdID"] for r in listed["results"]] == [cl]


def test_replace_is_checked_against_the_instrument_in_process(boss: Any, run: Any) -> None:
    instrument(boss, "SIM", "XBT-PERP")
    order = run("orders", order_body(symbol="XBT-PERP", venue="SIM", price="100.5", orderQty="1")).body[
        "order"
    ]
    with pytest.raises(ApplicationError) as refused:
        dispatch(
            "orders",
            {
                "commandType": "ReplaceOrderCommand",
                "orderId": order["orderId"],
                "clOrdID": uid("R"),
                "price": "100.7",
            },
            actor="tester",
        )
    assert refused.value.code == "rule_refused" and refused.value.rule == "tick_size"
    assert Order.objects.get(pk=order["orderId"]).version == order["version"]
    replaced = run(
        "orders",
        {
            "commandType": "ReplaceOrderCommand",
            "orderId": order["orderId"],
            "clOrdID": uid("R"),
            "price": "101",
        },
    ).body["order"]
    assert replaced["price"] == "101"
