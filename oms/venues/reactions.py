"""Reactions to committed order events: venue orders at an adapter venue go out on workers.

A Market order created at a venue with an adapter (SIM, ccxt:*) is sent by `send_order`; a
cancel or replace requested on one by `send_cancel` / `send_replace`. Slices are not sent: a
slice works its market order's quantity, and the market order is already at the venue (sending
both would double the exposure); slicing at an adapter venue needs the market order to stay home,
which no flow does yet. Enqueued
after commit (oms.core.eventstore.subscribe), so a worker never sees an order that did not commit;
on the embedded default the tasks run in-process.
"""

from __future__ import annotations

from typing import Any

from oms.core.eventstore import subscribe
from oms.venues import tasks
from oms.venues.routing import adapter_name_for

VENUE_KINDS = ("Market",)


@subscribe
def send_venue_requests(events: list[dict[str, Any]]) -> None:
    for event in events:
        kind = event["type"]
        if kind not in ("OrderCreated", "OrderCancelRequested", "OrderReplaceRequested"):
            continue
        state = event["state"]
        if state.get("kind") not in VENUE_KINDS or adapter_name_for(state.get("venue")) is None:
            continue
        order_id = state["orderId"]
        if kind == "OrderCreated":
            tasks.send_order.delay(order_id)
        elif kind == "OrderCancelRequested" and state.get("pendingCancel"):
            tasks.send_cancel.delay(order_id, state["pendingCancel"]["clOrdID"])
        elif kind == "OrderReplaceRequested" and state.get("pending"):
            tasks.send_replace.delay(order_id, state["pending"]["clOrdID"])
