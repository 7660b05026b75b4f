"""Reads of orders: the specification, queries and tree traversal (the query side of CQRS)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from oms.core.errors import NotFound
from oms.core.specification import Field, Specification
from oms.orders.enums import Handling, Kind, OrdStatus, Side
from oms.orders.models import Order, OrderEvent


class OrderSpecification(Specification):
    fields = {
        "order_id": Field("order_id", "in", param="orderId"),
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
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "symbol": "symbol",
        "status": "status",
        "side": "side",
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

    def order_by(self) -> tuple[str, ...]:
        # a stable page order: ties broken by the id
        chosen = self.ordering or self.default_ordering
        return chosen if any(c.lstrip("-") == "order_id" for c in chosen) else (*chosen, "-order_id")


def order_query(spec: Specification) -> QuerySet[Order]:
    return spec.apply(Order.objects.all())


def order_get(order_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
    if doc is None:
        raise NotFound(f"order {order_id} not found")
    return doc


def order_events(order_id: str) -> QuerySet[OrderEvent]:
    if (
        not Order.objects.filter(pk=order_id).exists()
        and not OrderEvent.objects.filter(aggregate_id=order_id).exists()
    ):
        raise NotFound(f"order {order_id} not found")
    return OrderEvent.objects.filter(aggregate_id=order_id).order_by("version")


def order_tree(order_id: str) -> dict[str, Any]:
    """The order with its descendants nested under `children` (oldest first)."""
    root = order_get(order_id)
    docs = list(
        Order.objects.filter(root_id=root["rootId"])
        .order_by("created_at", "order_id")
        .values_list("doc", flat=True)
    )
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for doc in docs:
        by_parent.setdefault(doc["parentId"], []).append(doc)

    def build(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "children": [build(c) for c in by_parent.get(doc["orderId"], [])]}

    return build(root)
