"""The position events as typed, immutable records (pure: no Django).

Every event but `PositionOpened` follows from an event of another aggregate in the same
transaction (an order's fill, correction, bust or change of open quantity) or from an internal
dirty-flag command: positions are never written any other way.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from oms.core.events import Event

ZERO = Decimal(0)


class PositionOpened(Event):
    """The first event of a position: its key. Venue "" holds orders not yet routed to a venue."""

    account: str
    venue: str
    symbol: str


class _OpenOrders(Event):
    """The change of the open quantity of the order whose event caused this one (0 when none)."""

    order_id: str = Field(alias="orderId")
    open_buy_qty_delta: Decimal = Field(ZERO, alias="openBuyQtyDelta")
    open_sell_qty_delta: Decimal = Field(ZERO, alias="openSellQtyDelta")


class PositionOpenOrdersChanged(_OpenOrders):
    """An order was created, replaced, restated, cancelled, rejected, expired or placed."""


class PositionFilled(_OpenOrders):
    """An applied execution (OrderFilled): `lastQty` signed by the order's side (FIX 32/31)."""

    execution_id: str = Field(alias="executionId")
    signed_qty: Decimal = Field(alias="signedQty")
    last_px: Decimal = Field(alias="lastPx")
    multiplier: Decimal


class PositionFillCorrected(_OpenOrders):
    """A TradeCorrect (OrderFillCorrected): the fill takes its new quantity and price in place."""

    execution_id: str = Field(alias="executionId")
    signed_qty: Decimal = Field(alias="signedQty")
    last_px: Decimal = Field(alias="lastPx")
    # the fill as it was (to reverse it when it was already folded into the position's base)
    previous_signed_qty: Decimal = Field(alias="previousSignedQty")
    previous_px: Decimal = Field(alias="previousPx")


class PositionFillBusted(_OpenOrders):
    """A TradeCancel (OrderFillBusted): the fill leaves the position as if it never happened."""

    execution_id: str = Field(alias="executionId")
    signed_qty: Decimal = Field(alias="signedQty")  # the busted fill (see previousSignedQty)
    last_px: Decimal = Field(alias="lastPx")


class PositionMarkedDirty(Event):
    reason: str


class PositionDirtyCleared(Event):
    reason: str
