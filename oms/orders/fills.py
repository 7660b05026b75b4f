"""The order events of an execution: the orders app owns them, the executions app calls these.

Each takes the order tree the caller has locked; the change is reflected up the tree (cumQty,
avgPx, and the allocation at the root) like any other order event.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from oms.orders import events as ev
from oms.orders.state import OrderState
from oms.orders.tree import OrderTree


def order_fill(
    tree: OrderTree,
    order: OrderState,
    *,
    execution_id: str,
    exec_id: str,
    last_qty: Decimal,
    last_px: Decimal,
    occurred_at: dt.datetime | None = None,
) -> OrderState:
    """An execution applied to a venue order (FIX 32/31), allocated to the client order at the root."""
    return tree.emit(
        order,
        ev.OrderFilled(execution_id=execution_id, exec_id=exec_id, last_qty=last_qty, last_px=last_px),
        allocated_delta=last_qty,
        occurred_at=occurred_at,
    )


def order_fill_correct(
    tree: OrderTree,
    order: OrderState,
    *,
    execution_id: str,
    previous_qty: Decimal,
    previous_px: Decimal,
    last_qty: Decimal,
    last_px: Decimal,
) -> OrderState:
    """A TradeCorrect: the fill's difference is re-applied to the order and its tree."""
    return tree.emit(
        order,
        ev.OrderFillCorrected(
            execution_id=execution_id,
            previous_qty=previous_qty,
            previous_px=previous_px,
            last_qty=last_qty,
            last_px=last_px,
        ),
        allocated_delta=last_qty - previous_qty,
    )


def order_fill_bust(
    tree: OrderTree,
    order: OrderState,
    *,
    execution_id: str,
    exec_id: str,
    last_qty: Decimal,
    last_px: Decimal,
) -> OrderState:
    """A TradeCancel: the fill's quantity leaves the order (and the tree) again."""
    return tree.emit(
        order,
        ev.OrderFillBusted(execution_id=execution_id, exec_id=exec_id, last_qty=last_qty, last_px=last_px),
        allocated_delta=-last_qty,
    )
