"""Parsing RFQ commands (pure: no database). Every field error is collected into one 400."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oms.core.parsing import Fields, dec_str, iso
from oms.core.validation import Rule, Validator
from oms.orders.enums import Handling, Side

ID_MAX = 64
TEXT_MAX = 1000


def fingerprint(content: dict[str, Any]) -> str:
    """The hash deciding whether a repeated natural key (QuoteReqID, QuoteID) is the same command."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass
class CreateQuoteRequest:
    quote_req_id: str
    symbol: str
    side: Side
    order_qty: Decimal
    account: str
    valid_until_time: dt.datetime | None
    text: str | None

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


def parse_create_request(raw: dict[str, Any]) -> CreateQuoteRequest:
    f = Fields(raw)
    # ignores: a required field is None only when `f` recorded its error, raised before use
    cmd = CreateQuoteRequest(
        quote_req_id=f.string("quoteReqID", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        symbol=f.string("symbol", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        side=f.choice("side", Side, required=True),  # type: ignore[arg-type]
        order_qty=f.decimal("orderQty", required=True, positive=True),  # type: ignore[arg-type]
        account=f.string("account", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        valid_until_time=f.datetime("validUntilTime"),
        text=f.string("text", max_length=TEXT_MAX),
    )
    f.raise_if_errors("invalid CreateQuoteRequestCommand")
    return cmd


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
            lambda c: c.get("bidPx") is None or c.get("offerPx") is None or c["bidPx"] <= c["offerPx"],  # type: ignore[operator]
            "Must not be below bidPx (a crossed quote).",
            requires=("bidPx", "offerPx"),
        ),
    ],
)


@dataclass
class CreateQuote:
    quote_id: str  # FIX 117 (the API's quoteID)
    quote_req_id: str
    bid_px: Decimal | None
    offer_px: Decimal | None
    bid_size: Decimal | None
    offer_size: Decimal | None
    valid_until_time: dt.datetime | None
    text: str | None

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


def parse_create_quote(raw: dict[str, Any]) -> CreateQuote:
    f = Fields(raw)
    # ignores: a required field is None only when `f` recorded its error, raised before use
    cmd = CreateQuote(
        quote_id=f.string("quoteID", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        quote_req_id=f.string("quoteReqID", required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        bid_px=f.decimal("bidPx", positive=True),
        offer_px=f.decimal("offerPx", positive=True),
        bid_size=f.decimal("bidSize", positive=True),
        offer_size=f.decimal("offerSize", positive=True),
        valid_until_time=f.datetime("validUntilTime"),
        text=f.string("text", max_length=TEXT_MAX),
    )
    terms = {
        "bidPx": cmd.bid_px,
        "offerPx": cmd.offer_px,
        "bidSize": cmd.bid_size,
        "offerSize": cmd.offer_size,
    }
    f.errors = QUOTE_TERMS.errors(terms, f.errors)
    f.raise_if_errors("invalid CreateQuoteCommand")
    return cmd


@dataclass
class Ref:
    """A command on an existing request or quote: its id, the expected version, a text."""

    id: str
    expected_version: int | None
    text: str | None
    fields: Fields


def parse_ref(raw: dict[str, Any], id_field: str) -> Ref:
    f = Fields(raw)
    # ignores: a required field is None only when `f` recorded its error, raised before use
    return Ref(
        id=f.string(id_field, required=True, max_length=ID_MAX),  # type: ignore[arg-type]
        expected_version=f.integer("expectedVersion", minimum=0),
        text=f.string("text", max_length=TEXT_MAX),
        fields=f,
    )


@dataclass
class AcceptQuote:
    ref: Ref
    cl_ord_id: str | None  # the new client order's ClOrdID (generated when absent)
    venue: str | None
    handling: Handling | None


def parse_accept(raw: dict[str, Any]) -> AcceptQuote:
    ref = parse_ref(raw, "quoteId")
    f = ref.fields
    cmd = AcceptQuote(
        ref=ref,
        cl_ord_id=f.string("clOrdID", max_length=ID_MAX),
        venue=f.string("venue", max_length=ID_MAX),
        handling=f.choice("handling", Handling),
    )
    f.raise_if_errors("invalid AcceptQuoteCommand")
    return cmd
