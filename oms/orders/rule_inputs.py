"""What a rule backtest reads of the orders: the last client orders as the routing rules saw
them when they were created (registered with `rules.backtest`, which knows no order model)."""

from __future__ import annotations

from oms.orders.enums import Kind
from oms.orders.models import Order, OrderEvent
from rules.backtest import PastOrder, register_client_orders

TERMS = ("symbol", "side", "orderQty", "ordType", "price", "timeInForce", "account", "venue")


def recent_client_orders(limit: int) -> list[PastOrder]:
    # orders_created (-created_at, -order_id) serves the newest-first walk
    rows = list(
        Order.objects.filter(kind=Kind.CLIENT.value)
        .order_by("-created_at", "-order_id")
        .values_list("order_id", "created_at", "doc")[:limit]
    )
    # the handling the client asked for is the creating command's, not the routed one
    requested = {
        aggregate_id: (command or {}).get("handling")
        for aggregate_id, command in OrderEvent.objects.filter(
            aggregate_id__in=[r[0] for r in rows], version=1
        ).values_list("aggregate_id", "command")
    }
    return [
        (order_id, {**{k: doc.get(k) for k in TERMS}, "handling": requested.get(order_id)}, created_at)
        for order_id, created_at, doc in rows
    ]


register_client_orders(recent_client_orders)
