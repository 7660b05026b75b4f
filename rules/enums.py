"""The vocabulary of the rules engine and the controls (API values)."""

from __future__ import annotations

from enum import StrEnum


class InstrumentKind(StrEnum):
    SPOT = "Spot"
    FUTURE = "Future"
    PERPETUAL = "Perpetual"
    EQUITY = "Equity"


class Rule(StrEnum):
    """The contract's stable rule names of the pre-trade checks and controls."""

    MAX_ORDER_QTY = "max_order_qty"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    PRICE_COLLAR = "price_collar"
    NO_REFERENCE_PRICE = "no_reference_price"
    MARKET_ORDERS_DISABLED = "market_orders_disabled"
    MAX_OPEN_NOTIONAL = "max_open_notional"
    TICK_SIZE = "tick_size"
    LOT_SIZE = "lot_size"
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    SAFE_MODE = "safe_mode"
    VENUE_NOT_ARMED = "venue_not_armed"
    FEED_STALE = "feed_stale"
    POSITION_DIRTY = "position_dirty"
    THROTTLED = "throttled"
    SPAM_SUPPRESSED = "spam_suppressed"


class BookSource(StrEnum):
    """Who wrote a book (kept with it, not in the book query): a venue's book stream keeps
    rewriting it while it speaks, a person or SIM only when they set it."""

    STREAM = "Stream"  # oms.venues.bookfeed: stale = the stream stopped, no reference price
    SET = "Set"  # SetBookCommand by hand, SimSetMarketCommand, the demo: prices whatever its age


class VenueMode(StrEnum):
    PAPER = "Paper"
    LIVE = "Live"  # accepts orders only while armed (venue_not_armed)


class Feed(StrEnum):
    """A venue's market-data and order-stream health, as its worker reports it."""

    HEALTHY = "Healthy"
    STALE = "Stale"
    DOWN = "Down"


class ControlKind(StrEnum):
    SAFE_MODE = "SafeMode"
    ARMING = "Arming"


class ControlScope(StrEnum):
    GLOBAL = "global"
    VENUE = "venue"
    ACCOUNT = "account"
    SYMBOL = "symbol"  # key: a symbol, or VENUE:SYMBOL for one venue's


class ControlSource(StrEnum):
    """Who engaged a control: the desk (API, blotter), an administrator (Django admin), or the
    OMS itself (reconciliation found a mismatch, the watchdog a dead feed)."""

    DESK = "desk"
    ADMIN = "admin"
    RECONCILIATION = "reconciliation"
    WATCHDOG = "watchdog"


class ControlStatus(StrEnum):
    ACTIVE = "Active"  # SafeMode engaged
    RELEASED = "Released"  # SafeMode released
    REQUESTED = "Requested"  # Arming asked for, waiting for a second user
    ARMED = "Armed"
    DISARMED = "Disarmed"
