"""A replace at a venue that cannot amend (ccxt `has['editOrder']` false, SIM with
`OMS_SIM_AMEND=0`): cancel the venue order, then place a new one, without ever risking both.

The OMS order keeps one FIX replace history whatever the venue does: `OrderReplaceRequested`
(PendingReplace, the new clOrdID pending), then `OrderReplaced` (the new clOrdID current, the old
one its `origClOrdID`) or `OrderReplaceRejected`. At the venue the same replace is two orders:

    OMS order                               venue
    clOrdID A (placed, VenueSend A: Place)  order A
    replace requested, clOrdID B pending    cancel of A (this task's claim: VenueSend B, Replace)
    OrderReplaced, clOrdID B, origClOrdID A order B: orderQty = the new orderQty - x, price new

x is what the OMS order traded at the venue so far (FIX: orderQty counts what already traded):
A's cumQty, plus what A's predecessors traded when A is itself a replacement (A was placed for
the OMS orderQty less that).

Fills of A and of B are both fills of the one OMS order (`order_for` knows every clOrdID it used),
so cumQty sums them, and A's cumQty plus B's orderQty is the new orderQty: nothing can overfill.

The order of the legs is the safety:
- the new order is placed only after the venue confirmed A canceled (its cancel answer, or A asked
  for by clOrdID showing Canceled); A's fills the venue already lists are applied first, so a fill
  at A's old price is not held for review against B's terms;
- the OMS confirms the replace before B is placed: from then on the OMS order is B's, and an answer
  about B (ack, reject, unknown) is about the order the OMS holds;
- A found filled (or expired) instead of canceled: no place, the replace is rejected with the
  venue's word, A's fills arrive as fills;
- A's cumQty at or above the new orderQty: no place (there is nothing left to buy), the replace is
  rejected and the order canceled (A is canceled at the venue; its fills still count);
- an unknown outcome on the cancel leg, not resolved by asking for A: the send is `Unknown` and the
  order stays PendingReplace; `check_unknown` asks for A again (never resending anything) and
  carries on only once A shows Canceled or terminal; else reconciliation decides;
- an unknown outcome on the place leg: the send is `Unknown` and `check_unknown` asks for B by its
  clOrdID like any place; a reject of B cancels the OMS order ("the venue rejected the
  replacement"): A is gone, B never existed.

The task is re-entrant (a worker killed between the legs, a redelivery): each entry asks the venue
where things stand (B there? A canceled?) before it sends anything, and the claim on B's clOrdID
stays `Claimed` until B is answered.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from celery import Task

from oms.venues import reports, sending
from oms.venues.adapter import (
    CancelRequest,
    OrderNotFound,
    TransientVenueError,
    UnknownOutcome,
    VenueAdapter,
    VenueError,
    VenueOrderReport,
    VenueOrderStatus,
    VenueRejected,
)
from oms.venues.models import SendAction, SendStatus, VenueSend

log = logging.getLogger(__name__)

UNKNOWN = "Unknown"  # the caller schedules `check_unknown` for the claim
TRADED = "traded:"  # the claim's outcome between the legs: what the canceled venue orders traded


def cancel_and_place(
    task: Task[Any, Any], order: dict[str, Any], cl_ord_id: str, adapter: VenueAdapter
) -> str | None:
    """Carry out the replace `cl_ord_id` of `order` as a cancel and a new order (see the module)."""
    pending = order.get("pending") or {}
    cancel_leg = pending.get("clOrdID") == cl_ord_id
    place_leg = not pending and order["clOrdID"] == cl_ord_id
    if not (cancel_leg or place_leg):
        return None  # resolved already (rejected, canceled, or done)
    claim = sending.claim(cl_ord_id, adapter.venue, SendAction.REPLACE, order["orderId"])
    if claim is None:
        return None
    row, _ = claim
    return _carry_on(task, row, adapter, order, send_cancel=True)


def resume(task: Task[Any, Any], row: VenueSend, adapter: VenueAdapter, order: dict[str, Any]) -> str | None:
    """`check_unknown` of a cancel leg whose outcome was unknown: ask, never resend; None when the
    order is no longer waiting on this replace's cancel leg."""
    pending = order.get("pending") or {}
    if pending.get("clOrdID") != row.cl_ord_id:
        return None
    return _carry_on(task, row, adapter, order, send_cancel=False)


def _carry_on(
    task: Task[Any, Any], row: VenueSend, adapter: VenueAdapter, order: dict[str, Any], *, send_cancel: bool
) -> str:
    cl_ord_id, order_id = row.cl_ord_id, order["orderId"]
    if order["clOrdID"] != cl_ord_id:
        old = order["clOrdID"]
        canceled = _cancel_old(task, row, adapter, order, old, send_cancel=send_cancel)
        if isinstance(canceled, str):
            return canceled
        total = Decimal(order["pending"].get("orderQty") or order["orderQty"])
        _apply_fills(adapter, order, old)
        # what the OMS order traded at the venue so far: A's fills, and its predecessors' (A was
        # placed for the OMS orderQty less what they had filled: a second replace's A is a B)
        traded = max(Decimal(order["orderQty"]) - canceled.order_qty, Decimal(0)) + canceled.cum_qty
        if traded >= total:
            text = (
                f"{adapter.venue} orders of this order traded {traded}, at or above the new orderQty "
                f"{total}: {old} canceled, nothing placed"
            )
            return _end_canceled(row, adapter, order_id, text, outcome="Canceled")
        _note_traded(row, traded)
        confirmed = reports.confirm_replace(
            adapter.venue, order_id, cl_ord_id, text=f"{old} canceled at {adapter.venue}; placing {cl_ord_id}"
        )
        if not confirmed:  # a cancel came first (the desk's): the venue order is gone, and so is the order
            return _end_canceled(
                row, adapter, order_id, f"{old} canceled at {adapter.venue}", outcome="Canceled"
            )
        order = sending.order_doc(order_id) or order
    else:  # re-entered after the OMS confirmed the replace: B may be out already
        found = sending.ask(adapter, cl_ord_id, order["symbol"])
        if found is not None:
            return sending.finish(row, found)
        old = order.get("origClOrdID") or ""
        canceled_or_unknown = sending.ask(adapter, old, order["symbol"]) if old else None
        if canceled_or_unknown is None or canceled_or_unknown.status is not VenueOrderStatus.CANCELED:
            sending.mark(
                row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=f"{old} not found canceled"
            )
            return UNKNOWN
        traded = _noted_traded(row, canceled_or_unknown)
    return _place_new(task, row, adapter, order, Decimal(order["orderQty"]) - traded)


def _note_traded(row: VenueSend, traded: Decimal) -> None:
    """Kept on the claim before the OMS confirms the replace: after that the OMS order's
    orderQty is the new one, and a re-entry (a worker killed between the legs) could no longer
    tell what the earlier venue orders traded."""
    row.outcome = f"{TRADED}{traded}"
    row.save(update_fields=["outcome"])


def _noted_traded(row: VenueSend, canceled: VenueOrderReport) -> Decimal:
    if row.outcome.startswith(TRADED):
        return Decimal(row.outcome.removeprefix(TRADED))
    return canceled.cum_qty  # noted by no one (a claim from before this field): A was the first


def _cancel_old(
    task: Task[Any, Any],
    row: VenueSend,
    adapter: VenueAdapter,
    order: dict[str, Any],
    old: str,
    *,
    send_cancel: bool,
) -> VenueOrderReport | str:
    """The venue's report of `old` canceled, or the outcome when the replace stops here."""
    symbol, order_id, venue = order["symbol"], order["orderId"], adapter.venue
    current = sending.ask(adapter, old, symbol)
    if current is not None and current.status is VenueOrderStatus.CANCELED:
        return current  # an earlier attempt's cancel landed
    if current is not None and current.status.terminal:
        return _stop(
            row, venue, order_id, f"{old} is {current.status.value} at {venue}: nothing to replace", current
        )
    if not send_cancel:
        return UNKNOWN  # check_unknown: A still works (or cannot be seen); the cancel may yet land
    request = CancelRequest(
        cl_ord_id=row.cl_ord_id,
        orig_cl_ord_id=old,
        symbol=symbol,
        venue_order_id=None if current is None else current.venue_order_id,
    )
    try:
        report = adapter.cancel_order(request)
    except TransientVenueError as exc:

        def give_up(message: str) -> None:
            reports.reject_replace(venue, order_id, f"cancel of {old} not sent: {message}")

        sending.retry_or_give_up(task, row, exc, give_up, order_id, row.cl_ord_id)
        return "Failed"
    except (VenueRejected, UnknownOutcome) as exc:
        found = sending.ask(adapter, old, symbol)
        if found is not None and found.status is VenueOrderStatus.CANCELED:
            return found
        if found is not None and found.status.terminal:
            return _stop(
                row, venue, order_id, f"{old} is {found.status.value} at {venue}: {exc.message}", found
            )
        if isinstance(exc, UnknownOutcome) or (found is not None and not isinstance(exc, OrderNotFound)):
            # sent, no answer (or refused while A still works): A may yet be canceled. Nothing is
            # placed on a guess; check_unknown asks for A again
            sending.mark(
                row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=f"cancel of {old}: {exc.message}"
            )
            return UNKNOWN
        return _stop(row, venue, order_id, f"cancel of {old} refused: {exc.message}", found)
    if report.status is VenueOrderStatus.CANCELED:
        return report
    if report.status.terminal:
        return _stop(
            row, venue, order_id, f"{old} is {report.status.value} at {venue}: nothing to replace", report
        )
    sending.mark(
        row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=f"cancel of {old} answered {report.status}"
    )
    return UNKNOWN


def _apply_fills(adapter: VenueAdapter, order: dict[str, Any], old: str) -> None:
    """A's fills the venue lists, applied before the replace takes effect (by execID: a fill the
    stream brings as well counts once). Best effort: a later one still arrives by the stream."""
    try:
        since = dt.datetime.fromisoformat(order["createdAt"].replace("Z", "+00:00"))
        fills = adapter.fetch_fills(since=since, symbol=order["symbol"])
    except (VenueError, KeyError, ValueError) as exc:
        log.warning("fills of %s at %s before its replace: %s", old, adapter.venue, exc)
        return
    for fill in fills:
        if fill.cl_ord_id == old:
            reports.apply_fill(fill)


def _stop(row: VenueSend, venue: str, order_id: str, text: str, found: VenueOrderReport | None) -> str:
    """The replace ends at the cancel leg: rejected, and the order brought to what the venue says."""
    sending.mark(row, SendStatus.DONE, outcome="ReplaceRejected", error=text)
    reports.reject_replace(venue, order_id, text)
    if found is not None:
        reports.apply_order_report(found)
    return "ReplaceRejected"


def _end_canceled(row: VenueSend, adapter: VenueAdapter, order_id: str, text: str, *, outcome: str) -> str:
    sending.mark(row, SendStatus.DONE, outcome=outcome)
    reports.reject_replace(adapter.venue, order_id, text)
    reports.cancel(adapter.venue, order_id, text)
    return outcome


def _place_new(
    task: Task[Any, Any], row: VenueSend, adapter: VenueAdapter, order: dict[str, Any], qty: Decimal
) -> str:
    """Place B (the OMS order as replaced, for what A did not fill) under the replace's clOrdID."""
    cl_ord_id, order_id, venue = row.cl_ord_id, order["orderId"], adapter.venue
    if qty <= 0:
        return _end_canceled(
            row, adapter, order_id, f"nothing left to place for {cl_ord_id}", outcome="Canceled"
        )
    try:
        report = adapter.place_order(sending.place_request(order, cl_ord_id, qty))
    except TransientVenueError as exc:

        def give_up(message: str) -> None:
            found = sending.ask(adapter, cl_ord_id, order["symbol"])
            if found is not None:
                reports.apply_order_report(found)
            else:
                reports.cancel(venue, order_id, f"replacement {cl_ord_id} not sent to {venue}: {message}")

        sending.retry_or_give_up(task, row, exc, give_up, order_id, cl_ord_id)
        return "Failed"
    except VenueRejected as exc:
        sending.mark(row, SendStatus.DONE, outcome="Rejected", error=exc.message)
        reports.cancel(venue, order_id, f"{venue} rejected the replacement {cl_ord_id}: {exc.message}")
        return "Rejected"
    except UnknownOutcome as exc:
        found = sending.ask(adapter, cl_ord_id, order["symbol"])
        if found is not None:
            return sending.finish(row, found)
        sending.mark(row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=exc.message)
        return UNKNOWN
    return sending.finish(row, report)
