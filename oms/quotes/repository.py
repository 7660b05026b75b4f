"""Registers quote requests and quotes with the event store: state row <-> state, the pure apply."""

from __future__ import annotations

from operator import attrgetter

from oms.core.eventstore import AggregateType, register
from oms.quotes import state as quote_state
from oms.quotes.models import Quote, QuoteEvent, QuoteRequest, QuoteRequestEvent
from oms.quotes.state import QuoteRequestState, QuoteState

REQUEST_TOPIC = "quote-request-events"
QUOTE_TOPIC = "quote-events"


def request_from_row(row: QuoteRequest) -> QuoteRequestState:
    return quote_state.request_from_api(row.doc)


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
        from_row=quote_from_row,
        document=quote_state.QUOTE_DOCUMENT,
        row_columns={"fix_quote_id": attrgetter("quote_id_fix")},  # FIX QuoteID (117), our quoteId aside
    )
)
