"""Registers quote requests and quotes with the event store: state row <-> state, the pure apply."""

from __future__ import annotations

from typing import Any

from oms.core.eventstore import AggregateType, register
from oms.quotes import state as quote_state
from oms.quotes.models import Quote, QuoteEvent, QuoteRequest, QuoteRequestEvent
from oms.quotes.state import QuoteRequestState, QuoteState

REQUEST_TOPIC = "quote-request-events"
QUOTE_TOPIC = "quote-events"


def request_to_row(s: QuoteRequestState, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "quote_request_id": s.quote_request_id,
        "quote_req_id": s.quote_req_id,
        "symbol": s.symbol,
        "side": s.side,
        "account": s.account,
        "status": s.status.value,
        "order_qty": s.order_qty,
        "valid_until_time": s.valid_until_time,
        "order_id": s.order_id,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "doc": doc,
    }


def request_from_row(row: QuoteRequest) -> QuoteRequestState:
    return quote_state.request_from_api(row.doc)


def quote_to_row(s: QuoteState, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "quote_id": s.quote_id,
        "fix_quote_id": s.quote_id_fix,
        "quote_request_id": s.quote_request_id,
        "quote_req_id": s.quote_req_id,
        "symbol": s.symbol,
        "side": s.side,
        "account": s.account,
        "status": s.status.value,
        "bid_px": s.bid_px,
        "offer_px": s.offer_px,
        "valid_until_time": s.valid_until_time,
        "order_id": s.order_id,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "doc": doc,
    }


def quote_from_row(row: Quote) -> QuoteState:
    return quote_state.quote_from_api(row.doc)


QUOTE_REQUEST = register(
    AggregateType(
        name="quote_request",
        topic=REQUEST_TOPIC,
        state_model=QuoteRequest,
        event_model=QuoteRequestEvent,
        apply=quote_state.apply_request,
        to_api=quote_state.request_to_api,
        to_row=request_to_row,
        from_row=request_from_row,
        document=quote_state.QUOTE_REQUEST_DOCUMENT,
    )
)

QUOTE = register(
    AggregateType(
        name="quote",
        topic=QUOTE_TOPIC,
        state_model=Quote,
        event_model=QuoteEvent,
        apply=quote_state.apply_quote,
        to_api=quote_state.quote_to_api,
        to_row=quote_to_row,
        from_row=quote_from_row,
        document=quote_state.QUOTE_DOCUMENT,
    )
)
