"""The positions projector: called by the unit of work for every order event, in the command's
own transaction (`oms.core.eventstore.register_projector`), so a position never disagrees with
the executions applied to its orders nor with its open orders.

* an order's fill, correction or bust (the order events of an applied execution: `OrderFilled`,
  `OrderFillCorrected`, `OrderFillBusted`) changes the position of the filled order's account,
  venue and symbol;
* any change of an order's open quantity changes `openBuyQty`/`openSellQty` of its position by
  the difference (`open_qty` before and after the event): nothing is ever scanned.

What counts as open, so that each quantity that may still trade counts once:

* a client order: what it has not yet placed with children (orderQty - placedQty) while open, at
  its own venue ("" when it has none yet: a venue-less order waiting to be placed);
* a market order (a child sent to a venue): its leaves while open, or what a pending replace asks
  when that is more (the worst case until the venue answers);
* a slice: nothing of its own (its market order's leaves already hold it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.core.events import Event
from oms.core.eventstore import UnitOfWork, register_projector
from oms.core.fold import Envelope
from oms.orders.enums import Kind, Side
from oms.orders.repository import ORDER
from oms.orders.state import OrderState
from oms.positions import events as ev
from oms.positions.repository import POSITION, locked_position
from oms.positions.state import ZERO

FILL_EVENTS = frozenset({"OrderFilled", "OrderFillCorrected", "OrderFillBusted"})


def open_qty(s: OrderState | None) -> Decimal:
    """The quantity of this order that may still trade and is not counted by another order."""
    if s is None or not s.is_open:
        return ZERO
    if s.kind is Kind.CLIENT:
        return max(s.order_qty - max(s.placed_qty, s.cum_qty), ZERO)
    if s.kind is Kind.MARKET:
        qty = s.order_qty
        if s.pending_replace and s.pending_replace.get("orderQty") is not None:
            qty = max(qty, Decimal(s.pending_replace["orderQty"]))
        return max(qty - s.cum_qty, ZERO)
    return ZERO


def _sign(side: str) -> int:
    return 1 if side == Side.BUY.value else -1


def on_order_event(uow: UnitOfWork, before: OrderState | None, after: OrderState, env: Envelope) -> None:
    delta = open_qty(after) - open_qty(before)
    if not delta and env.type not in FILL_EVENTS:
        return
    buy = _sign(after.side) > 0
    deltas: dict[str, Any] = {
        "order_id": after.order_id,
        "open_buy_qty_delta": delta if buy else ZERO,
        "open_sell_qty_delta": ZERO if buy else delta,
    }
    venue = after.venue or ""
    position, multiplier = locked_position(uow, after.account, venue, after.symbol)
    d = env.data
    event: Event
    if env.type == "OrderFilled":
        event = ev.PositionFilled(
            **deltas,
            execution_id=d["executionId"],
            signed_qty=Decimal(d["lastQty"]) * _sign(after.side),
            last_px=Decimal(d["lastPx"]),
            multiplier=multiplier(),
        )
    elif env.type == "OrderFillCorrected":
        event = ev.PositionFillCorrected(
            **deltas,
            execution_id=d["executionId"],
            signed_qty=Decimal(d["lastQty"]) * _sign(after.side),
            last_px=Decimal(d["lastPx"]),
            previous_signed_qty=Decimal(d["previousQty"]) * _sign(after.side),
            previous_px=Decimal(d["previousPx"]),
        )
    elif env.type == "OrderFillBusted":
        event = ev.PositionFillBusted(
            **deltas,
            execution_id=d["executionId"],
            signed_qty=Decimal(d["lastQty"]) * _sign(after.side),
            last_px=Decimal(d["lastPx"]),
        )
    else:
        event = ev.PositionOpenOrdersChanged(**deltas)
    uow.emit(POSITION, position.position_id, position, event, occurred_at=env.occurred_at)


def enable() -> None:
    register_projector(ORDER.name, on_order_event)


enable()
