"""The execution events as typed, immutable records (pure: no Django)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from oms.core.events import Event


class _Reported(Event):
    """What the venue reported (FIX ExecutionReport), as the execution's first event carries it."""

    exec_id: str = Field(alias="execID")  # FIX 17
    order_id: str = Field(alias="orderId")
    venue: str
    last_qty: Decimal = Field(alias="lastQty")  # FIX 32
    last_px: Decimal = Field(alias="lastPx")  # FIX 31
    transact_time: dt.datetime = Field(alias="transactTime")  # FIX 60
    text: str | None = None


class ExecutionHeld(_Reported):
    """A valid report that failed validation: held for the desk with its reasons."""

    review_reasons: list[str] = Field(alias="reviewReasons")
    review_details: dict[str, list[str]] = Field(alias="reviewDetails")


class ExecutionAllocatedOnReceipt(_Reported):
    """A valid report, allocated at once to the client order at the root: recorded as the
    execution's first `ExecutionAllocated`."""

    type_name: ClassVar[str] = "ExecutionAllocated"

    client_order_id: str = Field(alias="clientOrderId")


class ExecutionAllocated(Event):
    """A held execution allocated by the desk (to its order or another), overrides recorded."""

    order_id: str = Field(alias="orderId")
    client_order_id: str = Field(alias="clientOrderId")
    overridden_reasons: list[str] = Field(alias="overriddenReasons")
    text: str | None = None


class ExecutionCorrected(Event):
    """TradeCorrect; a held execution's review is redone (its reasons travel with the event)."""

    previous_qty: Decimal = Field(alias="previousQty")
    previous_px: Decimal = Field(alias="previousPx")
    last_qty: Decimal = Field(alias="lastQty")
    last_px: Decimal = Field(alias="lastPx")
    review_reasons: list[str] | None = Field(None, alias="reviewReasons")
    review_details: dict[str, list[str]] | None = Field(None, alias="reviewDetails")
    text: str | None = None


class ExecutionBusted(Event):
    text: str | None = None


class ExecutionRejected(Event):
    text: str | None = None
