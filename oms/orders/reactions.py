"""Reactions to committed order events (after commit, never inside the transaction).

A client order handled `Auto` is placed automatically: a Celery task creates the market order
at the client order's venue. On the embedded default the task runs in-process; with Redis it
runs on a worker. Placement is idempotent (the market order's clOrdID derives from the client
order), so a redelivered task creates nothing twice.
"""

from __future__ import annotations

from typing import Any

from oms.core.eventstore import subscribe


@subscribe
def place_auto_orders(events: list[dict[str, Any]]) -> None:
    from oms.orders.tasks import place_client_order  # tasks import services; keep import order simple

    for event in events:
        if event["type"] != "OrderCreated":
            continue
        state = event["state"]
        if state["kind"] == "Client" and state["handling"] == "Auto":
            place_client_order.delay(state["orderId"], event["correlationId"])
