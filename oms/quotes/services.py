"""RFQ command handlers: one function per command, all through `oms.core.dispatch.dispatch`.

Lock order (PostgreSQL): a command that touches a request and its quotes locks the request row
first, then the quotes in id order; a command on one quote locks only that quote. So commands on
one RFQ queue on its request and never deadlock; the version compare-and-set of the unit of work
catches anything else.

Accepting a quote is one transaction over three aggregate types: the client order is created by
the very handler behind `CreateOrderCommand` (same validation, routing and ClOrdID index, same
reactions after commit), then `QuoteAccepted`, `QuoteRequestAccepted` and a `QuoteCanceled` for
every other active quote of the request. A refusal anywhere appends nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection

from oms.core import sql
from oms.core.dispatch import Handler, Outcome, command_handler
from oms.core.errors import InvalidTransition, NotFound, ValidationFailed, VersionConflict
from oms.core.eventstore import UnitOfWork
from oms.core.parsing import iso
from oms.orders.enums import Handling, OrdType, Side, TimeInForce
from oms.orders.errors import DuplicateClOrdID
from oms.orders.services import order_create
from oms.orders.tree import new_id
from oms.quotes import commands as c
from oms.quotes import events as ev
from oms.quotes import state as qs
from oms.quotes.commands import fingerprint
from oms.quotes.enums import QuoteStatus
from oms.quotes.models import Quote, QuoteIdKey, QuoteReqIdKey, QuoteRequest
from oms.quotes.repository import QUOTE, QUOTE_REQUEST
from oms.quotes.state import QuoteRequestState, QuoteState
from oms.quotes.transitions import QUOTE as QUOTE_FSM
from oms.quotes.transitions import QUOTE_REQUEST as REQUEST_FSM
from oms.quotes.transitions import Trigger

REQUESTS = "quote-requests"
QUOTES = "quotes"

_RESERVE_REQ = (
    "INSERT INTO quote_req_id_keys (quote_req_id, quote_request_id, fingerprint) VALUES (%s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)
_RESERVE_QUOTE = "INSERT INTO quote_id_keys (fix_quote_id, quote_id, fingerprint) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


def _for_update(sql_text: str) -> str:
    return sql_text + " FOR UPDATE" if connection.vendor == "postgresql" else sql_text


def _body(
    request: QuoteRequestState | None = None, quote: QuoteState | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if quote is not None:
        body["quote"] = QUOTE.to_api(quote)
    if request is not None:
        body["quoteRequest"] = QUOTE_REQUEST.to_api(request)
    body.update(extra)
    return body


def _expired(current: str, trigger: Trigger, what: str, at: dt.datetime | None) -> InvalidTransition:
    return InvalidTransition(current, trigger.value, f"{trigger.value}: the {what} expired at {iso(at)}")


def _in_future(name: str, value: dt.datetime | None, now: dt.datetime) -> None:
    if value is not None and value <= now:
        raise ValidationFailed(f"{name} is in the past", fields={name: ["Must be in the future."]})


def _check_version(object_id: str, expected_version: int | None, version: int, what: str) -> None:
    if expected_version is not None and expected_version != version:
        raise VersionConflict(
            f"{what} {object_id} is at version {version}, not {expected_version}",
            fields={"expectedVersion": [f"Current version is {version}."]},
        )


# --- loading and locking ------------------------------------------------------------------------


def _lock_request(quote_request_id: str, field: str = "quoteRequestId") -> QuoteRequestState:
    rows = sql.fetch_all(
        _for_update("SELECT doc FROM quote_requests WHERE quote_request_id = %s"), [quote_request_id]
    )
    if not rows:
        raise NotFound(
            f"quote request {quote_request_id} not found",
            fields={field: [f"No quote request '{quote_request_id}'."]},
        )
    return qs.request_from_api(sql.json_value(rows[0][0]))


def _lock_quotes(quote_request_id: str, also: str | None = None) -> dict[str, QuoteState]:
    """The request's active quotes (and `also`, whatever its status), locked in id order."""
    rows = sql.fetch_all(
        _for_update(
            "SELECT doc FROM quotes WHERE quote_request_id = %s AND (status = %s OR quote_id = %s) "
            "ORDER BY quote_id"
        ),
        [quote_request_id, QuoteStatus.ACTIVE.value, also or ""],
    )
    quotes = [qs.quote_from_api(sql.json_value(doc)) for (doc,) in rows]
    return {q.quote_id: q for q in quotes}


def _lock_quote(quote_id: str) -> QuoteState:
    rows = sql.fetch_all(_for_update("SELECT doc FROM quotes WHERE quote_id = %s"), [quote_id])
    if not rows:
        raise NotFound(f"quote {quote_id} not found", fields={"quoteId": [f"No quote '{quote_id}'."]})
    return qs.quote_from_api(sql.json_value(rows[0][0]))


def _close_quotes(uow: UnitOfWork, quotes: list[QuoteState], reason: str, text: str) -> list[QuoteState]:
    """Active quotes of a request that can no longer be taken: canceled with the reason."""
    closed = []
    for quote in quotes:
        if QUOTE_FSM.can(quote.status, Trigger.CLOSE):
            closed.append(uow.emit(QUOTE, quote.quote_id, quote, ev.QuoteCanceled(reason=reason, text=text)))
    return closed


_Row = TypeVar("_Row", QuoteRequest, Quote)


def _claim(
    reserve: str,
    key_model: type[QuoteReqIdKey] | type[QuoteIdKey],
    state_model: type[_Row],
    field: str,
    key: str,
    object_id: str,
    fp: str,
) -> _Row | None:
    """Claim a natural key (quoteReqID, quoteID) for a new object, or find who holds it.

    None: claimed for `object_id`. A state row: the key names that object with the same content
    (an idempotent repeat). A different content, or a key whose object is gone: 409.
    """
    if sql.execute(reserve, [key, object_id, fp]) == 1:
        return None
    known = key_model._default_manager.get(pk=key)
    pk_field = state_model._meta.pk.name
    row = state_model._default_manager.filter(pk=getattr(known, pk_field)).first()
    if known.fingerprint != fp or row is None:
        raise DuplicateClOrdID(
            f"{field} {key} already names a different {state_model._meta.verbose_name}",
            fields={field: ["Already used with different content."]},
        )
    return row


# --- quote requests -----------------------------------------------------------------------------


@command_handler(REQUESTS, c.CreateQuoteRequestCommand)
def quote_request_create(
    uow: UnitOfWork,
    *,
    quote_req_id: str,
    symbol: str,
    side: Side,
    order_qty: Decimal,
    account: str,
    valid_until_time: dt.datetime | None = None,
    text: str | None = None,
) -> Outcome:
    cmd = c.CreateQuoteRequestCommand.model_construct(
        quote_req_id=quote_req_id,
        symbol=symbol,
        side=side,
        order_qty=order_qty,
        account=account,
        valid_until_time=valid_until_time,
        text=text,
    )
    data = cmd.data()
    fp = fingerprint(data)
    request_id = new_id("R")
    # claim the QuoteReqID first (rolled back with the transaction if the request is refused)
    row = _claim(_RESERVE_REQ, QuoteReqIdKey, QuoteRequest, "quoteReqID", cmd.quote_req_id, request_id, fp)
    if row is not None:
        return Outcome(_body(QUOTE_REQUEST.from_row(row)), 200, duplicate=True)
    _in_future("validUntilTime", cmd.valid_until_time, uow.ctx.now)
    created = ev.QuoteRequestCreated(
        quote_req_id=quote_req_id,
        symbol=symbol,
        side=side,
        order_qty=order_qty,
        account=account,
        valid_until_time=valid_until_time,
        text=text,
        fingerprint=fp,
    )
    request = uow.emit(QUOTE_REQUEST, request_id, None, created)
    return Outcome(_body(request), 201)


def _request_closer(
    trigger: Trigger,
    event: type[ev.QuoteRequestCanceled | ev.QuoteRequestRejected | ev.QuoteRequestExpired],
    reason: str,
) -> Handler:
    def handler(
        uow: UnitOfWork,
        *,
        quote_request_id: str,
        expected_version: int | None = None,
        text: str | None = None,
    ) -> Outcome:
        request = _lock_request(quote_request_id)
        _check_version(quote_request_id, expected_version, request.version, "quote request")
        REQUEST_FSM.check(request.status, trigger)
        if trigger is Trigger.EXPIRE_REQUEST and not request.expired_at(uow.ctx.now):
            raise InvalidTransition(
                request.status.value,
                trigger.value,
                f"{trigger.value}: valid until {iso(request.valid_until_time)}, not yet due",
            )
        quotes = _lock_quotes(request.quote_request_id)
        request = uow.emit(QUOTE_REQUEST, request.quote_request_id, request, event(text=text))
        closed = _close_quotes(
            uow, list(quotes.values()), reason, text or f"quote request {request.quote_req_id} closed"
        )
        return Outcome(_body(request, closedQuotes=[QUOTE.to_api(q) for q in closed]))

    return handler


command_handler(REQUESTS, c.CancelQuoteRequestCommand)(
    _request_closer(Trigger.CANCEL_REQUEST, ev.QuoteRequestCanceled, "QuoteRequestCanceled")
)
command_handler(REQUESTS, c.RejectQuoteRequestCommand)(
    _request_closer(Trigger.REJECT_REQUEST, ev.QuoteRequestRejected, "QuoteRequestRejected")
)
# internal: dispatched by the lifecycle job (actor "system:lifecycle") for due_quote_requests()
command_handler(REQUESTS, c.ExpireQuoteRequestCommand)(
    _request_closer(Trigger.EXPIRE_REQUEST, ev.QuoteRequestExpired, "QuoteRequestExpired")
)


# --- quotes -------------------------------------------------------------------------------------


def _quoted_side(side: str) -> tuple[str, str]:
    """The quote's (price, size) fields the client would trade on: a buyer lifts the offer, a
    seller (short or not) hits the bid."""
    return ("offerPx", "offerSize") if side == Side.BUY.value else ("bidPx", "bidSize")


@command_handler(QUOTES, c.CreateQuoteCommand)
def quote_create(
    uow: UnitOfWork,
    *,
    quote_id: str,
    quote_req_id: str,
    bid_px: Decimal | None = None,
    offer_px: Decimal | None = None,
    bid_size: Decimal | None = None,
    offer_size: Decimal | None = None,
    valid_until_time: dt.datetime | None = None,
    text: str | None = None,
) -> Outcome:
    cmd = c.CreateQuoteCommand.model_construct(
        quote_id=quote_id,
        quote_req_id=quote_req_id,
        bid_px=bid_px,
        offer_px=offer_px,
        bid_size=bid_size,
        offer_size=offer_size,
        valid_until_time=valid_until_time,
        text=text,
    )
    now = uow.ctx.now
    data = cmd.data()
    fp = fingerprint(data)
    new_quote_id = new_id("Q")  # ours; quote_id is the dealer's QuoteID (FIX 117)
    row = _claim(_RESERVE_QUOTE, QuoteIdKey, Quote, "quoteID", quote_id, new_quote_id, fp)
    if row is not None:
        return Outcome(_body(quote=QUOTE.from_row(row)), 200, duplicate=True)
    key = QuoteReqIdKey.objects.filter(pk=cmd.quote_req_id).first()
    if key is None:
        raise NotFound(
            f"quote request {cmd.quote_req_id} not found",
            fields={"quoteReqID": [f"No quote request '{cmd.quote_req_id}'."]},
        )
    request = _lock_request(key.quote_request_id, field="quoteReqID")
    REQUEST_FSM.check(request.status, Trigger.QUOTE)
    if request.expired_at(now):
        raise _expired(request.status.value, Trigger.QUOTE, "quote request", request.valid_until_time)
    _in_future("validUntilTime", cmd.valid_until_time, now)
    px_field, _ = _quoted_side(request.side)
    if data[px_field] is None:
        raise ValidationFailed(
            f"a {request.side} request needs {px_field}",
            fields={px_field: [f"Required: the request is a {request.side}."]},
        )
    quote = uow.emit(
        QUOTE,
        new_quote_id,
        None,
        ev.QuoteCreated(
            fix_quote_id=quote_id,
            quote_req_id=quote_req_id,
            bid_px=bid_px,
            offer_px=offer_px,
            bid_size=bid_size,
            offer_size=offer_size,
            valid_until_time=valid_until_time,
            text=text,
            quote_request_id=request.quote_request_id,
            symbol=request.symbol,
            side=Side(request.side),
            account=request.account,
            fingerprint=fp,
        ),
    )
    request = uow.emit(
        QUOTE_REQUEST,
        request.quote_request_id,
        request,
        ev.QuoteRequestQuoted(quote_id=new_quote_id, fix_quote_id=quote_id),
    )
    return Outcome(_body(request, quote), 201)


def _quote_closer(
    trigger: Trigger, event: type[ev.QuoteRejected | ev.QuoteCanceled | ev.QuoteExpired]
) -> Handler:
    def handler(
        uow: UnitOfWork, *, quote_id: str, expected_version: int | None = None, text: str | None = None
    ) -> Outcome:
        quote = _lock_quote(quote_id)
        _check_version(quote_id, expected_version, quote.version, "quote")
        QUOTE_FSM.check(quote.status, trigger)
        if trigger is Trigger.EXPIRE and not quote.expired_at(uow.ctx.now):
            raise InvalidTransition(
                quote.status.value,
                trigger.value,
                f"{trigger.value}: valid until {iso(quote.valid_until_time)}, not yet due",
            )
        quote = uow.emit(QUOTE, quote.quote_id, quote, event(text=text))
        return Outcome(_body(quote=quote))

    return handler


# the client passes on the quote (FIX QuoteResponse, pass/reject)
command_handler(QUOTES, c.RejectQuoteCommand)(_quote_closer(Trigger.REJECT, ev.QuoteRejected))
# the desk withdraws its quote (FIX QuoteCancel)
command_handler(QUOTES, c.CancelQuoteCommand)(_quote_closer(Trigger.CANCEL, ev.QuoteCanceled))
# internal: dispatched by the lifecycle job (actor "system:lifecycle") for due_quotes()
command_handler(QUOTES, c.ExpireQuoteCommand)(_quote_closer(Trigger.EXPIRE, ev.QuoteExpired))


@command_handler(QUOTES, c.AcceptQuoteCommand)
def quote_accept(
    uow: UnitOfWork,
    *,
    quote_id: str,
    expected_version: int | None = None,
    text: str | None = None,
    cl_ord_id: str | None = None,
    venue: str | None = None,
    handling: Handling | None = None,
) -> Outcome:
    now = uow.ctx.now
    request_id = Quote.objects.filter(pk=quote_id).values_list("quote_request_id", flat=True).first()
    if request_id is None:
        raise NotFound(f"quote {quote_id} not found", fields={"quoteId": [f"No quote '{quote_id}'."]})
    request = _lock_request(request_id)
    quotes = _lock_quotes(request_id, also=quote_id)
    quote = quotes.pop(quote_id, None)
    if quote is None:
        raise NotFound(f"quote {quote_id} not found", fields={"quoteId": [f"No quote '{quote_id}'."]})
    _check_version(quote_id, expected_version, quote.version, "quote")
    QUOTE_FSM.check(quote.status, Trigger.ACCEPT)
    if quote.expired_at(now):
        raise _expired(quote.status.value, Trigger.ACCEPT, "quote", quote.valid_until_time)
    REQUEST_FSM.check(request.status, Trigger.ACCEPT)
    if request.expired_at(now):
        raise _expired(request.status.value, Trigger.ACCEPT, "quote request", request.valid_until_time)
    px_field, size_field = _quoted_side(request.side)
    price: Decimal | None = getattr(quote, {"offerPx": "offer_px", "bidPx": "bid_px"}[px_field])
    size: Decimal | None = getattr(quote, {"offerSize": "offer_size", "bidSize": "bid_size"}[size_field])
    if price is None:  # refused at CreateQuote already; kept for quotes made before that rule
        raise InvalidTransition(quote.status.value, Trigger.ACCEPT.value, f"the quote has no {px_field}")
    # a quote for less than was asked fills what it quotes; a larger size does not grow the order
    qty = min(request.order_qty, size) if size is not None else request.order_qty
    cl_ord_id = cl_ord_id or f"{quote.quote_id}-A"
    # the client order is created by the orders app's own handler, in this unit of work
    created = order_create(
        uow,
        cl_ord_id=cl_ord_id,
        symbol=request.symbol,
        side=Side(request.side),
        order_qty=qty,
        ord_type=OrdType.LIMIT,  # at the quoted price (FIX OrdType D, previously quoted, has no equivalent here)
        price=price,
        time_in_force=TimeInForce.DAY,
        account=request.account,
        venue=venue,
        handling=handling,
        text=text,
        attributes={
            "quoteId": quote.quote_id,
            "quoteID": quote.quote_id_fix,
            "quoteRequestId": request.quote_request_id,
            "quoteReqID": request.quote_req_id,
        },
    )
    if created.duplicate:  # an identical order already exists: never link a quote to it twice
        raise DuplicateClOrdID(
            f"clOrdID {cl_ord_id} is already in use", fields={"clOrdID": ["Already used by another order."]}
        )
    order = created.body["order"]
    quote = uow.emit(
        QUOTE,
        quote.quote_id,
        quote,
        ev.QuoteAccepted(
            order_id=order["orderId"],
            cl_ord_id=cl_ord_id,
            side=Side(request.side),
            price=price,
            order_qty=qty,
            text=text,
        ),
    )
    request = uow.emit(
        QUOTE_REQUEST,
        request.quote_request_id,
        request,
        ev.QuoteRequestAccepted(
            quote_id=quote.quote_id, fix_quote_id=quote.quote_id_fix, order_id=order["orderId"]
        ),
    )
    closed = _close_quotes(
        uow, list(quotes.values()), "OtherQuoteAccepted", f"quote {quote.quote_id_fix} was accepted"
    )
    return Outcome(_body(request, quote, order=order, closedQuotes=[QUOTE.to_api(q) for q in closed]))
