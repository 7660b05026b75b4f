"""Reactions to committed order events: venue orders at an adapter venue go out on workers.

Every order the OMS creates for the market at a venue with an adapter (SIM, ccxt:*) is sent by
`send_order`, whoever created it, but one: the market order of an Auto client order is sent by
the placement task that created it, right after its commit (`market_order_placed` below, the
worker that is already running: one queue trip fewer on the order path). `send_order` sends
the desk's market orders (children of a client order) and its slices (children of a market order
kept at a venue without adapter, MANUAL or a desk venue: the orders app refuses slicing a market order that is
itself at an adapter venue, which would put the same quantity at the venue twice); a cancel or
replace requested on one by `send_cancel` / `send_replace`. Enqueued after commit
(oms.core.eventstore.subscribe), so a worker never sees an order that did not commit; on the
embedded default the tasks run in-process.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from oms.core.eventstore import subscribe
from oms.orders.tasks import market_order_placed, placing
from oms.venues import tasks
from oms.venues.routing import adapter_name_for

VENUE_KINDS = ("Market", "Slice")  # the street orders; a client order is the OMS's own


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
            if not placing():  # else the placement task sends it (send_placed_market_order)
                tasks.send_order.delay(order_id)
        elif kind == "OrderCancelRequested" and state.get("pendingCancel"):
            tasks.send_cancel.delay(order_id, state["pendingCancel"]["clOrdID"])
        elif kind == "OrderReplaceRequested" and state.get("pending"):
            tasks.send_replace.delay(order_id, state["pending"]["clOrdID"])


@receiver(market_order_placed)
def send_placed_market_order(sender: Any, order_id: str, venue: str | None, **kwargs: Any) -> None:
    """In the placement task, after its commit: send the market order it placed (or found placed
    and unsent); a venue without an adapter (MANUAL, a desk venue) has nothing to send."""
    if adapter_name_for(venue) is not None:
        tasks.send_placed(order_id)
