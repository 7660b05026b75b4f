"""FIX enumerations used by orders (names as the API shows them)."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):  # FIX tag 54
    BUY = "Buy"
    SELL = "Sell"
    SELL_SHORT = "SellShort"


class OrdType(StrEnum):  # FIX tag 40
    MARKET = "Market"
    LIMIT = "Limit"
    STOP = "Stop"
    STOP_LIMIT = "StopLimit"


class TimeInForce(StrEnum):  # FIX tag 59
    DAY = "Day"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class OrdStatus(StrEnum):  # FIX tag 39
    PENDING_NEW = "PendingNew"
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    DONE_FOR_DAY = "DoneForDay"
    CANCELED = "Canceled"
    PENDING_CANCEL = "PendingCancel"
    PENDING_REPLACE = "PendingReplace"
    REJECTED = "Rejected"
    EXPIRED = "Expired"


WORKING_STATUSES = (
    OrdStatus.PENDING_NEW,
    OrdStatus.NEW,
    OrdStatus.PARTIALLY_FILLED,
    OrdStatus.PENDING_CANCEL,
    OrdStatus.PENDING_REPLACE,
)


class Phase(StrEnum):
    """The underlying lifecycle beneath the pending overlays and the fill quantities.

    The reported OrdStatus is derived from phase + overlays + quantities by FIX precedence.
    """

    PENDING_NEW = "PendingNew"
    OPEN = "Open"
    DONE_FOR_DAY = "DoneForDay"
    CANCELED = "Canceled"
    EXPIRED = "Expired"
    REJECTED = "Rejected"


class Kind(StrEnum):
    CLIENT = "Client"  # a root: the client's order to the desk
    MARKET = "Market"  # child of a client order, sent to a venue
    SLICE = "Slice"  # child of a market order (algorithmic slice)


class Handling(StrEnum):  # cf. FIX HandlInst (21)
    AUTO = "Auto"
    DESK = "Desk"


MANUAL_VENUE = "MANUAL"
