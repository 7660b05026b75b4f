"""Reads of quote requests and quotes: specifications, their registration with the query API, and
what is due to expire."""

from __future__ import annotations

import datetime as dt

from oms.core.readside import register_read
from oms.core.specification import Field, Specification
from oms.orders.enums import Side
from oms.quotes.enums import OPEN_REQUEST_STATUSES, QuoteRequestStatus, QuoteStatus
from oms.quotes.models import Quote, QuoteRequest
from oms.quotes.repository import QUOTE, QUOTE_REQUEST


class QuoteRequestSpecification(Specification):
    fields = {
        "quote_request_id": Field(
            "quote_request_id", "in", param="quoteRequestId", help="Quote request ids."
        ),
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
    id_column = "quote_request_id"


class QuoteSpecification(Specification):
    fields = {
        "quote_id": Field("quote_id", "in", param="quoteId", help="Quote ids."),
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
    id_column = "quote_id"


QUOTE_REQUESTS = register_read(QUOTE_REQUEST, path="quote-requests", specification=QuoteRequestSpecification)
QUOTES = register_read(QUOTE, path="quotes", specification=QuoteSpecification)


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
