"""The RFQ commands of the contract as typed, immutable records (pure: no database).

Every field error is collected into one 400; the quote's cross-field rules are named predicates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import Field

from oms.core.commands import Command, Id, OptDateTime, OptId, OptQty, Qty, Text, Version, choice, fields_of
from oms.core.parsing import dec_str, iso
from oms.core.validation import Rule, Validator
from oms.orders.enums import Handling, Side


def fingerprint(content: dict[str, Any]) -> str:
    """The hash deciding whether a repeated natural key (QuoteReqID, QuoteID) is the same command."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class CreateQuoteRequestCommand(Command):
    quote_req_id: Id = Field(alias="quoteReqID")  # FIX 131
    symbol: Id
    side: choice(Side, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated type at run time (pydantic reads it)
    order_qty: Qty = Field(alias="orderQty")
    account: Id
    valid_until_time: OptDateTime = Field(None, alias="validUntilTime")  # FIX 62
    text: Text = None

    def data(self) -> dict[str, Any]:
        return {
            "quoteReqID": self.quote_req_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "orderQty": dec_str(self.order_qty),
            "account": self.account,
            "validUntilTime": iso(self.valid_until_time),
            "text": self.text,
        }


# Cross-field rules of a quote's prices and sizes (named, so they can be disabled or extended).
QUOTE_TERMS = Validator(
    "quote terms",
    [
        Rule(
            "quote_has_a_price",
            "non_field_errors",
            lambda c: c.get("bidPx") is not None or c.get("offerPx") is not None,
            "Give bidPx, offerPx or both.",
            requires=("bidPx", "offerPx"),
        ),
        Rule(
            "bid_size_needs_bid_px",
            "bidSize",
            lambda c: c.get("bidSize") is None or c.get("bidPx") is not None,
            "A bidSize needs a bidPx.",
            requires=("bidPx",),
        ),
        Rule(
            "offer_size_needs_offer_px",
            "offerSize",
            lambda c: c.get("offerSize") is None or c.get("offerPx") is not None,
            "An offerSize needs an offerPx.",
            requires=("offerPx",),
        ),
        # the ignore: `requires` runs this rule only once both prices parsed, as Decimals
        Rule(
            "quote_not_crossed",
            "offerPx",
            lambda c: c.get("bidPx") is None or c.get("offerPx") is None or c["bidPx"] <= c["offerPx"],  # type: ignore[operator]  # Decimals once parsed (above)
            "Must not be below bidPx (a crossed quote).",
            requires=("bidPx", "offerPx"),
        ),
    ],
)


class CreateQuoteCommand(Command):
    quote_id: Id = Field(alias="quoteID")  # FIX 117
    quote_req_id: Id = Field(alias="quoteReqID")
    bid_px: OptQty = Field(None, alias="bidPx")  # FIX 132
    offer_px: OptQty = Field(None, alias="offerPx")  # FIX 133
    bid_size: OptQty = Field(None, alias="bidSize")  # FIX 134
    offer_size: OptQty = Field(None, alias="offerSize")  # FIX 135
    valid_until_time: OptDateTime = Field(None, alias="validUntilTime")
    text: Text = None

    rules: ClassVar[Validator | None] = QUOTE_TERMS

    def data(self) -> dict[str, Any]:
        return {
            "quoteID": self.quote_id,
            "quoteReqID": self.quote_req_id,
            "bidPx": dec_str(self.bid_px),
            "offerPx": dec_str(self.offer_px),
            "bidSize": dec_str(self.bid_size),
            "offerSize": dec_str(self.offer_size),
            "validUntilTime": iso(self.valid_until_time),
            "text": self.text,
        }


class QuoteRequestCommand(Command):
    """A command on an existing quote request: its id, the version the client saw, a text."""

    quote_request_id: Id = Field(alias="quoteRequestId")
    expected_version: Version = Field(None, alias="expectedVersion")
    text: Text = None


class CancelQuoteRequestCommand(QuoteRequestCommand):
    pass


class RejectQuoteRequestCommand(QuoteRequestCommand):
    pass


class ExpireQuoteRequestCommand(QuoteRequestCommand):
    """Internal: dispatched by the lifecycle job for due quote requests."""

    internal: ClassVar[bool] = True


class QuoteCommand(Command):
    """A command on an existing quote: its id, the version the client saw, a text."""

    quote_id: Id = Field(alias="quoteId")
    expected_version: Version = Field(None, alias="expectedVersion")
    text: Text = None


class RejectQuoteCommand(QuoteCommand):
    """The client passes on the quote (FIX QuoteResponse, pass/reject)."""


class CancelQuoteCommand(QuoteCommand):
    """The desk withdraws its quote (FIX QuoteCancel)."""


class ExpireQuoteCommand(QuoteCommand):
    """Internal: dispatched by the lifecycle job for due quotes."""

    internal: ClassVar[bool] = True


class AcceptQuoteCommand(QuoteCommand):
    cl_ord_id: OptId = Field(None, alias="clOrdID")  # the new client order's ClOrdID (generated when absent)
    venue: OptId = None
    handling: choice(Handling) = None  # type: ignore[valid-type]  # choice() returns an Annotated type at run time (pydantic reads it)


# commandType -> its fields (the OpenAPI description of the topic)
FIELDS = fields_of(
    CreateQuoteRequestCommand,
    CancelQuoteRequestCommand,
    RejectQuoteRequestCommand,
    ExpireQuoteRequestCommand,
    CreateQuoteCommand,
    AcceptQuoteCommand,
    RejectQuoteCommand,
    CancelQuoteCommand,
    ExpireQuoteCommand,
)
