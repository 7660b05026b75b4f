"""Adoption: a venue order the OMS never sent (or a venue fill of no order, such as a trade booked
at the venue by hand) becomes an OMS order held for the desk's review, never ignored.

One internal command (`AdoptVenueOrderCommand`, actor system:reconciliation) writes, in one
transaction:

* a client order handled `Desk` (`ADOPT-<clOrdID>`, the desk's queue: held for review) with the
  venue order's terms and a text saying where it came from;
* its market order at the venue with the venue's own clOrdID, so the venue's reports and fills
  find it by clOrdID like any other (oms.venues.reports);
* the send's claim (`VenueSend`, Done, outcome `adopted`): the send task of the new market order
  finds its send settled and never places it (the venue already has it: nothing is sent twice).

Pre-trade checks are not run (`oms.orders.services.existing_venue_order()`): SAFE mode, a stale feed or a
dirty position refuse new risk, and this risk is already at the venue; refusing it would hide it.
The caller then applies the venue's report and fills through the one write path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from pydantic import Field

from oms.core.commands import Command, Id, OptId, OptQty, Qty, Text, choice
from oms.core.dispatch import Outcome, command_handler, dispatch
from oms.core.eventstore import UnitOfWork
from oms.orders.enums import Handling, OrdType, Side, TimeInForce
from oms.orders.models import ClOrdIdKey, Order
from oms.orders.services import existing_venue_order, order_create
from oms.venues.adapter import VenueFill, VenueOrderReport
from oms.venues.models import SendAction, SendStatus, VenueSend
from rules.venues import TOPIC

ACTOR = "system:reconciliation"


class AdoptVenueOrderCommand(Command):
    """Internal: record an order that exists at the venue as an OMS order held for the desk.
    Sent twice: without `parentId` it writes the client order, with it the market order at the
    venue and its settled send (a child is placed on a committed parent, as the desk's are)."""

    internal: ClassVar[bool] = True

    venue: Id
    cl_ord_id: Id = Field(alias="clOrdID")  # the venue order's clOrdID (its market order's here)
    symbol: Id
    side: choice(Side, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    order_qty: Qty = Field(alias="orderQty")
    price: OptQty = None
    account: Id
    text: Text = None
    parent_id: OptId = Field(None, alias="parentId")


def adopted_parent_id(cl_ord_id: str) -> str:
    return f"ADOPT-{cl_ord_id}"[:64]


@command_handler(TOPIC, AdoptVenueOrderCommand)
def venue_order_adopt(
    uow: UnitOfWork,
    *,
    venue: str,
    cl_ord_id: str,
    symbol: str,
    side: Side,
    order_qty: Decimal,
    account: str,
    price: Decimal | None = None,
    text: str | None = None,
    parent_id: str | None = None,
) -> Outcome:
    mine = cl_ord_id if parent_id is not None else adopted_parent_id(cl_ord_id)
    known = ClOrdIdKey.objects.filter(pk=mine).values_list("order_id", flat=True).first()
    if known is not None:  # adopted already (or the OMS's own after all): the existing order
        return Outcome({"order": Order.objects.get(pk=known).doc}, 200, duplicate=True)
    ord_type = OrdType.MARKET if price is None else OrdType.LIMIT
    if parent_id is None:
        with existing_venue_order():
            return order_create(
                uow,
                cl_ord_id=mine,
                order_qty=order_qty,
                symbol=symbol,
                side=side,
                ord_type=ord_type,
                price=price,
                time_in_force=TimeInForce.GTC,
                account=account,
                venue=venue,
                handling=Handling.DESK,
                text=(text or f"adopted from {venue}: never sent by the OMS")[:200],
            )
    with existing_venue_order():
        created = order_create(
            uow,
            cl_ord_id=cl_ord_id,
            order_qty=order_qty,
            parent_id=parent_id,
            ord_type=ord_type,
            price=price,
            time_in_force=TimeInForce.GTC,
            venue=venue,
        )
    now = dt.datetime.now(dt.UTC)
    VenueSend.objects.create(
        cl_ord_id=cl_ord_id,
        venue=venue,
        action=SendAction.PLACE,
        order_id=created.body["order"]["orderId"],
        status=SendStatus.DONE,
        outcome="adopted",
        created_at=now,
        updated_at=now,
    )
    return created


def _send(body: dict[str, object]) -> str:
    """The adopted market order's id (the client order first, then its market order)."""
    command = {"commandType": AdoptVenueOrderCommand.command_type(), **body}
    parent = dispatch(TOPIC, command, actor=ACTOR).body["order"]
    child = dispatch(TOPIC, {**command, "parentId": parent["orderId"]}, actor=ACTOR).body["order"]
    return str(child["orderId"])


def adopt_order(venue: str, report: VenueOrderReport, account: str | None) -> str:
    return _send(
        {
            "venue": venue,
            "clOrdID": report.cl_ord_id,
            "symbol": report.symbol,
            "side": report.side.value,
            "orderQty": str(report.order_qty),
            "price": None if report.price is None else str(report.price),
            "account": account or settings.OMS_RECONCILE_ADOPT_ACCOUNT,
            "text": f"adopted from {venue}: venue order {report.venue_order_id} was never sent by the OMS",
        }
    )


def orphan_cl_ord_id(fill: VenueFill) -> str:
    """The clOrdID an orphan fill's adopted order is given (the fill has none of its own)."""
    return f"EXT-{fill.exec_id}"[:64]


def adopt_fill(venue: str, fill: VenueFill) -> str:
    """A venue fill of no order (a trade booked at the venue): an adopted order of its quantity."""
    return _send(
        {
            "venue": venue,
            "clOrdID": orphan_cl_ord_id(fill),
            "symbol": fill.symbol,
            "side": fill.side.value,
            "orderQty": str(fill.last_qty),
            "price": str(fill.last_px),
            "account": fill.account or settings.OMS_RECONCILE_ADOPT_ACCOUNT,
            "text": f"adopted from {venue}: fill {fill.exec_id} of no order the OMS sent",
        }
    )
