"""The RFQ events as typed, immutable records (pure: no Django)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from oms.core.events import Event
from oms.orders.enums import Side

# --- quote requests -----------------------------------------------------------------------------


class QuoteRequestCreated(Event):
    quote_req_id: str = Field(alias="quoteReqID")  # FIX 131
    symbol: str
    side: Side
    order_qty: Decimal = Field(alias="orderQty")
    account: str
    valid_until_time: dt.datetime | None = Field(None, alias="validUntilTime")  # FIX 62
    text: str | None = None
    fingerprint: str

    keep_none: ClassVar[frozenset[str]] = frozenset({"valid_until_time", "text"})


class QuoteRequestQuoted(Event):
    quote_id: str = Field(alias="quoteId")
    fix_quote_id: str = Field(alias="quoteID")  # FIX 117


class QuoteRequestAccepted(Event):
    quote_id: str = Field(alias="quoteId")
    fix_quote_id: str = Field(alias="quoteID")
    order_id: str = Field(alias="orderId")


class _Closed(Event):
    text: str | None = None


class QuoteRequestCanceled(_Closed):
    pass


class QuoteRequestRejected(_Closed):
    pass


class QuoteRequestExpired(_Closed):
    pass


# --- quotes -------------------------------------------------------------------------------------


class QuoteCreated(Event):
    fix_quote_id: str = Field(alias="quoteID")  # FIX 117
    quote_req_id: str = Field(alias="quoteReqID")
    bid_px: Decimal | None = Field(None, alias="bidPx")  # FIX 132
    offer_px: Decimal | None = Field(None, alias="offerPx")  # FIX 133
    bid_size: Decimal | None = Field(None, alias="bidSize")  # FIX 134
    offer_size: Decimal | None = Field(None, alias="offerSize")  # FIX 135
    valid_until_time: dt.datetime | None = Field(None, alias="validUntilTime")
    text: str | None = None
    quote_request_id: str = Field(alias="quoteRequestId")
    symbol: str
    side: Side
    account: str
    fingerprint: str

    keep_none: ClassVar[frozenset[str]] = frozenset(
        {"bid_px", "offer_px", "bid_size", "offer_size", "valid_until_time", "text"}
    )


class QuoteAccepted(Event):
    order_id: str = Field(alias="orderId")
    cl_ord_id: str = Field(alias="clOrdID")
    side: Side
    price: Decimal
    order_qty: Decimal = Field(alias="orderQty")
    text: str | None = None


class QuoteRejected(_Closed):
    pass


class QuoteCanceled(_Closed):
    reason: str | None = None  # why a quote closed with its request (the request's event)


class QuoteExpired(_Closed):
    pass
