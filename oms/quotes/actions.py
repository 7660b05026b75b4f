"""Which desk actions a quote request or a quote takes now: asked of the RFQ transition tables.

The documents' `allowedActions` (pure, like oms/orders/actions.py). Being past `validUntilTime`
is a guard on the clock, not on the state: the handlers refuse an expired request or quote even
while its status still reads Open or Active, and the blotter greys the action out by the time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.quotes.enums import QuoteRequestStatus, QuoteStatus
from oms.quotes.transitions import QUOTE, QUOTE_REQUEST, Trigger

if TYPE_CHECKING:
    from oms.quotes.state import QuoteRequestState, QuoteState

REQUEST_ACTION_OF_TRIGGER: dict[Trigger, str] = {
    Trigger.QUOTE: "quote",
    Trigger.ACCEPT: "accept",  # one of its quotes is taken
    Trigger.CANCEL_REQUEST: "cancel",
    Trigger.REJECT_REQUEST: "reject",
}
QUOTE_ACTION_OF_TRIGGER: dict[Trigger, str] = {
    Trigger.ACCEPT: "accept",
    Trigger.REJECT: "reject",
    Trigger.CANCEL: "cancel",
}
REQUEST_ACTIONS: tuple[str, ...] = tuple(REQUEST_ACTION_OF_TRIGGER.values())
QUOTE_ACTIONS: tuple[str, ...] = tuple(QUOTE_ACTION_OF_TRIGGER.values())


# read from the tables once per status (to_api runs for every event's state)
_REQUEST: dict[QuoteRequestStatus, tuple[str, ...]] = {
    status: tuple(a for t, a in REQUEST_ACTION_OF_TRIGGER.items() if QUOTE_REQUEST.can(status, t))
    for status in QuoteRequestStatus
}
_QUOTE: dict[QuoteStatus, tuple[str, ...]] = {
    status: tuple(a for t, a in QUOTE_ACTION_OF_TRIGGER.items() if QUOTE.can(status, t))
    for status in QuoteStatus
}


def request_allowed_actions(request: QuoteRequestState) -> list[str]:
    return list(_REQUEST[request.status])


def quote_allowed_actions(quote: QuoteState) -> list[str]:
    return list(_QUOTE[quote.status])
