"""Typed events: each event a frozen record encoded once into its stored data, and read back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pydantic
import pytest

from oms.orders import events as order_events
from oms.orders.enums import OrdStatus
from oms.orders.state import EVENT_TYPES


def test_every_order_event_type_has_its_typed_record() -> None:
    assert set(order_events.EVENTS) == set(EVENT_TYPES)


def test_an_event_is_immutable_and_encodes_decimals_enums_and_times_canonically() -> None:
    event = order_events.ChildOrderUpdated(
        child_id="O2",
        child_status=OrdStatus.PARTIALLY_FILLED,
        cum_qty_delta=Decimal("10.500"),
        gross_trade_amt_delta=Decimal("1E+2"),
        placed_qty_delta=Decimal("0"),
        working_children_delta=-1,
        allocated_qty_delta=Decimal("10.5"),
    )
    assert event.to_data() == {
        "childId": "O2",
        "childStatus": "PartiallyFilled",
        "cumQtyDelta": "10.5",
        "grossTradeAmtDelta": "100",
        "placedQtyDelta": "0",
        "workingChildrenDelta": -1,
        "allocatedQtyDelta": "10.5",
    }
    assert order_events.ChildOrderUpdated.from_data(event.to_data()) == event
    with pytest.raises(pydantic.ValidationError):
        event.cum_qty_delta = Decimal(1)  # type: ignore[misc]  # the test assigns to a frozen event on purpose


def test_optional_fields_are_left_out_when_none_unless_the_document_shows_them() -> None:
    assert order_events.OrderAccepted().to_data() == {}
    assert order_events.OrderCancelRequested(cl_ord_id="C", cascade=False).to_data() == {
        "clOrdID": "C",
        "cascade": False,
        "text": None,  # the order's pendingCancel document shows it
    }
    replaced = order_events.OrderReplaced(
        cl_ord_id="R", expire_time=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), price=Decimal("9.50")
    )
    assert replaced.to_data() == {"price": "9.5", "expireTime": "2026-12-01T09:00:00Z", "clOrdID": "R"}


def test_a_stored_event_must_match_its_schema() -> None:
    with pytest.raises(pydantic.ValidationError):
        order_events.OrderFilled.from_data(
            {"executionId": "E1", "execID": "X", "lastQty": "ten", "lastPx": "1"}
        )
    with pytest.raises(pydantic.ValidationError):
        order_events.OrderAccepted.from_data({"text": "ok", "junk": 1})
