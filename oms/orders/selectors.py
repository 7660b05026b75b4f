"""Reads of orders: the specification, its registration with the query API, the tree."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from oms.core.readside import ReadSide, register_read
from oms.core.specification import Field, Specification
from oms.orders.enums import Handling, Kind, OrdStatus, Side
from oms.orders.models import Order
from oms.orders.repository import ORDER


class OrderSpecification(Specification):
    fields = {
        "order_id": Field("order_id", "in", param="orderId", help="Order ids."),
        "cl_ord_id": Field("cl_ord_id", param="clOrdID"),
        "status": Field("status", "in", choices=OrdStatus),
        "symbol": Field("symbol", "in"),
        "side": Field("side", "in", choices=Side),
        "account": Field("account", "in"),
        "venue": Field("venue", "in"),
        "kind": Field("kind", "in", choices=Kind),
        "root_id": Field("root_id", param="rootId"),
        "parent_id": Field("parent_id", param="parentId"),
        "handling": Field("handling", choices=Handling),
        "updated_after": Field("updated_at", "gt", param="updatedAfter", kind="datetime"),
        "created_after": Field("created_at", "gt", param="createdAfter", kind="datetime"),
        "created_before": Field(
            "created_at", "lt", param="createdBefore", kind="datetime", help="Created before this time."
        ),
        # the blotter's filters on a history range (static/blotter/history.js), run here
        "search": Field(
            "cl_ord_id",
            "search",
            param="q",
            key="clOrdID",
            also=(("order_id", "orderId"), ("symbol", "symbol"), ("account", "account"), ("venue", "venue")),
            help="Quick search: a case-insensitive part of clOrdID, orderId, symbol, account or venue.",
        ),
        "cl_ord_id_contains": Field(
            "cl_ord_id", "icontains", param="clOrdIDContains", key="clOrdID", help="A part of clOrdID."
        ),
        "symbol_contains": Field("symbol", "icontains", param="symbolContains", help="A part of the symbol."),
        "account_contains": Field(
            "account", "icontains", param="accountContains", help="A part of the account."
        ),
        "venue_contains": Field("venue", "icontains", param="venueContains", help="A part of the venue."),
        "order_qty": Field("order_qty", "range", param="orderQty", kind="decimal"),
        "cum_qty": Field("cum_qty", "range", param="cumQty", kind="decimal"),
        "leaves_qty": Field("leaves_qty", "range", param="leavesQty", kind="decimal"),
        "avg_px": Field("avg_px", "range", param="avgPx", kind="decimal"),
        "price": Field("price", "range", param="price", kind="decimal"),
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "symbol": "symbol",
        "status": "status",
        "side": "side",
        "kind": "kind",
        "handling": "handling",
        "orderQty": "order_qty",
        "cumQty": "cum_qty",
        "leavesQty": "leaves_qty",
        "price": "price",
        "avgPx": "avg_px",
        "clOrdID": "cl_ord_id",
        "account": "account",
        "venue": "venue",
        "orderId": "order_id",
    }
    default_ordering = ("-created_at", "-order_id")
    id_column = "order_id"


def order_tree(read: ReadSide, root: dict[str, Any]) -> dict[str, Any]:
    """The order with its descendants nested under `children` (oldest first)."""
    docs = list(
        read.all()
        .filter(root_id=root["rootId"])
        .order_by("created_at", "order_id")
        .values_list("doc", flat=True)
    )
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for doc in docs:
        by_parent.setdefault(doc["parentId"], []).append(doc)

    def build(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "children": [build(c) for c in by_parent.get(doc["orderId"], [])]}

    return build(root)


ORDERS = register_read(ORDER, path="orders", specification=OrderSpecification, tree=order_tree)


def order_query(spec: Specification) -> QuerySet[Order]:
    return ORDERS.query(spec)


def order_get(order_id: str) -> dict[str, Any]:
    return ORDERS.get(order_id)
