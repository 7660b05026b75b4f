"""What the pre-trade checks read of the orders: the open client orders of an account (their
side, leaves quantity and limit price), registered with `rules.pretrade` so the rules engine
knows no order model."""

from __future__ import annotations

from oms.orders.enums import WORKING_STATUSES, Kind
from oms.orders.models import Order
from rules.intent import OpenOrder, register_open_orders


def open_orders(account: str | None, symbol: str | None, exclude: str | None) -> list[OpenOrder]:
    rows = Order.objects.filter(kind=Kind.CLIENT.value, status__in=[s.value for s in WORKING_STATUSES])
    if account is not None:
        rows = rows.filter(account=account)
    if symbol is not None:
        rows = rows.filter(symbol=symbol)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return [
        OpenOrder(side, symbol_, venue, leaves, price)
        for side, symbol_, venue, leaves, price in rows.values_list(
            "side", "symbol", "venue", "leaves_qty", "price"
        )
    ]


register_open_orders(open_orders)
