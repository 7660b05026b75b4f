"""The stream consumer (oms.venues.ingest) against a scripted venue: reordering, gaps and the REST
resync, duplicate fills, and the feed watchdog with its venue-events and alerts."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from typing import Any

import pytest

from executions.models import Execution
from oms.core.dispatch import dispatch
from oms.venues.adapter import (
    StreamMessage,
    TransientVenueError,
    VenueAdapter,
    VenueFill,
    VenueOrderReport,
    VenueOrderStatus,
    VenueSide,
)
from oms.venues.ingest import StreamConsumer
from oms.venues.metrics import FEED_ALERTS
from rules.models import VenueEvent
from rules.venues import venue_state
from tests.conftest import uid
from tests.controls_support import venue
from tests.venues_support import doc

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


class ScriptedVenue(VenueAdapter):
    """A venue whose stream answers what the test queued, and whose REST knows every fill."""

    name = "SCRIPTED"
    has = {**VenueAdapter.has, "watchExecutions": True}

    def __init__(self, venue: str) -> None:
        super().__init__(venue)
        self.batches: list[list[StreamMessage]] = []
        self.rest_fills: list[VenueFill] = []
        self.rest_orders: dict[str, VenueOrderReport] = {}
        self.down = False

    def watch_executions(self, *, timeout: float = 1.0) -> list[StreamMessage]:
        if self.down:
            raise TransientVenueError(self.venue, "connection lost")
        return self.batches.pop(0) if self.batches else []

    def fetch_fills(self, *, since: dt.datetime | None = None, symbol: str | None = None) -> list[VenueFill]:
        return list(self.rest_fills)

    def fetch_order(self, *, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
        return self.rest_orders.get(cl_ord_id)


def venue_order(name: str, qty: str = "10") -> dict[str, Any]:
    """A market order at venue `name` (no adapter here: nothing sends it), placed by the desk."""
    client = dispatch(
        "orders",
        {"commandType": "CreateOrderCommand", "clOrdID": uid("IC"), "symbol": "XYZ", "side": "Buy",
         "orderQty": qty, "ordType": "Market", "account": "ACC-I", "handling": "Desk"},
        actor="trader",
    ).body["order"]  # fmt: skip
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("IM"),
        "parentId": client["orderId"],
        "orderQty": qty,
        "venue": name,
    }
    order: dict[str, Any] = dispatch("orders", body, actor="trader").body["order"]
    return order


def fill(order: dict[str, Any], exec_id: str, qty: str, seq: int | None) -> VenueFill:
    return VenueFill(
        venue=order["venue"], exec_id=exec_id, venue_order_id="V1", cl_ord_id=order["clOrdID"], symbol="XYZ",
        side=VenueSide.BUY, last_qty=Decimal(qty), last_px=Decimal("50"), ts_event=NOW, seq=seq,
    )  # fmt: skip


def ack(order: dict[str, Any], seq: int) -> VenueOrderReport:
    return VenueOrderReport(
        venue=order["venue"], venue_order_id="V1", cl_ord_id=order["clOrdID"], symbol="XYZ", side=VenueSide.BUY,
        status=VenueOrderStatus.NEW, order_qty=Decimal(order["orderQty"]), cum_qty=Decimal(0), avg_px=None,
        ts_event=NOW, seq=seq,
    )  # fmt: skip


def executions(order: dict[str, Any]) -> list[str]:
    return sorted(Execution.objects.filter(order_id=order["orderId"]).values_list("exec_id", flat=True))


@pytest.fixture
def scripted(desk_user: Any, settings: Any) -> tuple[ScriptedVenue, StreamConsumer]:
    settings.OMS_VENUE_GAP_HOLD_MS = 0  # a hole still open at the end of a step is a gap
    name = uid("VEN")
    adapter = ScriptedVenue(name)
    return adapter, StreamConsumer(name, adapter)


def test_out_of_order_messages_are_held_and_applied_in_seq_order_without_a_resync(
    scripted: Any, settings: Any
) -> None:
    adapter, consumer = scripted
    settings.OMS_VENUE_GAP_HOLD_MS = 60_000
    order = venue_order(adapter.venue)
    adapter.batches = [[ack(order, 1)], [fill(order, "E2", "3", 3)], [fill(order, "E1", "2", 2)]]

    consumer.step(0)
    consumer.step(0)
    assert executions(order) == [], "seq 3 waits for seq 2"
    consumer.step(0)

    assert executions(order) == ["E1", "E2"]
    assert (consumer.last_seq, consumer.stats["gaps"], consumer.stats["resyncs"]) == (3, 0, 1)
    assert (doc(order["orderId"])["status"], doc(order["orderId"])["cumQty"]) == ("PartiallyFilled", "5")


def test_a_gap_that_is_never_filled_resyncs_from_rest_and_loses_no_fill(scripted: Any) -> None:
    adapter, consumer = scripted
    order = venue_order(adapter.venue)
    lost = fill(order, "E1", "4", 2)
    adapter.rest_fills = [lost]
    adapter.batches = [[ack(order, 1)], [fill(order, "E2", "6", 3)]]  # seq 2 never comes

    consumer.step(0)
    consumer.step(0)

    assert executions(order) == ["E1", "E2"]
    assert consumer.stats["gaps"] == 1
    assert consumer.last_seq == 3
    assert doc(order["orderId"])["status"] == "Filled"


def test_a_duplicated_fill_is_counted_once_even_by_a_fresh_consumer(scripted: Any) -> None:
    adapter, consumer = scripted
    order = venue_order(adapter.venue)
    adapter.batches = [[ack(order, 1), fill(order, "E1", "4", 2), fill(order, "E1", "4", 3)]]
    consumer.step(0)
    restarted = StreamConsumer(adapter.venue, adapter)  # no memory of execIDs: the OMS dedupes
    adapter.batches = [[fill(order, "E1", "4", 4)]]
    restarted.step(0)

    assert executions(order) == ["E1"]
    assert doc(order["orderId"])["cumQty"] == "4"
    assert consumer.stats["duplicates"] == 1


def test_a_fill_before_the_ack_accepts_the_order_first(scripted: Any) -> None:
    adapter, consumer = scripted
    order = venue_order(adapter.venue)
    adapter.batches = [[fill(order, "E1", "10", 1)]]
    consumer.step(0)
    assert doc(order["orderId"])["status"] == "Filled"


def test_feed_watchdog_goes_stale_then_down_then_healthy_with_an_event_and_an_alert_each(
    scripted: Any, boss: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    adapter, consumer = scripted
    settings.OMS_VENUE_STALE_SECONDS, settings.OMS_VENUE_DOWN_SECONDS = 5, 20
    venue(boss, adapter.venue, adapter="ccxt:scripted")
    before = FEED_ALERTS.labels(adapter.venue, "Stale")._value.get()
    consumer.step(0)
    assert venue_state(adapter.venue).feed.value == "Healthy"  # type: ignore[union-attr]  # the venue is registered here: never None

    adapter.down = True
    caplog.set_level(logging.ERROR, logger="oms.venues.ingest")
    consumer.last_alive = time.monotonic() - 6
    consumer.step(0)
    assert venue_state(adapter.venue).feed.value == "Stale"  # type: ignore[union-attr]  # the venue is registered here: never None
    consumer.last_alive = time.monotonic() - 21
    consumer.step(0)
    assert venue_state(adapter.venue).feed.value == "Down"  # type: ignore[union-attr]  # the venue is registered here: never None
    adapter.down = False
    consumer.step(0)

    assert venue_state(adapter.venue).feed.value == "Healthy"  # type: ignore[union-attr]  # the venue is registered here: never None
    changes = [
        e.data["feed"]
        for e in VenueEvent.objects.filter(type="VenueFeedChanged").order_by("seq")
        if e.data.get("feed")
    ]
    assert changes[-4:] == ["Healthy", "Stale", "Down", "Healthy"]
    assert FEED_ALERTS.labels(adapter.venue, "Stale")._value.get() == before + 1
    assert any("ALERT" in r.message and "Stale" in r.message for r in caplog.records)


def test_watchdog_marks_a_venue_whose_consumer_went_silent_stale_then_down(boss: Any, settings: Any) -> None:
    from oms.venues.ingest import watchdog
    from tests.controls_support import feed

    (
        settings.OMS_VENUE_STALE_SECONDS,
        settings.OMS_VENUE_DOWN_SECONDS,
        settings.OMS_VENUE_FEED_RECORD_SECONDS,
    ) = 5, 30, 5
    name = uid("VEN")
    venue(boss, name, adapter="ccxt:silent")
    feed(name, "Healthy", lastMessageAt="2026-01-05T12:00:00Z")

    assert watchdog(NOW + dt.timedelta(seconds=9)) == {}
    assert watchdog(NOW + dt.timedelta(seconds=11)) == {name: "Stale"}
    assert watchdog(NOW + dt.timedelta(seconds=36)) == {name: "Down"}
    assert venue_state(name).feed.value == "Down"  # type: ignore[union-attr]  # the venue is registered here: never None
    kinds = list(
        VenueEvent.objects.filter(type="VenueFeedChanged").order_by("seq").values_list("actor", flat=True)
    )
    assert kinds[-2:] == ["system:venue-watchdog", "system:venue-watchdog"]
