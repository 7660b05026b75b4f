"""The order document, declared once: what the API, the feed and the state row's `doc` carry.

The encoder (`to_api`), the decoder (`from_api`) and the OpenAPI `OrderState` schema are all
generated from this declaration (`oms.core.documents`). Fields in the contract's order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from oms.core.documents import (
    Document,
    allowed_actions,
    choice,
    decimal,
    document,
    integer,
    obj,
    string,
    when,
)
from oms.core.parsing import dec_str
from oms.orders.actions import ORDER_ACTIONS, order_allowed_actions
from oms.orders.enums import Handling, Kind, OrdStatus, OrdType, Phase, Side, TimeInForce

if TYPE_CHECKING:
    from oms.orders.state import OrderState


def _allocated(s: OrderState) -> str | None:
    # client orders only: the executions allocated to it (a venue order has none to show)
    return dec_str(s.allocated_qty) if s.kind is Kind.CLIENT else None


ORDER_DOCUMENT: Document[OrderState] = document(
    "OrderState",
    [
        string("orderId"),
        string("clOrdID"),  # FIX 11
        string("origClOrdID", null=True),  # FIX 41
        choice("kind", Kind),
        string("rootId"),
        string("parentId", null=True),
        string("symbol"),
        choice("side", Side, plain=True),  # FIX 54
        decimal("orderQty"),  # FIX 38
        choice("ordType", OrdType, plain=True),  # FIX 40
        decimal("price", null=True),  # FIX 44
        decimal("stopPx", null=True),  # FIX 99
        choice("timeInForce", TimeInForce, plain=True),  # FIX 59
        when("expireTime", null=True),  # FIX 126
        string("account"),
        string("venue", null=True),
        choice("status", OrdStatus, derived=True),  # FIX 39, derived by FIX precedence
        decimal("cumQty"),  # FIX 14
        decimal("leavesQty", derived=True),  # FIX 151
        decimal("avgPx", derived=True),  # FIX 6
        decimal("grossTradeAmt"),  # FIX 381
        decimal(
            "allocatedQty",
            null=True,
            compute=_allocated,
            decode=lambda d: Decimal(d["allocatedQty"] or "0"),
        ),
        decimal("placedQty"),
        integer("workingChildren"),
        choice("handling", Handling),
        string("routingReason", null=True),
        string("routingRule", null=True, help="the data rule that routed it (null: none matched)"),
        integer("routingRuleVersion", null=True, help="that rule's version"),
        obj("pending", null=True, attr="pending_replace"),
        obj("pendingCancel", null=True),
        choice("phase", Phase),
        integer("version"),
        when("createdAt"),
        when("updatedAt"),
        string("text", null=True),  # FIX 58
        obj("attributes", decode=lambda d: d.get("attributes") or {}),
        allowed_actions(order_allowed_actions, ORDER_ACTIONS),
    ],
)
