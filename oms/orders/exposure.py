"""What the pre-trade checks read of the orders: the open client orders of an account (their
side, leaves quantity and limit price), registered with `rules.pretrade` so the rules engine
knows no order model."""

from __future__ import annotations

from typing import Any

from oms.core import sql
from oms.orders.enums import WORKING_STATUSES, Kind
from rules.intent import OpenOrder, open_orders_of, register_open_orders

# Hand-written (oms.core.sql): it runs on every order a maxOpenNotional applies to, and is sent
# ahead with the clOrdID reservation (rules.pretrade.prefetch). The working-orders partial index
# serves a symbol's orders.
_WORKING = ", ".join(f"'{s.value}'" for s in WORKING_STATUSES)
_SELECT = (
    "SELECT side, symbol, venue, leaves_qty, price FROM orders "
    f"WHERE kind = '{Kind.CLIENT.value}' AND status IN ({_WORKING})"
)


def open_orders_query(account: str | None, symbol: str | None, exclude: str | None) -> tuple[str, list[Any]]:
    where, params = [_SELECT], []
    for clause, value in (("account = %s", account), ("symbol = %s", symbol), ("order_id <> %s", exclude)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return " AND ".join(where), params


def open_orders(account: str | None, symbol: str | None, exclude: str | None) -> list[OpenOrder]:
    return open_orders_of(sql.fetch_all(*open_orders_query(account, symbol, exclude)))


register_open_orders(open_orders, open_orders_query)
