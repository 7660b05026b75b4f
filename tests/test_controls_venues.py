"""The venue registry (issue 10, step 5): UpsertVenueCommand (superuser), the workers' internal
RecordVenueFeedCommand, `GET /api/queries/venues`, and the `feed_stale` pre-trade check."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from rules.venues import venue_state
from tests.conftest import uid
from tests.controls_support import feed, instrument, ok, order_body, refusals, send, venue

pytestmark = pytest.mark.django_db

VENUE_FIELDS = {
    "venueId",
    "venue",
    "adapter",
    "mode",
    "armed",
    "feed",
    "lastMessageAt",
    "lastSeq",
    "version",
    "createdAt",
    "updatedAt",
}


def sim_order(**terms: Any) -> dict[str, Any]:
    return order_body(**{"symbol": "BTC-PERP", "venue": "SIM", "orderQty": "1", "price": "100", **terms})


def test_upsert_venue_is_superuser_only_and_the_query_shows_the_contract_fields(boss: Any, desk: Any) -> None:
    status, js = send(
        desk,
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
    )
    assert status == 403 and js["error"]["code"] == "permission_denied"
    created = venue(boss, "SIM")
    listed = desk.get("/api/queries/venues").json()["results"]
    assert [row["venueId"] for row in listed] == [created["venueId"]]
    row = listed[0]
    assert set(row) == VENUE_FIELDS
    assert (row["venue"], row["adapter"], row["mode"], row["armed"], row["feed"]) == (
        "SIM",
        "SIM",
        "Paper",
        False,
        "Down",
    )
    assert row["lastMessageAt"] is None and row["lastSeq"] is None and row["version"] == 1
    assert desk.get(f"/api/queries/venues/{created['venueId']}").json() == row
    assert desk.get("/api/queries/venues?mode=Live").json()["count"] == 0


def test_manual_venue_has_no_feed_to_wait_for(boss: Any) -> None:
    assert venue(boss, "MANUAL", adapter="MANUAL")["feed"] == "Healthy"


def test_repeating_an_upsert_changes_nothing_and_a_change_is_an_event_with_its_actor(boss: Any) -> None:
    first = venue(boss, "BINANCE", adapter="ccxt:binance")
    status, again = send(
        boss,
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "BINANCE", "adapter": "ccxt:binance", "mode": "Paper"},
    )
    assert status == 200 and again["duplicate"] is True and again["events"] == []
    live = venue(boss, "BINANCE", adapter="ccxt:binance", mode="Live")
    assert live["version"] == 2 and live["mode"] == "Live"
    events = boss.get(f"/api/queries/venues/{first['venueId']}/events").json()["results"]
    assert [e["type"] for e in events] == ["VenueRegistered", "VenueUpdated"]
    assert {e["topic"] for e in events} == {"venue-events"} and events[1]["actor"] == "boss"
    assert events[1]["data"] == {"mode": "Live"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"adapter": "binance"}, "adapter"),
        ({"adapter": "ccxt:"}, "adapter"),
        ({"mode": "Real"}, "mode"),
        ({"venue": ""}, "venue"),
        ({"mode": None}, "mode"),
    ],
)
def test_a_malformed_venue_is_refused_400_and_writes_nothing(
    boss: Any, body: dict[str, Any], field: str
) -> None:
    status, js = send(
        boss,
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "X", "adapter": "SIM", "mode": "Paper", **body},
    )
    assert status == 400 and js["error"]["code"] == "validation_failed" and field in js["error"]["fields"]
    assert boss.get("/api/queries/venues").json()["count"] == 0


def test_feed_reports_are_internal_not_client_commands(boss: Any) -> None:
    venue(boss, "SIM")
    status, js = send(
        boss, "venues", {"commandType": "RecordVenueFeedCommand", "venue": "SIM", "feed": "Healthy"}
    )
    assert status == 400 and "commandType" in js["error"]["fields"]
    assert venue_state("SIM").feed == "Down"


def test_a_feed_change_is_an_event_and_a_late_report_cannot_flip_it_back(boss: Any) -> None:
    created = venue(boss, "SIM")
    up = feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:00Z", lastSeq=7)
    assert (up["feed"], up["lastMessageAt"], up["lastSeq"]) == ("Healthy", "2026-01-01T10:00:00Z", 7)
    down = feed("SIM", "Down", lastMessageAt="2026-01-01T10:00:30Z", lastSeq=9)
    late = feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:20Z", lastSeq=8)  # an older report
    assert late == down and late["feed"] == "Down"
    events = boss.get(f"/api/queries/venues/{created['venueId']}/events").json()["results"]
    assert [e["type"] for e in events] == ["VenueRegistered", "VenueFeedChanged", "VenueFeedChanged"]
    assert events[-1]["actor"] == "system:venue-worker"


def test_heartbeats_with_the_same_health_are_recorded_at_most_every_few_seconds(
    boss: Any, settings: Any
) -> None:
    settings.OMS_VENUE_FEED_RECORD_SECONDS = 10
    created = venue(boss, "SIM")
    feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:00Z", lastSeq=1)
    assert feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:05Z", lastSeq=2)["lastSeq"] == 1
    assert feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:10Z", lastSeq=3)["lastSeq"] == 3
    types = [
        e["type"] for e in boss.get(f"/api/queries/venues/{created['venueId']}/events").json()["results"]
    ]
    assert types == ["VenueRegistered", "VenueFeedChanged", "VenueFeedRecorded"]


def test_feed_report_for_an_unknown_venue_is_404() -> None:
    with pytest.raises(ApplicationError) as caught:
        dispatch(
            "venues",
            {"commandType": "RecordVenueFeedCommand", "venue": "NOPE", "feed": "Down"},
            actor="system:w",
        )
    assert caught.value.http_status == 404


# --- feed_stale ------------------------------------------------------------------------------------


@pytest.mark.parametrize("health", ["Down", "Stale"])
def test_new_orders_to_a_venue_whose_feed_is_not_healthy_are_refused_feed_stale(
    boss: Any, desk: Any, health: str
) -> None:
    instrument(boss, "SIM", "BTC-PERP", tickSize="0.5", lotSize="1", minQty="1")
    venue(boss, "SIM")
    feed("SIM", health, lastMessageAt="2026-01-01T10:00:00Z")
    before = Order.objects.count()
    status, js = send(desk, "orders", sim_order())
    assert status == 422 and js["error"]["code"] == "rule_refused" and js["error"]["rule"] == "feed_stale"
    assert js["error"]["details"]["feed"] == health and js["error"]["details"]["venue"] == "SIM"
    assert Order.objects.count() == before
    [recorded] = refusals("feed_stale")
    assert recorded["venue"] == "SIM" and recorded["symbol"] == "BTC-PERP"
    listed = desk.get("/api/queries/refusals?rule=feed_stale").json()["results"]
    assert [r["refusalId"] for r in listed] == [recorded["refusalId"]]
    feed("SIM", "Healthy", lastMessageAt="2026-01-01T10:00:01Z")
    assert ok(desk, "orders", sim_order())["order"]["venue"] == "SIM"


def test_cancels_and_smaller_replaces_pass_while_the_feed_is_down(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "BTC-PERP", tickSize="0.5", lotSize="1", minQty="1")
    venue(boss, "SIM")
    feed("SIM", "Healthy")
    a = ok(desk, "orders", sim_order(orderQty="5"))["order"]
    b = ok(desk, "orders", sim_order(orderQty="5"))["order"]
    feed("SIM", "Down")
    status, js = send(
        desk,
        "orders",
        {"commandType": "ReplaceOrderCommand", "orderId": a["orderId"], "clOrdID": uid("R"), "orderQty": "6"},
    )
    assert status == 422 and js["error"]["rule"] == "feed_stale"
    smaller = ok(
        desk,
        "orders",
        {"commandType": "ReplaceOrderCommand", "orderId": a["orderId"], "clOrdID": uid("R"), "orderQty": "4"},
    )
    assert smaller["order"]["orderQty"] == "4"
    canceled = ok(
        desk, "orders", {"commandType": "CancelOrderCommand", "orderId": b["orderId"], "clOrdID": uid("X")}
    )
    assert canceled["order"]["status"] == "Canceled"


def test_a_manual_venue_and_an_unregistered_one_are_never_refused_feed_stale(boss: Any, desk: Any) -> None:
    venue(boss, "MANUAL", adapter="MANUAL")
    assert ok(desk, "orders", order_body(venue="MANUAL"))
    assert ok(desk, "orders", order_body(venue="XNAS"))
    assert refusals() == []


def test_a_registered_ccxt_venue_needs_its_instrument_like_sim(boss: Any, desk: Any) -> None:
    venue(boss, "BINANCE", adapter="ccxt:binance")
    feed("BINANCE", "Healthy")
    status, js = send(desk, "orders", order_body(venue="BINANCE", symbol="ETH-PERP"))
    assert status == 422 and js["error"]["rule"] == "unknown_instrument"


def test_seed_demo_registers_sim_and_manual_once(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", "--no-orders", stdout=open("/dev/null", "w"))
    call_command("seed_demo", "--no-orders", stdout=open("/dev/null", "w"))
    sim, manual = venue_state("SIM"), venue_state("MANUAL")
    assert sim is not None and manual is not None
    assert (sim.adapter, sim.mode, sim.version) == ("SIM", "Paper", 1)
    assert (manual.adapter, manual.mode, manual.feed) == ("MANUAL", "Paper", "Healthy")
