"""The order transition tables (one per kind of order) and the triggers that drive them.

Keys are (reported OrdStatus, trigger); values are the nominal status the transition leads to
(fills and quantities can make it Filled instead). A pair that is absent is refused with
409 `invalid_transition` naming the status and the trigger. The pending overlays appear as
states of their own because FIX reports them; guards that look beneath an overlay (was the
order acknowledged? is a replace pending too?) are checked by the handlers.
"""

from __future__ import annotations

from enum import StrEnum

from oms.core.fsm import StateMachine
from oms.orders.enums import OrdStatus as S


class Trigger(StrEnum):
    ACCEPT = "AcceptOrder"
    REJECT = "RejectOrder"
    CANCEL = "CancelOrder"
    CANCEL_CONFIRM = "ConfirmCancel"
    CANCEL_REJECT = "RejectCancel"
    REPLACE = "ReplaceOrder"
    REPLACE_CONFIRM = "ConfirmReplace"
    REPLACE_REJECT = "RejectReplace"
    EXPIRE = "ExpireOrder"
    DONE_FOR_DAY = "DoneForDay"
    RESTATE = "RestateOrder"
    PLACE_CHILD = "PlaceChildOrder"


T = Trigger

# Orders at a venue (Market orders and Slices): the venue's reports drive them.
VENUE_ORDER = StateMachine(
    "venue order",
    {
        (S.PENDING_NEW, T.ACCEPT): S.NEW,
        (S.PENDING_NEW, T.REJECT): S.REJECTED,
        (S.PENDING_NEW, T.CANCEL): S.PENDING_CANCEL,  # B.1.d: cancel before the acknowledgement
        (S.PENDING_NEW, T.CANCEL_CONFIRM): S.CANCELED,
        (S.PENDING_NEW, T.EXPIRE): S.EXPIRED,
        **{
            (working, trigger): target
            for working in (S.NEW, S.PARTIALLY_FILLED)
            for trigger, target in (
                (T.CANCEL, S.PENDING_CANCEL),
                (T.REPLACE, S.PENDING_REPLACE),
                (T.CANCEL_CONFIRM, S.CANCELED),  # D.1.b: unsolicited cancel
                (T.EXPIRE, S.EXPIRED),  # H.1.b: IOC remainder, or end of day
                (T.DONE_FOR_DAY, S.DONE_FOR_DAY),  # A.1.b
                (T.RESTATE, working),  # D.1.c/D.1.d: unsolicited restatement
                (T.PLACE_CHILD, working),
            )
        },
        (S.FILLED, T.REPLACE): S.PENDING_REPLACE,  # C.1.c: a filled order's quantity is increased
        (S.FILLED, T.RESTATE): S.FILLED,  # G.1.b: quantity restated after a stock split
        # B.1.e: the acknowledgement crosses the cancel request (guard: not yet acknowledged)
        (S.PENDING_CANCEL, T.ACCEPT): S.PENDING_CANCEL,
        (S.PENDING_CANCEL, T.REJECT): S.REJECTED,
        (S.PENDING_CANCEL, T.CANCEL_CONFIRM): S.CANCELED,
        (S.PENDING_CANCEL, T.CANCEL_REJECT): S.PARTIALLY_FILLED,  # back to what lies beneath
        (S.PENDING_CANCEL, T.REPLACE_CONFIRM): S.PENDING_CANCEL,  # guard: a replace is pending too
        (S.PENDING_CANCEL, T.REPLACE_REJECT): S.PENDING_CANCEL,
        (S.PENDING_CANCEL, T.EXPIRE): S.EXPIRED,
        (S.PENDING_REPLACE, T.CANCEL): S.PENDING_CANCEL,
        (S.PENDING_REPLACE, T.REPLACE_CONFIRM): S.PARTIALLY_FILLED,
        (S.PENDING_REPLACE, T.REPLACE_REJECT): S.PARTIALLY_FILLED,  # C.2.a
        (S.PENDING_REPLACE, T.CANCEL_CONFIRM): S.CANCELED,
        (S.PENDING_REPLACE, T.EXPIRE): S.EXPIRED,
        (S.PENDING_REPLACE, T.RESTATE): S.PENDING_REPLACE,
        (S.DONE_FOR_DAY, T.RESTATE): S.PARTIALLY_FILLED,  # G.1.a: GTC renewed the next day
        (S.DONE_FOR_DAY, T.CANCEL): S.PENDING_CANCEL,
        (S.DONE_FOR_DAY, T.CANCEL_CONFIRM): S.CANCELED,
        (S.DONE_FOR_DAY, T.EXPIRE): S.EXPIRED,
    },
)

# Client orders: the OMS itself is the client's counterparty, so cancel and replace take effect
# at once, unless working children must be cancelled first (then PendingCancel until they are).
CLIENT_ORDER = StateMachine(
    "client order",
    {
        **{
            (working, trigger): target
            for working in (S.NEW, S.PARTIALLY_FILLED)
            for trigger, target in (
                (T.CANCEL, S.CANCELED),
                (T.REPLACE, working),
                (T.EXPIRE, S.EXPIRED),
                (T.DONE_FOR_DAY, S.DONE_FOR_DAY),
                (T.RESTATE, working),
                (T.PLACE_CHILD, working),
            )
        },
        (S.NEW, T.REJECT): S.REJECTED,  # the desk refuses an order it has not worked
        (S.FILLED, T.REPLACE): S.PARTIALLY_FILLED,
        (S.FILLED, T.RESTATE): S.FILLED,
        (S.DONE_FOR_DAY, T.RESTATE): S.PARTIALLY_FILLED,
        (S.DONE_FOR_DAY, T.CANCEL): S.CANCELED,
        (S.DONE_FOR_DAY, T.EXPIRE): S.EXPIRED,
    },
)
