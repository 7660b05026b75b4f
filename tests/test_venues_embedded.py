"""The embedded default (no REDIS_URL, tasks in-process): an Auto order at SIM really fills.

The send task runs in-process after commit, the SIM venue lives in this process's memory and the
stream is read by the in-process consumer (here stepped by the test, in the server by the
`venues-stream` beat entry of the background runner).
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.venues.models import VenueSend
from oms.venues.sim.adapter import engine_for
from tests.conftest import uid
from tests.venues_support import (
    children,
    client_order,
    doc,
    fresh_sim_venue,
    ingest,
    sim_instrument,
    sim_market,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    with fresh_sim_venue(settings, tmp_path):
        yield


def test_auto_order_at_sim_is_sent_acked_partly_filled_then_filled_as_the_market_refreshes() -> None:
    sim_instrument("BTC-PERP")
    sim_market("BTC-PERP", "100", "101", "5", "4")

    client = client_order("BTC-PERP", "10")

    [child] = children(client["orderId"])
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.action, send.status, send.outcome) == ("Place", "Done", "PartiallyFilled")
    wait_for(lambda: doc(child["orderId"])["status"] == "PartiallyFilled", 2, ingest)
    assert Decimal(doc(child["orderId"])["cumQty"]) == 4

    sim_market("BTC-PERP", "100", "102", "5", "20")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)

    filled = doc(child["orderId"])
    assert filled["status"] == "Filled"
    assert Decimal(filled["cumQty"]) == 10
    assert Decimal(filled["avgPx"]) == (4 * Decimal(101) + 6 * Decimal(102)) / 10
    root = doc(client["orderId"])
    assert (root["status"], Decimal(root["cumQty"])) == ("Filled", 10)
    venue = engine_for("SIM").fetch_order(child["clOrdID"])
    assert venue is not None and venue.cum_qty == 10 and venue.status.value == "Filled"
    assert celery_app.conf.task_always_eager, "in-process tasks"


def test_seed_demo_sends_its_sim_orders_which_fill_at_the_demo_market(settings: Any) -> None:
    from django.core.management import call_command

    from rules.venues import venue_state

    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    sim = {o.doc["clOrdID"]: o.doc for o in Order.objects.filter(kind="Client", venue="SIM")}
    if settings.REDIS_URL:
        # with Redis the sends need the venue worker and venue_stream: nothing is Healthy here
        assert sim == {} and "demo SIM orders: skipped" in out.getvalue()
        return
    assert (sim["DEMO-14"]["status"], sim["DEMO-14"]["cumQty"]) == ("Filled", "25")
    assert (sim["DEMO-15"]["status"], sim["DEMO-15"]["cumQty"]) == ("PartiallyFilled", "40")
    assert venue_state("SIM").feed.value == "Healthy"  # type: ignore[union-attr]  # the venue is registered here: never None


def test_replace_of_a_resting_sim_order_is_amended_at_the_venue_and_confirmed() -> None:
    sim_instrument("ETH-PERP")
    sim_market("ETH-PERP", "100", "101", "5", "0")
    client = client_order("ETH-PERP", "4", ordType="Limit", price="101")
    [child] = children(client["orderId"])
    assert doc(child["orderId"])["status"] == "New"
    replace = {
        "commandType": "ReplaceOrderCommand",
        "orderId": child["orderId"],
        "clOrdID": uid("RP"),
        "orderQty": "2",
    }

    dispatch("orders", replace, actor="trader")

    replaced = doc(child["orderId"])
    assert (replaced["status"], replaced["orderQty"], replaced["clOrdID"]) == ("New", "2", replace["clOrdID"])
    venue = engine_for("SIM").fetch_order(replace["clOrdID"])
    assert (
        venue is not None
        and venue.order_qty == 2
        and venue.venue_order_id == VenueSend.objects.get(pk=child["clOrdID"]).venue_order_id
    )
    sim_market("ETH-PERP", "100", "101", "5", "9")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert doc(child["orderId"])["cumQty"] == "2"


def test_cancel_of_an_order_the_venue_already_filled_is_rejected_and_the_fills_still_count() -> None:
    sim_instrument("SOL-PERP")
    sim_market("SOL-PERP", "100", "101", "5", "9")
    client = client_order("SOL-PERP", "3")
    [child] = children(client["orderId"])  # filled at SIM; its fill not ingested yet

    dispatch(
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": child["orderId"], "clOrdID": uid("CX")},
        actor="trader",
    )

    assert doc(child["orderId"])["status"] == "New", "the cancel was rejected: the order is back to New"
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert doc(child["orderId"])["cumQty"] == "3"
