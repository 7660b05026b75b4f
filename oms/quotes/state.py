"""Quote request and quote state with their pure `apply(state, event) -> state` (no Django).

The handlers check the transition tables (`transitions.py`) before emitting, and `apply` checks
them again on the state before each event, so replay proves the state machine, not only the fold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms.core.documents import (
    Document,
    allowed_actions,
    choice,
    decimal,
    document,
    stamps,
    string,
    strings,
    when,
)
from oms.core.fold import Envelope, event_applier
from oms.core.parsing import from_iso, to_dec
from oms.orders.enums import Side
from oms.quotes.actions import QUOTE_ACTIONS, REQUEST_ACTIONS, quote_allowed_actions, request_allowed_actions
from oms.quotes.enums import QuoteRequestStatus, QuoteStatus
from oms.quotes.transitions import QUOTE as QUOTE_FSM
from oms.quotes.transitions import QUOTE_REQUEST as REQUEST_FSM
from oms.quotes.transitions import Trigger

# --- quote requests (FIX QuoteRequest, R) ---------------------------------------------------------


@dataclass
class QuoteRequestState:
    quote_request_id: str
    quote_req_id: str  # FIX 131
    symbol: str
    side: str  # FIX 54: the client's side (Buy takes the offer, Sell the bid)
    order_qty: Decimal  # FIX 38
    account: str
    status: QuoteRequestStatus
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    valid_until_time: dt.datetime | None = None  # FIX 62
    quote_ids: list[str] = field(default_factory=list)  # the quotes made for it, oldest first
    accepted_quote_id: str | None = None
    order_id: str | None = None  # the client order created by the accept
    text: str | None = None

    def expired_at(self, now: dt.datetime) -> bool:
        return self.valid_until_time is not None and self.valid_until_time <= now


def _request_created(env: Envelope) -> QuoteRequestState:
    d = env.data
    return QuoteRequestState(
        quote_request_id=env.aggregate_id,
        quote_req_id=d["quoteReqID"],
        symbol=d["symbol"],
        side=d["side"],
        order_qty=Decimal(d["orderQty"]),
        account=d["account"],
        valid_until_time=from_iso(d.get("validUntilTime")),
        text=d.get("text"),
        status=QuoteRequestStatus.OPEN,
        version=0,
        created_at=env.recorded_at,
        updated_at=env.recorded_at,
    )


def _request_quoted(s: QuoteRequestState, d: dict[str, Any]) -> None:
    s.quote_ids = [*s.quote_ids, d["quoteId"]]
    s.status = QuoteRequestStatus.QUOTED


def _request_accepted(s: QuoteRequestState, d: dict[str, Any]) -> None:
    s.status = QuoteRequestStatus.ACCEPTED
    s.accepted_quote_id = d["quoteId"]
    s.order_id = d["orderId"]


def _closed(status: QuoteRequestStatus | QuoteStatus) -> Callable[[Any, dict[str, Any]], None]:
    """The handler of an event that ends a request or a quote: its status, and the text if any."""

    def close(s: Any, d: dict[str, Any]) -> None:
        s.status = status
        if d.get("text"):
            s.text = d["text"]

    return close


REQUEST_APPLY = {
    "QuoteRequestQuoted": _request_quoted,
    "QuoteRequestAccepted": _request_accepted,
    "QuoteRequestCanceled": _closed(QuoteRequestStatus.CANCELED),
    "QuoteRequestRejected": _closed(QuoteRequestStatus.REJECTED),
    "QuoteRequestExpired": _closed(QuoteRequestStatus.EXPIRED),
}
REQUEST_EVENT_TYPES = ("QuoteRequestCreated", *REQUEST_APPLY)


_REQUEST_TRIGGERS = {
    "QuoteRequestQuoted": Trigger.QUOTE,
    "QuoteRequestAccepted": Trigger.ACCEPT,
    "QuoteRequestCanceled": Trigger.CANCEL_REQUEST,
    "QuoteRequestRejected": Trigger.REJECT_REQUEST,
    "QuoteRequestExpired": Trigger.EXPIRE_REQUEST,
}


def _request_guard(s: QuoteRequestState, env: Envelope) -> None:
    REQUEST_FSM.check(s.status, _REQUEST_TRIGGERS[env.type])


apply_request = event_applier("QuoteRequestCreated", _request_created, REQUEST_APPLY, guard=_request_guard)


QUOTE_REQUEST_DOCUMENT: Document[QuoteRequestState] = document(
    "QuoteRequestState",
    [
        string("quoteRequestId"),
        string("quoteReqID"),  # FIX 131
        string("symbol"),
        choice("side", Side, plain=True),
        decimal("orderQty"),
        string("account"),
        when("validUntilTime", null=True),  # FIX 62
        choice("status", QuoteRequestStatus),
        strings("quoteIds"),
        string("acceptedQuoteId", null=True),
        string("orderId", null=True),
        string("text", null=True),
        *stamps(),
        allowed_actions(request_allowed_actions, REQUEST_ACTIONS),
    ],
)
request_to_api = QUOTE_REQUEST_DOCUMENT.encode
request_from_api = QUOTE_REQUEST_DOCUMENT.decoder(QuoteRequestState)


# --- quotes (FIX Quote, S) ----------------------------------------------------------------------


@dataclass
class QuoteState:
    quote_id: str
    quote_id_fix: str  # FIX 117 QuoteID (the quoter's key; the API's `quoteID`)
    quote_request_id: str
    quote_req_id: str  # FIX 131
    symbol: str
    side: str  # the request's side
    account: str
    status: QuoteStatus
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    bid_px: Decimal | None = None  # FIX 132
    offer_px: Decimal | None = None  # FIX 133
    bid_size: Decimal | None = None  # FIX 134
    offer_size: Decimal | None = None  # FIX 135
    valid_until_time: dt.datetime | None = None  # FIX 62
    order_id: str | None = None  # the client order its acceptance created
    order_cl_ord_id: str | None = None
    accepted_px: Decimal | None = None
    accepted_qty: Decimal | None = None
    text: str | None = None

    def expired_at(self, now: dt.datetime) -> bool:
        return self.valid_until_time is not None and self.valid_until_time <= now


def _quote_created(env: Envelope) -> QuoteState:
    d = env.data
    return QuoteState(
        quote_id=env.aggregate_id,
        quote_id_fix=d["quoteID"],
        quote_request_id=d["quoteRequestId"],
        quote_req_id=d["quoteReqID"],
        symbol=d["symbol"],
        side=d["side"],
        account=d["account"],
        bid_px=to_dec(d.get("bidPx")),
        offer_px=to_dec(d.get("offerPx")),
        bid_size=to_dec(d.get("bidSize")),
        offer_size=to_dec(d.get("offerSize")),
        valid_until_time=from_iso(d.get("validUntilTime")),
        text=d.get("text"),
        status=QuoteStatus.ACTIVE,
        version=0,
        created_at=env.recorded_at,
        updated_at=env.recorded_at,
    )


def _quote_accepted(s: QuoteState, d: dict[str, Any]) -> None:
    s.status = QuoteStatus.ACCEPTED
    s.order_id = d["orderId"]
    s.order_cl_ord_id = d["clOrdID"]
    s.accepted_px = Decimal(d["price"])
    s.accepted_qty = Decimal(d["orderQty"])


QUOTE_APPLY = {
    "QuoteAccepted": _quote_accepted,
    "QuoteRejected": _closed(QuoteStatus.REJECTED),
    "QuoteCanceled": _closed(QuoteStatus.CANCELED),
    "QuoteExpired": _closed(QuoteStatus.EXPIRED),
}
QUOTE_EVENT_TYPES = ("QuoteCreated", *QUOTE_APPLY)


_QUOTE_TRIGGERS = {
    "QuoteAccepted": Trigger.ACCEPT,
    "QuoteRejected": Trigger.REJECT,
    "QuoteCanceled": Trigger.CANCEL,  # withdrawn by the desk, or closed with its request (CLOSE)
    "QuoteExpired": Trigger.EXPIRE,
}


def _quote_guard(s: QuoteState, env: Envelope) -> None:
    QUOTE_FSM.check(s.status, _QUOTE_TRIGGERS[env.type])


apply_quote = event_applier("QuoteCreated", _quote_created, QUOTE_APPLY, guard=_quote_guard)


QUOTE_DOCUMENT: Document[QuoteState] = document(
    "QuoteState",
    [
        string("quoteId"),
        string("quoteID", attr="quote_id_fix"),  # FIX 117
        string("quoteRequestId"),
        string("quoteReqID"),
        string("symbol"),
        choice("side", Side, plain=True),
        string("account"),
        decimal("bidPx", null=True),  # FIX 132
        decimal("offerPx", null=True),  # FIX 133
        decimal("bidSize", null=True),  # FIX 134
        decimal("offerSize", null=True),  # FIX 135
        when("validUntilTime", null=True),
        choice("status", QuoteStatus),
        string("orderId", null=True),
        string("orderClOrdID", null=True),
        decimal("acceptedPx", null=True),
        decimal("acceptedQty", null=True),
        string("text", null=True),
        *stamps(),
        allowed_actions(quote_allowed_actions, QUOTE_ACTIONS),
    ],
)
quote_to_api = QUOTE_DOCUMENT.encode
quote_from_api = QUOTE_DOCUMENT.decoder(QuoteState)
