"""The SIM venue's part of the demo (`manage.py seed_demo`): a market for SOL-PERP, and the stream
step that reports SIM's feed Healthy before the demo's SIM orders and ingests their fills after.

On the embedded default the demo's tasks run in this process and SIM is a SQLite file the server
shares, so the orders are sent, acked and filled before seed_demo ends. With Redis they need the
venue worker and `venue_stream SIM` running (the feed is Healthy only then): without them the SIM
demo orders are skipped (they would be refused `feed_stale`).
"""

from __future__ import annotations

import time

from django.conf import settings

from oms.core.dispatch import dispatch
from oms.orders.models import Order
from oms.venues.ingest import consumer_for
from rules.venues import venue_state

SYMBOL = "SOL-PERP"
MARKET = {"bidPx": "150.000", "askPx": "150.010", "bidSize": "40", "askSize": "40"}


def prepare(actor: str) -> bool:
    """Set the SIM demo market; True when SIM orders can be sent now (its feed is Healthy)."""
    dispatch("sim", {"commandType": "SimSetMarketCommand", "symbol": SYMBOL, **MARKET}, actor=actor)
    if not settings.REDIS_URL:
        consumer = consumer_for("SIM")
        if consumer is not None:
            consumer.step(timeout=0)  # connects, resyncs, reports the feed Healthy
    state = venue_state("SIM")
    return state is None or state.feed.value == "Healthy"


def settle(timeout: float = 5.0) -> None:
    """Embedded: read SIM's stream until the demo's SIM orders stop working (or `timeout`)."""
    if settings.REDIS_URL:
        return  # the venue_stream process does it
    consumer = consumer_for("SIM")
    deadline = time.monotonic() + timeout
    while consumer is not None and time.monotonic() < deadline:
        consumer.step(timeout=0.05)
        pending = Order.objects.filter(venue="SIM", kind="Market", status="PendingNew").exists()
        if not pending:
            consumer.step(timeout=0.05)
            return
