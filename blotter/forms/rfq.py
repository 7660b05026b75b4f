"""The blotter's RFQ forms: quote requests and quotes (oms/quotes, docs/design/rfq.md).

Declared on the generic form like the order actions (blotter/forms/base.py: one form, one
command through `dispatch`, the one-time token as Idempotency-Key, identifiers the desk leaves
empty derived from that token, handler refusals back onto the fields). Targets: a quote request by its `quoteRequestId`, a quote by its `quoteId`
(the OMS's opaque ids, like `orderId`); the FIX keys `quoteReqID` / `quoteID` are what the desk
types and reads.

    rfq-new       -                 CreateQuoteRequestCommand
    rfq-quote     quote request     CreateQuoteCommand (quoteReqID from the request)
    rfq-cancel    quote request     CancelQuoteRequestCommand
    rfq-reject    quote request     RejectQuoteRequestCommand
    quote-accept  quote             AcceptQuoteCommand (shows the order it creates; large notional)
    quote-reject  quote             RejectQuoteCommand
    quote-cancel  quote             CancelQuoteCommand
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from blotter.forms.base import (
    ID_MAX,
    TEXT_MAX,
    CommandForm,
    allowed_actions,
    chars,
    choice,
    desk_form,
    generated_id,
    num,
    register_allowed_actions,
    to_d,
    values,
    when,
)
from oms.core.parsing import dec_str, from_iso
from oms.orders.enums import Handling, Side
from oms.quotes.actions import quote_allowed_actions, request_allowed_actions
from oms.quotes.models import Quote, QuoteRequest
from oms.quotes.state import quote_from_api, request_from_api

register_allowed_actions("quote_request", lambda doc: request_allowed_actions(request_from_api(doc)))
register_allowed_actions("quote", lambda doc: quote_allowed_actions(quote_from_api(doc)))


def traded_side(side: str | None) -> tuple[str, str, str]:
    """The quote's (price, size) fields a client on `side` trades on, and their name: a buyer lifts
    the offer, a seller (short or not) hits the bid (oms.quotes.services._quoted_side)."""
    return ("offerPx", "offerSize", "offer") if side == Side.BUY.value else ("bidPx", "bidSize", "bid")


def _expired(doc: dict[str, Any], what: str) -> str | None:
    """Past its validUntilTime counts as expired even before the lifecycle job ran (the handlers refuse it)."""
    until = doc.get("validUntilTime")
    if until and from_iso(until) <= timezone.now():
        return f"The {what} expired at {until}."
    return None


def _plain(value: Any) -> str:
    return "—" if value in (None, "") else str(value)


# --- targets -------------------------------------------------------------------------------------------


class QuoteRequestTargetForm(CommandForm):
    topic = "quote-requests"
    target_kind = "quote_request"
    target_field = "quoteRequestId"
    target_model = QuoteRequest
    quoteRequestId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)

    def summary(self) -> str:
        t = self.target
        until = f" · valid until {t['validUntilTime']}" if t.get("validUntilTime") else ""
        return (
            f"RFQ {t.get('quoteReqID')} · client {t.get('side')} {t.get('orderQty')} {t.get('symbol')}"
            f" · account {t.get('account')} · {t.get('status')}{until}"
        )

    def success_message(self, body: dict[str, Any]) -> str:
        r = body.get("quoteRequest") or {}
        closed = len(body.get("closedQuotes") or [])
        tail = f", {closed} active quote{'s' if closed != 1 else ''} canceled" if closed else ""
        return f"RFQ {r.get('quoteReqID')} is {r.get('status')}{tail}"


class QuoteTargetForm(CommandForm):
    topic = "quotes"
    target_kind = "quote"
    target_field = "quoteId"
    target_model = Quote
    quoteId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)

    def summary(self) -> str:
        t = self.target
        bid = f"{_plain(t.get('bidSize'))} @ {_plain(t.get('bidPx'))}"
        offer = f"{_plain(t.get('offerPx'))} x {_plain(t.get('offerSize'))}"
        until = f" · valid until {t['validUntilTime']}" if t.get("validUntilTime") else ""
        return (
            f"Quote {t.get('quoteID')} on RFQ {t.get('quoteReqID')} · client {t.get('side')} {t.get('symbol')}"
            f" · bid {bid} / offer {offer} · {t.get('status')}{until}"
        )

    def success_message(self, body: dict[str, Any]) -> str:
        q = body.get("quote") or {}
        return f"Quote {q.get('quoteID')} is {q.get('status')}"


# --- a new quote request ---------------------------------------------------------------------------------


class NewQuoteRequestForm(CommandForm):
    action = "rfq-new"
    title = "New quote request"
    submit_label = "Send RFQ"
    topic = "quote-requests"
    command_type = "CreateQuoteRequestCommand"
    target_kind = None
    target_field = None
    id_prefix = "RFQ"
    generated = ("quoteReqID",)

    # no default side: the desk picks the client's side on purpose
    side = choice("Client side", values(Side), blank="Choose…")
    symbol = chars("Symbol", required=True)
    orderQty = num("Quantity", required=True)
    account = chars("Account", required=True)
    validUntilTime = when("Valid until", help_text="UTC; empty: good until closed")
    quoteReqID = chars("QuoteReqID", help_text="Generated when empty")
    text = chars("Text", max_length=TEXT_MAX)

    def prefill(self, token: str) -> dict[str, Any]:
        return {"quoteReqID": generated_id(self.id_prefix, token)}

    def success_message(self, body: dict[str, Any]) -> str:
        r = body.get("quoteRequest") or {}
        return (
            f"RFQ {r.get('quoteReqID')}: client {r.get('side')} {r.get('orderQty')} {r.get('symbol')}"
            f" ({r.get('account')}) is {r.get('status')}"
        )


# --- on a quote request ------------------------------------------------------------------------------------


class QuoteForm(QuoteRequestTargetForm):
    action = "rfq-quote"
    title = "Quote"
    submit_label = "Send quote"
    topic = "quotes"
    command_type = "CreateQuoteCommand"
    allowed_action = "quote"
    id_prefix = "QT"
    generated = ("quoteID",)
    from_target = ("quoteReqID",)  # the request's FIX key, not its opaque id
    sends_target = False
    field_order = (
        "quoteReqID",
        "quoteID",
        "bidPx",
        "offerPx",
        "bidSize",
        "offerSize",
        "validUntilTime",
        "text",
    )

    # the request's key, shown and sent as the request has it (the target decides, not the input)
    quoteReqID = forms.CharField(label="QuoteReqID", required=False, disabled=True)
    quoteID = chars("QuoteID", help_text="Generated when empty")
    bidPx = num("Bid price", help_text="Where the client can sell")
    offerPx = num("Offer price", help_text="Where the client can buy")
    bidSize = num("Bid size")
    offerSize = num("Offer size")
    validUntilTime = when("Valid until", help_text="UTC; empty: good until closed")
    text = chars("Text", max_length=TEXT_MAX)

    def __init__(self, data: Any = None, *, target: dict[str, Any] | None = None) -> None:
        super().__init__(data, target=target)
        self.fields["quoteReqID"].initial = self.target.get("quoteReqID")
        px, size, name = traded_side(self.target.get("side"))
        side = self.target.get("side") or "?"
        self.fields[px].help_text = f"Required: the client's {side} trades on the {name}"
        self.fields[size].help_text = "Prefilled with the request's quantity"
        self.fields[px].widget.attrs["autofocus"] = "autofocus"

    @property
    def heading(self) -> str:
        return f"Quote RFQ {self.target.get('quoteReqID')}"

    def prefill(self, token: str) -> dict[str, Any]:
        _, size, _ = traded_side(self.target.get("side"))
        return {
            "quoteReqID": self.target.get("quoteReqID"),
            "quoteID": generated_id(self.id_prefix, token),
            size: self.target.get("orderQty"),
        }

    def refusal(self) -> str | None:
        return self.not_allowed() or _expired(self.target, "quote request")

    def success_message(self, body: dict[str, Any]) -> str:
        q = body.get("quote") or {}
        bid = f"{_plain(q.get('bidSize'))} @ {_plain(q.get('bidPx'))}"
        offer = f"{_plain(q.get('offerPx'))} x {_plain(q.get('offerSize'))}"
        return f"Quote {q.get('quoteID')} on RFQ {q.get('quoteReqID')}: bid {bid} / offer {offer}"


CancelQuoteRequestForm = desk_form(
    "rfq-cancel",
    "CancelQuoteRequestCommand",
    {"text": chars("Text", max_length=TEXT_MAX, help_text="The client withdrew the request")},
    base=QuoteRequestTargetForm,
    allowed_action="cancel",
    title="Cancel RFQ",
    danger=True,
)
RejectQuoteRequestForm = desk_form(
    "rfq-reject",
    "RejectQuoteRequestCommand",
    {"text": chars("Reason", max_length=TEXT_MAX, help_text="Why the desk declines to quote")},
    base=QuoteRequestTargetForm,
    allowed_action="reject",
    title="Reject RFQ",
    danger=True,
)


# --- on a quote ----------------------------------------------------------------------------------------------


class AcceptQuoteForm(QuoteTargetForm):
    action = "quote-accept"
    title = "Accept quote"
    submit_label = "Accept"
    command_type = "AcceptQuoteCommand"
    allowed_action = "accept"
    confirms_notional = True

    clOrdID = chars("ClOrdID", help_text="The client order's; empty: <quoteId>-A")
    venue = chars("Venue", help_text="Empty or MANUAL: the desk works it")
    handling = choice("Handling", values(Handling), required=False, blank="As the routing rules decide")
    text = chars("Text", max_length=TEXT_MAX)

    _request: dict[str, Any] | None

    def __init__(self, data: Any = None, *, target: dict[str, Any] | None = None) -> None:
        super().__init__(data, target=target)
        if self.target.get("quoteId"):
            self.fields["clOrdID"].help_text = f"The client order's; empty: {self.target['quoteId']}-A"

    @property
    def request_doc(self) -> dict[str, Any]:
        """The quote's request (its side and quantity decide the order's terms)."""
        if not hasattr(self, "_request"):
            request_id = self.target.get("quoteRequestId")
            self._request = QuoteRequest.objects.filter(pk=request_id).values_list("doc", flat=True).first()
        return self._request or {}

    def order_terms(self) -> tuple[Decimal | None, Decimal | None, str]:
        """(price, quantity, 'offer'/'bid') of the client order the accept creates, as the handler
        computes them: the side the client trades, quantity = min(request, quoted size)."""
        request = self.request_doc
        px_field, size_field, name = traded_side(request.get("side") or self.target.get("side"))
        price, size = to_d(self.target.get(px_field)), to_d(self.target.get(size_field))
        wanted = to_d(request.get("orderQty"))
        qty = wanted if size is None else (size if wanted is None else min(wanted, size))
        return price, qty, name

    def terms(self) -> list[tuple[str, str, str]]:
        if not self.target or not self.request_doc:
            return []
        price, qty, name = self.order_terms()
        t, r = self.target, self.request_doc
        notional = f"{price * qty:,.2f}" if price is not None and qty is not None else "—"
        return [
            (
                "Client order",
                f"{r.get('side')} {dec_str(qty)} {t.get('symbol')} Limit @ {dec_str(price)} Day"
                f" for {t.get('account')}",
                "order",
            ),
            (f"Price (the {name})", _plain(dec_str(price)), "price"),
            (f"Quantity (asked {r.get('orderQty')})", _plain(dec_str(qty)), "orderQty"),
            ("Notional", notional, "notional"),
        ]

    def refusal(self) -> str | None:
        if not_allowed := self.not_allowed():
            return not_allowed
        request = self.request_doc
        if not request:
            return f"The quote's request {self.target.get('quoteRequestId')} is gone."
        if "accept" not in (allowed_actions("quote_request", request) or ()):
            return f"The quote request is {request.get('status')}: nothing can be accepted on it."
        if expired := _expired(self.target, "quote") or _expired(request, "quote request"):
            return expired
        price, _, name = self.order_terms()
        if price is None:
            return f"The quote has no {name} price: the client's {request.get('side')} cannot trade on it."
        return None

    def notional(self) -> Decimal | None:
        price, qty, _ = self.order_terms()
        return None if price is None or qty is None else price * qty

    def success_message(self, body: dict[str, Any]) -> str:
        q, o = body.get("quote") or {}, body.get("order") or {}
        return (
            f"Accepted {q.get('quoteID')}: client order {o.get('clOrdID')} {o.get('side')} {o.get('orderQty')}"
            f" {o.get('symbol')} @ {o.get('price')} is {o.get('status')}"
        )


RejectQuoteForm = desk_form(
    "quote-reject",
    "RejectQuoteCommand",
    {"text": chars("Reason", max_length=TEXT_MAX, help_text="The client passed on it")},
    base=QuoteTargetForm,
    allowed_action="reject",
    title="Reject quote",
    danger=True,
)
CancelQuoteForm = desk_form(
    "quote-cancel",
    "CancelQuoteCommand",
    {"text": chars("Text", max_length=TEXT_MAX, help_text="The desk withdraws its quote")},
    base=QuoteTargetForm,
    allowed_action="cancel",
    title="Cancel quote",
    danger=True,
)


RFQ_ACTIONS: dict[str, type[CommandForm]] = {
    form.action: form
    for form in (
        NewQuoteRequestForm,
        QuoteForm,
        CancelQuoteRequestForm,
        RejectQuoteRequestForm,
        AcceptQuoteForm,
        RejectQuoteForm,
        CancelQuoteForm,
    )
}
