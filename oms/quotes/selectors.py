"""Reads of quote requests and quotes: specifications, lookups, events, and what is due to expire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from oms.core.errors import NotFound
from oms.core.specification import Field, Specification
from oms.orders.enums import Side
from oms.quotes.enums import OPEN_REQUEST_STATUSES, QuoteRequestStatus, QuoteStatus
from oms.quotes.models import Quote, QuoteEvent, QuoteRequest, QuoteRequestEvent


class _StableOrder(Specification):
    id_column = ""

    def order_by(self) -> tuple[str, ...]:
        # a stable page order: ties broken by the id
        chosen = self.ordering or self.default_ordering
        if any(c.lstrip("-") == self.id_column for c in chosen):
            return chosen
        return (*chosen, f"-{self.id_column}")


class QuoteRequestSpecification(_StableOrder):
    id_column = "quote_request_id"
    fields = {
        "quote_request_id": Field("quote_request_id", "in", param="quoteRequestId"),
        "quote_req_id": Field("quote_req_id", param="quoteReqID"),
        "status": Field("status", "in", choices=QuoteRequestStatus),
        "symbol": Field("symbol", "in"),
        "side": Field("side", "in", choices=Side),
        "account": Field("account", "in"),
        "updated_after": Field("updated_at", "gt", param="updatedAfter", kind="datetime"),
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "validUntilTime": "valid_until_time",
        "symbol": "symbol",
        "status": "status",
        "side": "side",
        "orderQty": "order_qty",
        "account": "account",
        "quoteReqID": "quote_req_id",
        "quoteRequestId": "quote_request_id",
    }
    default_ordering = ("-created_at", "-quote_request_id")


class QuoteSpecification(_StableOrder):
    id_column = "quote_id"
    fields = {
        "quote_id": Field("quote_id", "in", param="quoteId"),
        "fix_quote_id": Field("fix_quote_id", param="quoteID"),
        "quote_request_id": Field("quote_request_id", param="quoteRequestId"),
        "quote_req_id": Field("quote_req_id", param="quoteReqID"),
        "status": Field("status", "in", choices=QuoteStatus),
        "symbol": Field("symbol", "in"),
        "updated_after": Field("updated_at", "gt", param="updatedAfter", kind="datetime"),
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "validUntilTime": "valid_until_time",
        "symbol": "symbol",
        "status": "status",
        "bidPx": "bid_px",
        "offerPx": "offer_px",
        "quoteID": "fix_quote_id",
        "quoteId": "quote_id",
    }
    default_ordering = ("-created_at", "-quote_id")


def quote_request_query(spec: Specification) -> QuerySet[QuoteRequest]:
    return spec.apply(QuoteRequest.objects.all())


def quote_query(spec: Specification) -> QuerySet[Quote]:
    return spec.apply(Quote.objects.all())


def quote_request_get(quote_request_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = (
        QuoteRequest.objects.filter(pk=quote_request_id).values_list("doc", flat=True).first()
    )
    if doc is None:
        raise NotFound(f"quote request {quote_request_id} not found")
    return doc


def quote_get(quote_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = Quote.objects.filter(pk=quote_id).values_list("doc", flat=True).first()
    if doc is None:
        raise NotFound(f"quote {quote_id} not found")
    return doc


def quote_request_events(quote_request_id: str) -> QuerySet[QuoteRequestEvent]:
    if not QuoteRequest.objects.filter(pk=quote_request_id).exists():
        raise NotFound(f"quote request {quote_request_id} not found")
    return QuoteRequestEvent.objects.filter(aggregate_id=quote_request_id).order_by("version")


def quote_events(quote_id: str) -> QuerySet[QuoteEvent]:
    if not Quote.objects.filter(pk=quote_id).exists():
        raise NotFound(f"quote {quote_id} not found")
    return QuoteEvent.objects.filter(aggregate_id=quote_id).order_by("version")


# --- the lifecycle job's reads ------------------------------------------------------------------


def due_quote_requests(now: dt.datetime, limit: int | None = None) -> list[str]:
    """Open or quoted requests whose validUntilTime is at or before `now`, oldest deadline first.

    The job dispatches `ExpireQuoteRequestCommand {"quoteRequestId": id}` for each (which also
    closes the request's active quotes); a request taken meanwhile answers 409, which is fine.
    """
    qs = (
        QuoteRequest.objects.filter(
            status__in=[s.value for s in OPEN_REQUEST_STATUSES], valid_until_time__lte=now
        )
        .order_by("valid_until_time", "quote_request_id")
        .values_list("quote_request_id", flat=True)
    )
    return list(qs[:limit] if limit is not None else qs)


def due_quotes(now: dt.datetime, limit: int | None = None) -> list[str]:
    """Active quotes whose validUntilTime is at or before `now` (for `ExpireQuoteCommand {"quoteId"}`)."""
    qs = (
        Quote.objects.filter(status=QuoteStatus.ACTIVE.value, valid_until_time__lte=now)
        .order_by("valid_until_time", "quote_id")
        .values_list("quote_id", flat=True)
    )
    return list(qs[:limit] if limit is not None else qs)
