"""Read-only admin for quote requests, quotes, their events and natural keys (RFQ)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join
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
from oms.quotes.models import Quote, QuoteEvent, QuoteIdKey, QuoteReqIdKey, QuoteRequest, QuoteRequestEvent
from oms.quotes.state import QUOTE_EVENT_TYPES, REQUEST_EVENT_TYPES

REQUEST_CHANGE = "admin:quotes_quoterequest_change"
QUOTE_CHANGE = "admin:quotes_quote_change"
ORDER_CHANGE = "admin:orders_order_change"


@admin.register(QuoteRequest)
class QuoteRequestAdmin(HistoryAdmin):
    event_model = QuoteRequestEvent

    list_display = (
        "quote_request_id",
        "quote_req_id",
        "side",
        "symbol",
        "order_qty_",
        "account",
        "status",
        "valid_until_time",
        "order",
        "created",
    )
    list_filter = ("status", "side", recent_values_filter("account"))
    search_fields = (
        "quote_request_id__exact",
        "quote_req_id__startswith",
        "symbol__exact",
        "account__exact",
        "order_id__exact",
    )
    search_help_text = "Request id, symbol, account or order id (exact), QuoteReqID (prefix); case-sensitive."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-quote_request_id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("quote_request_id", "quote_req_id", "version"),
                    ("side", "symbol", "order_qty_", "account"),
                    ("status", "valid_until_time", "order"),
                    ("created", "updated"),
                )
            },
        ),
        ("Quotes", {"fields": ("quotes",)}),
        ("State document", {"fields": ("doc_json",), "classes": ("collapse",)}),
    )
    readonly_fields = ("order_qty_", "created", "updated", "order", "quotes", "doc_json")
    order_qty_ = decimal_display("order_qty", "orderQty")
    created = time_display("created_at", "created (UTC)")
    updated = time_display("updated_at", "updated (UTC)")

    @admin.display(description="order", ordering="order_id")
    def order(self, obj: QuoteRequest) -> SafeString | str:
        return admin_link(obj.order_id, ORDER_CHANGE)

    @admin.display(description="quotes")
    def quotes(self, obj: QuoteRequest) -> SafeString:
        rows = list(Quote.objects.filter(quote_request_id=obj.pk).order_by("created_at", "quote_id"))
        if not rows:
            return mark_safe("<em>none</em>")
        return format_html_join(
            mark_safe("<br>"),
            "{} bid {} offer {} [{}]",
            ((admin_link(q.pk, QUOTE_CHANGE, q.fix_quote_id), q.bid_px, q.offer_px, q.status) for q in rows),
        )


@admin.register(Quote)
class QuoteAdmin(HistoryAdmin):
    event_model = QuoteEvent

    list_display = (
        "quote_id",
        "fix_quote_id",
        "request",
        "side",
        "symbol",
        "bid_px_",
        "offer_px_",
        "status",
        "valid_until_time",
        "order",
        "created",
    )
    list_filter = ("status", "side")
    search_fields = (
        "quote_id__exact",
        "fix_quote_id__startswith",
        "quote_request_id__exact",
        "quote_req_id__startswith",
        "symbol__exact",
        "order_id__exact",
    )
    search_help_text = (
        "Quote, request, order id or symbol (exact), QuoteID or QuoteReqID (prefix); case-sensitive."
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-quote_id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("quote_id", "fix_quote_id", "version"),
                    ("request", "quote_req_id"),
                    ("side", "symbol", "account"),
                    ("bid_px_", "offer_px_"),
                    ("status", "valid_until_time", "order"),
                    ("created", "updated"),
                )
            },
        ),
        ("State document", {"fields": ("doc_json",), "classes": ("collapse",)}),
    )
    readonly_fields = ("bid_px_", "offer_px_", "created", "updated", "request", "order", "doc_json")
    bid_px_ = decimal_display("bid_px", "bidPx")
    offer_px_ = decimal_display("offer_px", "offerPx")
    created = time_display("created_at", "created (UTC)")
    updated = time_display("updated_at", "updated (UTC)")

    @admin.display(description="quote request", ordering="quote_request_id")
    def request(self, obj: Quote) -> SafeString | str:
        return admin_link(obj.quote_request_id, REQUEST_CHANGE)

    @admin.display(description="order", ordering="order_id")
    def order(self, obj: Quote) -> SafeString | str:
        return admin_link(obj.order_id, ORDER_CHANGE)


@admin.register(QuoteRequestEvent)
class QuoteRequestEventAdmin(EventAdmin):
    aggregate_url_name = REQUEST_CHANGE
    event_types = REQUEST_EVENT_TYPES


@admin.register(QuoteEvent)
class QuoteEventAdmin(EventAdmin):
    aggregate_url_name = QUOTE_CHANGE
    event_types = QUOTE_EVENT_TYPES


@admin.register(QuoteReqIdKey)
class QuoteReqIdKeyAdmin(ReadOnlyAdmin):
    list_display = ("quote_req_id", "request", "fingerprint")
    search_fields = ("quote_req_id__startswith", "quote_request_id__exact")
    ordering = ("quote_req_id",)
    readonly_fields = ("request",)

    @admin.display(description="quote request", ordering="quote_request_id")
    def request(self, obj: QuoteReqIdKey) -> SafeString | str:
        return admin_link(obj.quote_request_id, REQUEST_CHANGE)


@admin.register(QuoteIdKey)
class QuoteIdKeyAdmin(ReadOnlyAdmin):
    list_display = ("fix_quote_id", "quote", "fingerprint")
    search_fields = ("fix_quote_id__startswith", "quote_id__exact")
    ordering = ("fix_quote_id",)
    readonly_fields = ("quote",)

    @admin.display(description="quote", ordering="quote_id")
    def quote(self, obj: QuoteIdKey) -> SafeString | str:
        return admin_link(obj.quote_id, QUOTE_CHANGE)
