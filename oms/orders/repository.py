"""Registers orders with the event store: state row <-> state, and the pure apply."""

from __future__ import annotations

from oms.core.eventstore import AggregateType, register
from oms.orders import state as order_state
from oms.orders.document import ORDER_DOCUMENT
from oms.orders.enums import Kind
from oms.orders.models import Order, OrderEvent
from oms.orders.state import OrderState

TOPIC = "order-events"


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
        from_row=from_row,
        lock_rank=lock_rank,
        document=ORDER_DOCUMENT,
    )
)
