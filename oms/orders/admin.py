"""Read-only admin for orders, their events and the ClOrdID index.

An order's page shows its tree (root, parent, children), the executions it received (for a client
order: those allocated to it) and its full event history.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from oms.core.admin import (
    EventAdmin,
    HistoryAdmin,
    ReadOnlyAdmin,
    admin_link,
    decimal_display,
    recent_values_filter,
    time_display,
)
from oms.orders.models import ClOrdIdKey, Order, OrderEvent
from oms.orders.state import EVENT_TYPES

ORDER_CHANGE = "admin:orders_order_change"
EXECUTION_CHANGE = "admin:executions_execution_change"


@admin.register(Order)
class OrderAdmin(HistoryAdmin):
    event_model = OrderEvent

    list_display = (
        "created",
        "cl_ord_id",
        "kind",
        "side",
        "symbol",
        "order_qty_",
        "cum_qty_",
        "leaves_qty_",
        "price_",
        "avg_px_",
        "status",
        "handling",
        "venue",
        "account",
        "parent",
    )
    list_display_links = ("cl_ord_id",)
    list_filter = (
        "status",
        "kind",
        "side",
        "handling",
        recent_values_filter("venue"),
        recent_values_filter("account"),
        ("created_at", admin.DateFieldListFilter),
    )
    # case-sensitive exact or prefix lookups: they use the indexes. Django's "=" and "^" are
    # iexact/istartswith (UPPER(col)), which no index serves: 1.2 s on 200k orders vs 50 ms.
    search_fields = (
        "order_id__exact",
        "cl_ord_id__startswith",
        "symbol__exact",
        "account__exact",
        "root_id__exact",
    )
    search_help_text = "Order id, symbol, account or root id (exact), clOrdID (prefix); case-sensitive."
    # no date_hierarchy: its year/month query aggregates the whole table (the date filter does not)
    ordering = ("-created_at", "-order_id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("order_id", "cl_ord_id", "version"),
                    ("kind", "handling", "status"),
                    ("side", "symbol", "account", "venue"),
                    ("order_qty_", "cum_qty_", "leaves_qty_"),
                    ("price_", "avg_px_"),
                    ("created", "updated"),
                )
            },
        ),
        ("Tree", {"fields": ("tree",)}),
        ("Executions", {"fields": ("executions",)}),
        ("State document", {"fields": ("doc_json",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "order_qty_",
        "cum_qty_",
        "leaves_qty_",
        "price_",
        "avg_px_",
        "created",
        "updated",
        "tree",
        "executions",
        "doc_json",
    )

    order_qty_ = decimal_display("order_qty", "orderQty")
    cum_qty_ = decimal_display("cum_qty", "cumQty")
    leaves_qty_ = decimal_display("leaves_qty", "leavesQty")
    price_ = decimal_display("price", "price")
    avg_px_ = decimal_display("avg_px", "avgPx")
    created = time_display("created_at", "created (UTC)")
    updated = time_display("updated_at", "updated (UTC)")

    @admin.display(description="parent", ordering="parent_id")
    def parent(self, obj: Order) -> SafeString | str:
        return admin_link(obj.parent_id, ORDER_CHANGE)

    @admin.display(description="order tree")
    def tree(self, obj: Order) -> SafeString:
        family = list(
            Order.objects.filter(root_id=obj.root_id)
            .order_by("created_at", "order_id")
            .only(
                "order_id", "cl_ord_id", "kind", "parent_id", "status", "order_qty", "cum_qty", "created_at"
            )
        )
        by_parent: dict[str | None, list[Order]] = {}
        for order in family:
            by_parent.setdefault(order.parent_id, []).append(order)

        def lines(order: Order, depth: int) -> list[SafeString]:
            label = (
                f"{order.kind} {order.cl_ord_id} {order.cum_qty.normalize():f}/{order.order_qty.normalize():f}"
                f" [{order.status}]"
            )
            link = (
                format_html("<b>{}</b>", label)
                if order.pk == obj.pk
                else admin_link(order.pk, ORDER_CHANGE, label)
            )
            own = format_html(
                '<div style="padding-left: {}em">{}{}</div>', depth * 1.5, "└ " if depth else "", link
            )
            return [own] + [
                line for kid in by_parent.get(order.order_id, []) for line in lines(kid, depth + 1)
            ]

        roots = [o for o in family if o.order_id == obj.root_id]
        summary = format_html(
            "<div>root: {} · parent: {} · children: {}</div>",
            admin_link(obj.root_id, ORDER_CHANGE),
            admin_link(obj.parent_id, ORDER_CHANGE),
            len(by_parent.get(obj.order_id, [])),
        )
        tree = format_html_join("", "{}", ((line,) for line in lines(roots[0], 0))) if roots else ""
        return format_html('<div>{}<div style="margin-top: 4px">{}</div></div>', summary, tree)

    @admin.display(description="executions")
    def executions(self, obj: Order) -> SafeString:
        # looked up by name: executions build on orders, not the other way round
        execution_model = apps.get_model("executions", "Execution")
        rows = list(
            execution_model.objects.filter(Q(order_id=obj.order_id) | Q(client_order_id=obj.order_id))
            .order_by("created_at", "execution_id")
            .only(
                "execution_id", "exec_id", "venue", "order_id", "status", "last_qty", "last_px", "created_at"
            )
        )
        if not rows:
            return mark_safe("<em>none</em>")
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                    admin_link(e.execution_id, EXECUTION_CHANGE, e.exec_id),
                    e.venue,
                    f"{e.last_qty.normalize():f}",
                    f"{e.last_px.normalize():f}",
                    e.status,
                    admin_link(e.order_id, ORDER_CHANGE) if e.order_id != obj.order_id else "this order",
                )
                for e in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>time (UTC)</th><th>execID</th><th>venue</th><th>lastQty</th><th>lastPx</th>"
            "<th>status</th><th>order</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


@admin.register(OrderEvent)
class OrderEventAdmin(EventAdmin):
    aggregate_url_name = ORDER_CHANGE
    event_types = EVENT_TYPES


@admin.register(ClOrdIdKey)
class ClOrdIdKeyAdmin(ReadOnlyAdmin):
    list_display = ("cl_ord_id", "order", "fingerprint")
    search_fields = ("cl_ord_id__startswith", "order_id__exact")
    ordering = ("cl_ord_id",)

    @admin.display(description="order", ordering="order_id")
    def order(self, obj: ClOrdIdKey) -> SafeString | str:
        return admin_link(obj.order_id, ORDER_CHANGE)
