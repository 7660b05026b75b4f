"""Registers orders with the event store: state row <-> state, and the pure apply."""

from __future__ import annotations

from typing import Any

from oms.core.eventstore import AggregateType, register
from oms.orders import state as order_state
from oms.orders.document import ORDER_DOCUMENT
from oms.orders.enums import Kind
from oms.orders.models import Order, OrderEvent
from oms.orders.state import OrderState

TOPIC = "order-events"


def to_row(s: OrderState, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": s.order_id,
        "cl_ord_id": s.cl_ord_id,
        "kind": s.kind.value,
        "root_id": s.root_id,
        "parent_id": s.parent_id,
        "symbol": s.symbol,
        "side": s.side,
        "account": s.account,
        "venue": s.venue,
        "status": s.status.value,
        "handling": s.handling.value,
        "order_qty": s.order_qty,
        "cum_qty": s.cum_qty,
        "leaves_qty": s.leaves_qty,
        "price": s.price,
        "avg_px": s.avg_px,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "doc": doc,
    }


def from_row(row: Order) -> OrderState:
    return order_state.from_api(row.doc)


# the tree's lock order (root first), as the pessimistic lock's ORDER BY kind
_RANK = {Kind.CLIENT: 0, Kind.MARKET: 1, Kind.SLICE: 2}


def lock_rank(s: OrderState) -> int:
    return _RANK[s.kind]


ORDER = register(
    AggregateType(
        name="order",
        topic=TOPIC,
        state_model=Order,
        event_model=OrderEvent,
        apply=order_state.apply,
        to_api=order_state.to_api,
        to_row=to_row,
        from_row=from_row,
        lock_rank=lock_rank,
        document=ORDER_DOCUMENT,
    )
)
