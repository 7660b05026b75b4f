"""Order state and its pure `apply(state, event) -> state` (no Django), used live and by replay.

The reported OrdStatus (FIX tag 39) is derived, never stored by hand: from the underlying phase,
the pending overlays and the quantities, by FIX precedence (Appendix D):
PendingCancel > PendingReplace > DoneForDay > Filled > Canceled/Expired > PartiallyFilled >
New/Rejected/PendingNew.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from oms.core.fold import Envelope, event_applier
from oms.core.parsing import from_iso, to_dec
from oms.orders.actions import machine_for, transition_status
from oms.orders.document import ORDER_DOCUMENT
from oms.orders.enums import Handling, Kind, OrdStatus, Phase
from oms.orders.transitions import Trigger

ZERO = Decimal(0)
AVG_PX_QUANTUM = Decimal("1e-10")


@dataclass
class OrderState:
    order_id: str
    cl_ord_id: str  # FIX 11: the current ClOrdID (changes on confirmed cancel/replace)
    kind: Kind
    root_id: str
    parent_id: str | None
    symbol: str
    side: str
    order_qty: Decimal  # FIX 38
    ord_type: str
    time_in_force: str
    account: str
    handling: Handling
    phase: Phase
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    orig_cl_ord_id: str | None = None  # FIX 41
    price: Decimal | None = None  # FIX 44
    stop_px: Decimal | None = None  # FIX 99
    expire_time: dt.datetime | None = None  # FIX 126
    venue: str | None = None
    routing_reason: str | None = None
    routing_rule: str | None = None  # the data rule that routed a client order (None: none matched)
    routing_rule_version: int | None = None
    text: str | None = None  # FIX 58
    attributes: dict[str, Any] = field(default_factory=dict)
    cum_qty: Decimal = ZERO  # FIX 14: own fills plus every child's cumQty
    gross_trade_amt: Decimal = ZERO  # FIX 381: sum of lastQty * lastPx of live fills (avgPx numerator)
    allocated_qty: Decimal = ZERO  # client orders: executions allocated to this order
    placed_qty: Decimal = ZERO  # parents: quantity committed to children (working: orderQty, done: cumQty)
    working_children: int = 0
    pending_replace: dict[str, Any] | None = None  # requested values, applied on ConfirmReplace
    pending_cancel: dict[str, Any] | None = None  # {"clOrdID": ...} while a cancel is pending
    status: OrdStatus = OrdStatus.PENDING_NEW
    leaves_qty: Decimal = ZERO  # FIX 151
    avg_px: Decimal = ZERO  # FIX 6

    # --- derived -------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Not finished: acknowledged or awaiting acknowledgement (may still be fully filled)."""
        return self.phase in (Phase.PENDING_NEW, Phase.OPEN)

    @property
    def is_working(self) -> bool:
        """Open with quantity left: the order is live at its venue (or at the desk)."""
        return self.is_open and self.cum_qty < self.order_qty

    @property
    def depth(self) -> int:
        return {Kind.CLIENT: 0, Kind.MARKET: 1, Kind.SLICE: 2}[self.kind]


def derive(s: OrderState) -> None:
    """Recompute status, leavesQty and avgPx from the stored facts (in place, on a fresh copy)."""
    filled = s.order_qty > 0 and s.cum_qty >= s.order_qty
    if s.pending_cancel is not None:
        s.status = OrdStatus.PENDING_CANCEL
    elif s.pending_replace is not None:
        s.status = OrdStatus.PENDING_REPLACE
    elif s.phase is Phase.DONE_FOR_DAY:
        s.status = OrdStatus.DONE_FOR_DAY
    elif filled:
        s.status = OrdStatus.FILLED
    elif s.phase is Phase.CANCELED:
        s.status = OrdStatus.CANCELED
    elif s.phase is Phase.EXPIRED:
        s.status = OrdStatus.EXPIRED
    elif s.cum_qty > 0 and s.phase is not Phase.REJECTED:
        s.status = OrdStatus.PARTIALLY_FILLED
    elif s.phase is Phase.OPEN:
        s.status = OrdStatus.NEW
    elif s.phase is Phase.REJECTED:
        s.status = OrdStatus.REJECTED
    else:
        s.status = OrdStatus.PENDING_NEW
    # leavesQty = orderQty - cumQty while working, 0 once Canceled/Expired/DoneForDay/Rejected/Filled
    s.leaves_qty = max(s.order_qty - s.cum_qty, ZERO) if s.is_open else ZERO
    if s.cum_qty > 0:
        s.avg_px = (s.gross_trade_amt / s.cum_qty).quantize(AVG_PX_QUANTUM, rounding=ROUND_HALF_EVEN)
    else:
        s.avg_px = ZERO


# --- apply --------------------------------------------------------------------------------------


def _d(data: dict[str, Any], key: str) -> Decimal:
    return Decimal(data[key])


def _created(env: Envelope) -> OrderState:
    d = env.data
    return OrderState(
        order_id=env.aggregate_id,
        cl_ord_id=d["clOrdID"],
        kind=Kind(d["kind"]),
        root_id=d["rootId"],
        parent_id=d.get("parentId"),
        symbol=d["symbol"],
        side=d["side"],
        order_qty=_d(d, "orderQty"),
        ord_type=d["ordType"],
        price=to_dec(d.get("price")),
        stop_px=to_dec(d.get("stopPx")),
        time_in_force=d["timeInForce"],
        expire_time=from_iso(d.get("expireTime")),
        account=d["account"],
        venue=d.get("venue"),
        handling=Handling(d["handling"]),
        routing_reason=d.get("routingReason"),
        routing_rule=d.get("routingRule"),
        routing_rule_version=d.get("routingRuleVersion"),
        text=d.get("text"),
        attributes=d.get("attributes") or {},
        phase=Phase(d["phase"]),
        version=0,
        created_at=env.recorded_at,
        updated_at=env.recorded_at,
    )


def _accepted(s: OrderState, d: dict[str, Any]) -> None:
    s.phase = Phase.OPEN


def _rejected(s: OrderState, d: dict[str, Any]) -> None:
    s.phase = Phase.REJECTED
    s.pending_cancel = None
    s.pending_replace = None
    s.text = d.get("text") or s.text


def _cancel_requested(s: OrderState, d: dict[str, Any]) -> None:
    s.pending_cancel = dict(d)


def _canceled(s: OrderState, d: dict[str, Any]) -> None:
    # a solicited cancel: the order now carries the cancel request's ClOrdID (FIX 11/41)
    new_cl_ord_id = d.get("clOrdID") or (s.pending_cancel or {}).get("clOrdID")
    if new_cl_ord_id:
        s.orig_cl_ord_id, s.cl_ord_id = s.cl_ord_id, new_cl_ord_id
    s.phase = Phase.CANCELED
    s.pending_cancel = None
    s.pending_replace = None
    if d.get("text"):
        s.text = d["text"]


def _cancel_rejected(s: OrderState, d: dict[str, Any]) -> None:
    s.pending_cancel = None
    if d.get("text"):
        s.text = d["text"]


def _replace_requested(s: OrderState, d: dict[str, Any]) -> None:
    s.pending_replace = dict(d)


def _replaced(s: OrderState, d: dict[str, Any]) -> None:
    s.orig_cl_ord_id, s.cl_ord_id = s.cl_ord_id, d["clOrdID"]
    _set_terms(s, d)
    s.pending_replace = None


def _set_terms(s: OrderState, d: dict[str, Any]) -> None:
    if d.get("orderQty") is not None:
        # FIX C.3.b/c: a quantity at or below cumQty leaves the order filled with orderQty = cumQty
        s.order_qty = max(_d(d, "orderQty"), s.cum_qty)
    if d.get("price") is not None:
        s.price = _d(d, "price")
    if d.get("stopPx") is not None:
        s.stop_px = _d(d, "stopPx")
    if d.get("timeInForce") is not None:
        s.time_in_force = d["timeInForce"]
    if d.get("expireTime") is not None:
        s.expire_time = from_iso(d["expireTime"])


def _replace_rejected(s: OrderState, d: dict[str, Any]) -> None:
    s.pending_replace = None
    if d.get("text"):
        s.text = d["text"]


def _expired(s: OrderState, d: dict[str, Any]) -> None:
    s.phase = Phase.EXPIRED
    s.pending_cancel = None
    s.pending_replace = None
    if d.get("text"):
        s.text = d["text"]


def _done_for_day(s: OrderState, d: dict[str, Any]) -> None:
    s.phase = Phase.DONE_FOR_DAY
    if d.get("text"):
        s.text = d["text"]


def _restated(s: OrderState, d: dict[str, Any]) -> None:
    _set_terms(s, d)
    if s.phase is Phase.DONE_FOR_DAY:
        # FIX G.1.a: a GTC order done for the day is restated (renewed) the next day and works again
        s.phase = Phase.OPEN
    if d.get("text"):
        s.text = d["text"]


def _filled(s: OrderState, d: dict[str, Any]) -> None:
    qty = _d(d, "lastQty")
    s.cum_qty += qty
    s.gross_trade_amt += qty * _d(d, "lastPx")
    if s.phase is Phase.PENDING_NEW:
        s.phase = Phase.OPEN  # a fill implies the venue accepted the order


def _fill_corrected(s: OrderState, d: dict[str, Any]) -> None:
    s.cum_qty += _d(d, "lastQty") - _d(d, "previousQty")
    s.gross_trade_amt += _d(d, "lastQty") * _d(d, "lastPx") - _d(d, "previousQty") * _d(d, "previousPx")


def _fill_busted(s: OrderState, d: dict[str, Any]) -> None:
    s.cum_qty -= _d(d, "lastQty")
    s.gross_trade_amt -= _d(d, "lastQty") * _d(d, "lastPx")


def _child_updated(s: OrderState, d: dict[str, Any]) -> None:
    s.cum_qty += _d(d, "cumQtyDelta")
    s.gross_trade_amt += _d(d, "grossTradeAmtDelta")
    s.placed_qty += _d(d, "placedQtyDelta")
    s.allocated_qty += _d(d, "allocatedQtyDelta")
    s.working_children += int(d["workingChildrenDelta"])


def _handling_changed(s: OrderState, d: dict[str, Any]) -> None:
    s.handling = Handling(d["handling"])
    s.routing_reason = d.get("routingReason")


APPLY = {
    "OrderAccepted": _accepted,
    "OrderRejected": _rejected,
    "OrderCancelRequested": _cancel_requested,
    "OrderCanceled": _canceled,
    "OrderCancelRejected": _cancel_rejected,
    "OrderReplaceRequested": _replace_requested,
    "OrderReplaced": _replaced,
    "OrderReplaceRejected": _replace_rejected,
    "OrderExpired": _expired,
    "OrderDoneForDay": _done_for_day,
    "OrderRestated": _restated,
    "OrderFilled": _filled,
    "OrderFillCorrected": _fill_corrected,
    "OrderFillBusted": _fill_busted,
    "ChildOrderUpdated": _child_updated,
    "OrderHandlingChanged": _handling_changed,
}
EVENT_TYPES = ("OrderCreated", *APPLY)


# The trigger of the transition table each event records, for a (client, venue) order. Fills,
# ChildOrderUpdated and OrderHandlingChanged are not transitions of the table (a late fill is a
# FIX fact in any state; executions are validated against the order before they are applied).
_EVENT_TRIGGERS: dict[str, tuple[Trigger | None, Trigger | None]] = {
    "OrderAccepted": (Trigger.ACCEPT, Trigger.ACCEPT),
    "OrderRejected": (Trigger.REJECT, Trigger.REJECT),
    "OrderCancelRequested": (Trigger.CANCEL, Trigger.CANCEL),
    # a client order is cancelled at once by the OMS; a venue order by the venue's confirmation
    "OrderCanceled": (Trigger.CANCEL, Trigger.CANCEL_CONFIRM),
    "OrderCancelRejected": (Trigger.CANCEL_REJECT, Trigger.CANCEL_REJECT),
    "OrderReplaceRequested": (Trigger.REPLACE, Trigger.REPLACE),
    # a client order is replaced at once; a venue order when the venue confirms
    "OrderReplaced": (Trigger.REPLACE, Trigger.REPLACE_CONFIRM),
    "OrderReplaceRejected": (Trigger.REPLACE_REJECT, Trigger.REPLACE_REJECT),
    "OrderExpired": (Trigger.EXPIRE, Trigger.EXPIRE),
    "OrderDoneForDay": (Trigger.DONE_FOR_DAY, Trigger.DONE_FOR_DAY),
    "OrderRestated": (Trigger.RESTATE, Trigger.RESTATE),
}


def check_transition(s: OrderState, env: Envelope) -> None:
    """The transition table, checked by `apply` on the state before each event."""
    triggers = _EVENT_TRIGGERS.get(env.type)
    if triggers is None:
        return
    if (
        s.pending_cancel is not None
        and s.pending_cancel.get("cascade")
        and env.type
        in (
            "OrderCanceled",
            "OrderCancelRejected",
        )
    ):
        # a cascade completes (or fails) with its children, whatever the parent's table says:
        # guarded by the working-children count, not by a command on the parent
        return
    trigger = triggers[0] if s.kind is Kind.CLIENT else triggers[1]
    assert trigger is not None
    machine_for(s.kind).check(transition_status(s), trigger)


apply = event_applier("OrderCreated", _created, APPLY, after=derive, guard=check_transition)


# --- representation ------------------------------------------------------------------------------

# the order's document, declared once (`oms.orders.document.ORDER_DOCUMENT`): its generated encoder
to_api = ORDER_DOCUMENT.encode
_decode = ORDER_DOCUMENT.decoder(OrderState)


def from_api(d: dict[str, Any]) -> OrderState:
    s = _decode(d)
    derive(s)
    return s
