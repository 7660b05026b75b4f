"""The RFQ transition tables: one for quote requests, one for quotes.

A missing (status, trigger) pair is refused with 409 `invalid_transition` naming both. Being past
`validUntilTime` counts as expired even before the lifecycle job has applied it: the handlers
check that as a guard (an expired quote cannot be accepted, an expired request cannot be quoted).
"""

from __future__ import annotations

from enum import StrEnum

from oms.core.fsm import StateMachine
from oms.quotes.enums import QuoteRequestStatus as R
from oms.quotes.enums import QuoteStatus as Q


class Trigger(StrEnum):
    QUOTE = "CreateQuote"  # a quote is made for the request
    ACCEPT = "AcceptQuote"
    REJECT_REQUEST = "RejectQuoteRequest"
    CANCEL_REQUEST = "CancelQuoteRequest"
    EXPIRE_REQUEST = "ExpireQuoteRequest"
    REJECT = "RejectQuote"
    CANCEL = "CancelQuote"
    EXPIRE = "ExpireQuote"
    CLOSE = "CloseQuote"  # its request was accepted (another quote), canceled, rejected or expired


T = Trigger

QUOTE_REQUEST = StateMachine(
    "quote request",
    {
        (R.OPEN, T.QUOTE): R.QUOTED,
        (R.OPEN, T.CANCEL_REQUEST): R.CANCELED,
        (R.OPEN, T.REJECT_REQUEST): R.REJECTED,
        (R.OPEN, T.EXPIRE_REQUEST): R.EXPIRED,
        # a request may be quoted several times (several dealers, or a requote) until one is taken
        (R.QUOTED, T.QUOTE): R.QUOTED,
        (R.QUOTED, T.ACCEPT): R.ACCEPTED,
        (R.QUOTED, T.CANCEL_REQUEST): R.CANCELED,
        # the desk may still decline after quoting (e.g. it pulls its prices); its quotes close
        (R.QUOTED, T.REJECT_REQUEST): R.REJECTED,
        (R.QUOTED, T.EXPIRE_REQUEST): R.EXPIRED,
    },
)

QUOTE = StateMachine(
    "quote",
    {
        (Q.ACTIVE, T.ACCEPT): Q.ACCEPTED,
        (Q.ACTIVE, T.REJECT): Q.REJECTED,
        (Q.ACTIVE, T.CANCEL): Q.CANCELED,
        (Q.ACTIVE, T.EXPIRE): Q.EXPIRED,
        (Q.ACTIVE, T.CLOSE): Q.CANCELED,
    },
)
