"""The order events as typed, immutable records (pure: no Django).

Handlers build them from typed values; `Event.to_data` encodes each once into the stored event
data (decimals as canonical strings). `apply` (state.py) folds the stored data.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from oms.core.events import Event
from oms.orders.enums import Handling, Kind, OrdStatus, OrdType, Phase, Side, TimeInForce


class OrderCreated(Event):
    """A client order accepted by the OMS, or a child placed by the desk (phase PendingNew)."""

    cl_ord_id: str = Field(alias="clOrdID")  # FIX 11
    symbol: str  # FIX 55
    side: Side  # FIX 54
    order_qty: Decimal = Field(alias="orderQty")  # FIX 38
    ord_type: OrdType = Field(alias="ordType")  # FIX 40
    price: Decimal | None = None  # FIX 44
    stop_px: Decimal | None = Field(None, alias="stopPx")  # FIX 99
    time_in_force: TimeInForce = Field(alias="timeInForce")  # FIX 59
    expire_time: dt.datetime | None = Field(None, alias="expireTime")  # FIX 126
    account: str  # FIX 1
    venue: str | None = None
    text: str | None = None  # FIX 58
    attributes: dict[str, Any] = Field(default_factory=dict)
    kind: Kind
    root_id: str = Field(alias="rootId")
    parent_id: str | None = Field(None, alias="parentId")
    handling: Handling
    routing_reason: str | None = Field(None, alias="routingReason")
    routing_rule: str | None = Field(None, alias="routingRule")  # the data rule that decided, if any
    routing_rule_version: int | None = Field(None, alias="routingRuleVersion")
    phase: Phase
    fingerprint: str

    # the full terms, nulls included: the create is the order's first document
    keep_none: ClassVar[frozenset[str]] = frozenset(
        {
            "price",
            "stop_px",
            "expire_time",
            "venue",
            "text",
            "parent_id",
            "routing_reason",
            "routing_rule",
            "routing_rule_version",
        }
    )


class _Texted(Event):
    text: str | None = None


class OrderAccepted(_Texted):
    pass


class OrderRejected(_Texted):
    pass


class OrderExpired(_Texted):
    pass


class OrderDoneForDay(_Texted):
    pass


class OrderCancelRejected(_Texted):
    pass


class OrderReplaceRejected(_Texted):
    pass


class OrderCancelRequested(Event):
    cl_ord_id: str = Field(alias="clOrdID")
    cascade: bool  # the order's working children are cancelled first
    text: str | None = None

    # the request is the order's `pendingCancel` document, text included
    keep_none: ClassVar[frozenset[str]] = frozenset({"text"})


class OrderCanceled(Event):
    cl_ord_id: str | None = Field(None, alias="clOrdID")  # a solicited cancel's ClOrdID (FIX 11/41)
    text: str | None = None
    unsolicited: bool | None = None  # a venue's cancel without a request (D.1.b)


class _NewTerms(Event):
    order_qty: Decimal | None = Field(None, alias="orderQty")
    price: Decimal | None = None
    stop_px: Decimal | None = Field(None, alias="stopPx")
    time_in_force: TimeInForce | None = Field(None, alias="timeInForce")
    expire_time: dt.datetime | None = Field(None, alias="expireTime")


class OrderReplaceRequested(_NewTerms):
    cl_ord_id: str = Field(alias="clOrdID")


class OrderReplaced(_NewTerms):
    cl_ord_id: str = Field(alias="clOrdID")
    text: str | None = None


class OrderRestated(_NewTerms):
    text: str | None = None


class OrderFilled(Event):
    execution_id: str = Field(alias="executionId")
    exec_id: str = Field(alias="execID")  # FIX 17
    last_qty: Decimal = Field(alias="lastQty")  # FIX 32
    last_px: Decimal = Field(alias="lastPx")  # FIX 31


class OrderFillCorrected(Event):
    execution_id: str = Field(alias="executionId")
    previous_qty: Decimal = Field(alias="previousQty")
    previous_px: Decimal = Field(alias="previousPx")
    last_qty: Decimal = Field(alias="lastQty")
    last_px: Decimal = Field(alias="lastPx")


class OrderFillBusted(Event):
    execution_id: str = Field(alias="executionId")
    exec_id: str = Field(alias="execID")
    last_qty: Decimal = Field(alias="lastQty")
    last_px: Decimal = Field(alias="lastPx")


class ChildOrderUpdated(Event):
    """A child's change reflected on its parent as deltas (keeps the parent's apply pure)."""

    child_id: str = Field(alias="childId")
    child_status: OrdStatus = Field(alias="childStatus")
    cum_qty_delta: Decimal = Field(alias="cumQtyDelta")
    gross_trade_amt_delta: Decimal = Field(alias="grossTradeAmtDelta")
    placed_qty_delta: Decimal = Field(alias="placedQtyDelta")
    working_children_delta: int = Field(alias="workingChildrenDelta")
    allocated_qty_delta: Decimal = Field(alias="allocatedQtyDelta")


class OrderHandlingChanged(Event):
    handling: Handling
    routing_reason: str | None = Field(None, alias="routingReason")


EVENTS: dict[str, type[Event]] = {
    cls.event_type(): cls
    for cls in (
        OrderCreated,
        OrderAccepted,
        OrderRejected,
        OrderCancelRequested,
        OrderCanceled,
        OrderCancelRejected,
        OrderReplaceRequested,
        OrderReplaced,
        OrderReplaceRejected,
        OrderExpired,
        OrderDoneForDay,
        OrderRestated,
        OrderFilled,
        OrderFillCorrected,
        OrderFillBusted,
        ChildOrderUpdated,
        OrderHandlingChanged,
    )
}
