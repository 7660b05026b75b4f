"""The comparison itself, pure (no Django, no venue): the venue's snapshot against the OMS's, as
typed records, into findings. `snapshot.py` reads both sides; `services.py` repairs what it can
(fills re-pulled, order reports re-applied) and compares again before a finding becomes a
discrepancy.

What counts as "the same" (the primer's reconciliation, per kind):

* an order: the venue's order (by any clOrdID the OMS order ever used) and the OMS order agree
  when both have the same `cumQty` and both are open or both are done (the OMS's pending
  overlays are its own business: a PendingCancel order is open until the venue says otherwise);
* an order open at the venue that no OMS order owns: `unknown_venue_order`;
* an order working in the OMS (its send settled, not in flight) that the venue neither lists as
  open nor finds by clOrdID: `missing_venue_order`;
* a venue fill: the OMS has an execution with its execID at that venue (held for review counts
  as not booked): otherwise `missing_fill`;
* a position: the venue's signed quantity per (account, symbol) equals the OMS's (a missing row
  is flat).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms.core.parsing import dec_str
from oms.reconciliation.enums import DiscrepancyKind
from oms.venues.adapter import VenueFill, VenueOrderReport, VenuePosition

ZERO = Decimal(0)
BOOKED = ("Applied", "Allocated", "Busted", "Rejected")  # execution statuses the OMS decided on


@dataclass(frozen=True)
class OmsOrder:
    """An OMS market order at the venue, as the comparison needs it."""

    order_id: str
    cl_ord_id: str
    account: str
    symbol: str
    side: str
    status: str
    phase: str
    order_qty: Decimal
    cum_qty: Decimal
    open: bool  # working (any pending overlay included)
    in_flight: bool = False  # its send has not settled: the venue may not have it yet

    def doc(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "clOrdID": self.cl_ord_id,
            "status": self.status,
            "orderQty": dec_str(self.order_qty),
            "cumQty": dec_str(self.cum_qty),
        }


def venue_order_doc(r: VenueOrderReport) -> dict[str, Any]:
    return {
        "venueOrderId": r.venue_order_id,
        "clOrdID": r.cl_ord_id,
        "side": r.side.value,
        "status": r.status.value,
        "orderQty": dec_str(r.order_qty),
        "cumQty": dec_str(r.cum_qty),
        "price": dec_str(r.price),
    }


def venue_fill_doc(f: VenueFill) -> dict[str, Any]:
    return {
        "execID": f.exec_id,
        "venueOrderId": f.venue_order_id or None,
        "clOrdID": f.cl_ord_id or None,
        "side": f.side.value,
        "lastQty": dec_str(f.last_qty),
        "lastPx": dec_str(f.last_px),
        "transactTime": f.ts_event.isoformat().replace("+00:00", "Z"),
    }


@dataclass(frozen=True)
class Finding:
    """Something that differs: what a discrepancy records."""

    kind: DiscrepancyKind
    subject: str  # what differs (the key an open discrepancy is found again by)
    account: str | None
    symbol: str | None
    oms: dict[str, Any] | None
    venue_value: dict[str, Any] | None
    text: str
    order_id: str | None = None


@dataclass
class OrderComparison:
    unknown: list[VenueOrderReport] = field(default_factory=list)  # open at the venue, no OMS order
    differ: list[tuple[VenueOrderReport, OmsOrder]] = field(default_factory=list)
    unlisted: list[OmsOrder] = field(default_factory=list)  # working in the OMS, not open at the venue
    checked: int = 0

    def count_unlisted(self, oms_working: Iterable[OmsOrder], seen: set[str]) -> None:
        """The OMS's working orders no venue order matched: counted, and unlisted unless a send is
        still in flight (the venue may not list it yet)."""
        for order in oms_working:
            if order.order_id in seen:
                continue
            self.checked += 1
            if not order.in_flight:
                self.unlisted.append(order)


def order_agrees(report: VenueOrderReport, order: OmsOrder) -> bool:
    venue_open = not report.status.terminal
    if order.phase == "PendingNew" and venue_open:
        return False  # the venue acked it; the OMS has not heard (a dropped ack): re-applied
    return report.cum_qty + earlier_venue_orders(report, order) == order.cum_qty and venue_open == order.open


def earlier_venue_orders(report: VenueOrderReport, order: OmsOrder) -> Decimal:
    """What the OMS order's earlier venue orders traded. At a venue without amend a replace is a
    cancel and a new venue order for the rest (oms.venues.cancel_place): the live venue order
    carries the OMS orderQty less what its predecessors filled (FIX orderQty counts what traded),
    so that difference is theirs, and the OMS cumQty holds it too. Zero where the venue order
    carries the whole orderQty (one venue order, or an amend)."""
    return max(order.order_qty - report.order_qty, ZERO)


def compare_orders(
    venue_open: Iterable[VenueOrderReport],
    owner_of: dict[str, OmsOrder],
    oms_working: Iterable[OmsOrder],
) -> OrderComparison:
    """`owner_of`: clOrdID (any the order used) -> the OMS order; `oms_working`: the OMS's working
    market orders at the venue."""
    out = OrderComparison()
    seen: set[str] = set()
    for report in venue_open:
        out.checked += 1
        order = owner_of.get(report.cl_ord_id)
        if order is None:
            out.unknown.append(report)
            continue
        seen.add(order.order_id)
        if not order_agrees(report, order):
            out.differ.append((report, order))
    out.count_unlisted(oms_working, seen)
    return out


class ChunkedOrders:
    """`compare_orders` fed the OMS's working orders a page at a time (keyset by orderId), so
    only what differs is kept, never every working order: the same comparison and the same
    result, in the same order (the venue's list, then the OMS's orders by orderId).

    `add_page` matches each order by its current clOrdID; the venue orders no page matched are
    looked up by every clOrdID an order ever used (`rest`, then `finish` with their owners),
    the OMS's orders no venue order matched are `unlisted` unless one of those owns them."""

    def __init__(self, venue_open: Iterable[VenueOrderReport]) -> None:
        self.reports = list(venue_open)
        self._index = {r.cl_ord_id: i for i, r in enumerate(self.reports)}
        self._agrees: set[int] = set()  # venue orders matched and equal: nothing more to keep
        self._differs: dict[int, OmsOrder] = {}
        self._unmatched: dict[str, OmsOrder] = {}  # orderId -> working order no venue order named

    def add_page(self, orders: Iterable[OmsOrder]) -> None:
        for order in orders:
            i = self._index.get(order.cl_ord_id)
            if i is None:
                self._unmatched[order.order_id] = order
            elif order_agrees(self.reports[i], order):
                self._agrees.add(i)
            else:
                self._differs[i] = order

    def rest(self) -> list[str]:
        """The clOrdIDs of the venue orders no working order's current clOrdID named."""
        matched = self._agrees | set(self._differs)
        return [r.cl_ord_id for i, r in enumerate(self.reports) if i not in matched]

    def unmatched(self) -> list[OmsOrder]:
        return list(self._unmatched.values())

    def finish(self, owner_of: dict[str, OmsOrder]) -> OrderComparison:
        """`owner_of`: clOrdID -> its OMS order, for the clOrdIDs of `rest()` (the unmatched
        working orders among them given as themselves)."""
        out = OrderComparison()
        seen: set[str] = set()
        for i, report in enumerate(self.reports):
            out.checked += 1
            if i in self._agrees:
                continue
            order = self._differs.get(i) or owner_of.get(report.cl_ord_id)
            if order is None:
                out.unknown.append(report)
                continue
            seen.add(order.order_id)
            if i in self._differs or not order_agrees(report, order):
                out.differ.append((report, order))
        out.count_unlisted(self._unmatched.values(), seen)
        return out


def unbooked_fills(fills: Iterable[VenueFill], booked: dict[str, str]) -> list[VenueFill]:
    """The venue's fills the OMS has not booked: `booked` is execID -> the execution's status."""
    return [f for f in fills if booked.get(f.exec_id) not in BOOKED]


PositionKey = tuple[str, str]  # (account, symbol)


def compare_positions(
    venue: Iterable[VenuePosition], oms: dict[PositionKey, Decimal]
) -> list[tuple[PositionKey, Decimal, Decimal]]:
    """(key, OMS qty, venue qty) of every position that differs; a missing row is flat."""
    theirs: dict[PositionKey, Decimal] = {}
    for p in venue:
        key = (p.account or "", p.symbol)
        theirs[key] = theirs.get(key, ZERO) + p.qty
    differ = []
    for key in sorted(set(theirs) | set(oms)):
        ours, them = oms.get(key, ZERO), theirs.get(key, ZERO)
        if ours != them:
            differ.append((key, ours, them))
    return differ


def position_finding(key: PositionKey, ours: Decimal, theirs: Decimal) -> Finding:
    account, symbol = key
    return Finding(
        kind=DiscrepancyKind.POSITION_MISMATCH,
        subject=f"position|{account}|{symbol}",
        account=account or None,
        symbol=symbol,
        oms={"qty": dec_str(ours)},
        venue_value={"qty": dec_str(theirs)},
        text=f"position {account} {symbol}: OMS {dec_str(ours)}, venue {dec_str(theirs)}",
    )


def fill_finding(fill: VenueFill, status: str | None, order_id: str | None) -> Finding:
    why = "no OMS order for it" if order_id is None else f"execution {status or 'missing'}"
    return Finding(
        kind=DiscrepancyKind.MISSING_FILL,
        subject=f"fill|{fill.exec_id}",
        account=fill.account or None,
        symbol=fill.symbol,
        oms=None if status is None else {"execID": fill.exec_id, "status": status, "orderId": order_id},
        venue_value=venue_fill_doc(fill),
        text=f"venue fill {fill.exec_id} not booked ({why})",
        order_id=order_id,
    )


def order_finding(
    kind: DiscrepancyKind, report: VenueOrderReport | None, order: OmsOrder | None, text: str
) -> Finding:
    cl_ord_id = order.cl_ord_id if order is not None else report.cl_ord_id if report is not None else ""
    subject_id = order.order_id if order is not None else report.venue_order_id if report else cl_ord_id
    return Finding(
        kind=kind,
        subject=f"order|{subject_id}",
        account=order.account if order is not None else None,
        symbol=order.symbol if order is not None else report.symbol if report is not None else None,
        oms=None if order is None else order.doc(),
        venue_value=None if report is None else venue_order_doc(report),
        text=text,
        order_id=None if order is None else order.order_id,
    )
