"""Celery tasks that talk to venues: place, cancel, replace, re-query an unknown outcome, ingest.

The market order of an Auto client order is sent by the task that placed it (`send_placed`, run
by oms.orders.tasks.place_client_order after its commit), with `send_order`'s code; `send_order`
on the queue sends every other venue order and every retry.

Every send is claimed in the database (`VenueSend`, keyed by the request's clOrdID) before the
venue is called. A task that finds the claim already taken (a redelivery after its worker died,
a duplicate delivery, a retry) asks the venue by clOrdID what happened before it sends anything;
adapters place idempotently by clOrdID, so even a send racing its own duplicate makes one order.

What each venue error does (oms.venues.adapter):
- TransientVenueError / RateLimited: bounded retries with exponential backoff (RateLimited waits
  at least its `retry_after`); exhausted: the venue is asked once more by clOrdID, then the order
  is rejected in the OMS ("not sent") and a dead letter records it for the desk;
- VenueRejected: the order (or the cancel/replace) is rejected with the venue's text;
- UnknownOutcome: never a reject, never resent: the venue is asked by clOrdID now and a few times
  later (`check_unknown`); still not found: the send stays `Unknown` for reconciliation, with a
  dead letter.
Tasks ack late (a worker killed mid-send redelivers the task) and have a hard time limit below
the broker's visibility timeout (settings), so a slow task is never redelivered while it runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from celery import Task, shared_task
from django.conf import settings

from oms.core import ambient
from oms.venues import cancel_place, reports, sending
from oms.venues.adapter import (
    CancelRequest,
    OrderNotFound,
    ReplaceRequest,
    TransientVenueError,
    UnknownOutcome,
    VenueAdapter,
    VenueRejected,
)
from oms.venues.models import SendAction, SendStatus, VenueSend
from oms.venues.routing import adapter_for

log = logging.getLogger(__name__)

TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": 60,
    "soft_time_limit": 50,
    "max_retries": None,  # bounded by hand (OMS_VENUE_SEND_MAX_RETRIES): exhaustion has its own path
}


F = TypeVar("F", bound=Callable[..., Any])


def task_driver_args(name: str, args: list[Any], retries: int | None) -> dict[str, Any]:
    """A task driver's recorded arguments: its name and arguments, and which delivery it is when it
    is a retry (`request.retries`: a send's backoff and give-up read it, so the replay runs the
    delivery with the same count)."""
    recorded: dict[str, Any] = {"name": name, "args": args}
    if retries:
        recorded["retries"] = retries
    return recorded


def driven(fn: F) -> F:
    """A venue task is a driver of a session tape (oms.core.ambient): run on its own (a worker, a
    beat thread) it is recorded and replayed as one unit; run inline by another driver (an eager
    task after a command's commit) it is part of that one."""

    @functools.wraps(fn)
    def run(self: Task[Any, Any], *args: Any) -> Any:
        with ambient.driver("task", task_driver_args(self.name, list(args), self.request.retries)):
            return fn(self, *args)

    return cast(F, run)


# --- place ---------------------------------------------------------------------------------------


Retry = Callable[[VenueSend, TransientVenueError, sending.GiveUp], None]


@shared_task(name="venues.send_order", **TASK_OPTIONS)
@driven
def send_order(self: Task[Any, Any], order_id: str) -> str | None:
    """Send a venue order (Market or Slice at an adapter venue) once; idempotent by its clOrdID."""

    def retry(row: VenueSend, exc: TransientVenueError, give_up: sending.GiveUp) -> None:
        sending.retry_or_give_up(self, row, exc, give_up, order_id)

    return _place(order_id, retry)


SEND_PLACED = "venues.send_placed"  # the driver name of `send_placed` in a session recording


def send_placed(order_id: str) -> str | None:
    """Send the market order an Auto placement task (oms.orders.tasks) has committed, in that
    task, as `send_order` would: the same claim, question and outcomes, one queue trip fewer. A
    settled send is left alone, and so is one waiting on the queue for its retry (a redelivered
    placement must not skip a rate limit's wait); a claim left `Claimed` is an interrupted send,
    finished by asking the venue first. Its retries go to `send_order` on the queue (a backoff is
    not slept away in the placing task). Recorded as a task driver of its own name (`SEND_PLACED`):
    its retry path is not `send_order`'s, so a replay must run this function, not that task."""
    status = VenueSend.objects.filter(order_id=order_id, action=SendAction.PLACE).values_list(
        "status", flat=True
    )
    if status.first() not in (None, SendStatus.CLAIMED):
        return None
    with ambient.driver("task", task_driver_args(SEND_PLACED, [order_id], 0)):
        return _place(order_id, _retry_on_queue)


def _retry_on_queue(row: VenueSend, exc: TransientVenueError, give_up: sending.GiveUp) -> None:
    def again(countdown: float) -> None:
        # as `task.retry` would: the queued task counts this attempt among its retries
        send_order.apply_async((row.order_id,), countdown=countdown, retries=1)

    sending.later_or_give_up(row, exc, give_up, retries=0, again=again, task_name=send_order.name)


def _place(order_id: str, retry: Retry) -> str | None:
    order = sending.order_doc(order_id)
    if order is None:
        return None
    adapter = adapter_for(order["venue"])
    if adapter is None:
        return None
    # the clOrdID it is (or was) placed with: the claim's, once claimed (a confirmed cancel or
    # replace gives the OMS order another clOrdID meanwhile)
    placed = VenueSend.objects.filter(order_id=order_id, action=SendAction.PLACE).first()
    unsettled = placed is not None and placed.status in (SendStatus.CLAIMED, SendStatus.RETRYING)
    if order["phase"] != "PendingNew" and not unsettled:
        return None  # the venue's answer is in (acked, rejected, canceled) and the send settled
    cl_ord_id = placed.cl_ord_id if placed is not None else order["clOrdID"]
    symbol = order["symbol"]
    claim = sending.claim(cl_ord_id, adapter.venue, SendAction.PLACE, order_id)
    if claim is None:
        return None
    row, taken_before = claim
    if taken_before or order["phase"] != "PendingNew":
        # redelivered (a worker died mid-send), duplicated or retried: ask before sending again
        found = sending.ask(adapter, cl_ord_id, symbol)
        if found is not None:
            return sending.finish(row, found)
        if order["phase"] != "PendingNew":  # answered meanwhile (the stream), yet not found: odd
            sending.mark(row, SendStatus.DONE, outcome="settled_by_stream")
            return None
    try:
        report = adapter.place_order(sending.place_request(order, cl_ord_id))
    except TransientVenueError as exc:

        def give_up(message: str) -> None:
            found = sending.ask(adapter, cl_ord_id, symbol)
            if found is not None:
                reports.apply_order_report(found)
            else:
                reports.reject(adapter.venue, order_id, f"not sent to {adapter.venue}: {message}")

        retry(row, exc, give_up)
        return "Retrying" if row.status == SendStatus.RETRYING else "Failed"
    except VenueRejected as exc:
        sending.mark(row, SendStatus.DONE, outcome="Rejected", error=exc.message)
        reports.reject(adapter.venue, order_id, exc.message)
        return "Rejected"
    except UnknownOutcome as exc:
        row.last_error = exc.message  # kept: the desk sees the send was in doubt
        found = sending.ask(adapter, cl_ord_id, symbol)
        if found is not None:
            return sending.finish(row, found)
        sending.mark(row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=exc.message)
        check_unknown.apply_async((cl_ord_id, 1), countdown=1.0)
        return "Unknown"
    return sending.finish(row, report)


@shared_task(name="venues.check_unknown", **TASK_OPTIONS)
@driven
def check_unknown(self: Task[Any, Any], cl_ord_id: str, check: int) -> str | None:
    """Ask the venue again about a send whose outcome is unknown; give it to reconciliation after
    OMS_VENUE_UNKNOWN_CHECKS tries (never resend: the order may exist)."""
    row = VenueSend.objects.filter(pk=cl_ord_id, status=SendStatus.UNKNOWN).first()
    order = None if row is None else sending.order_doc(row.order_id)
    if row is None or order is None:
        return None
    adapter = adapter_for(row.venue)
    if adapter is None:
        return None
    if row.action == SendAction.REPLACE and not adapter.has.get("replace"):
        # a cancel leg in doubt: ask for the canceled order, carry on only on the venue's word
        outcome = cancel_place.resume(self, row, adapter, order)
        if outcome not in (None, cancel_place.UNKNOWN):
            return outcome
    found = sending.ask(adapter, row.cl_ord_id, order["symbol"])
    if found is not None:
        return sending.finish(row, found)
    if check < settings.OMS_VENUE_UNKNOWN_CHECKS:
        check_unknown.apply_async((cl_ord_id, check + 1), countdown=min(2.0**check, 60.0))
        return "Unknown"
    sending.dead_letter(
        row, self.name, "unknown_outcome", row.last_error or "no answer and not found by clOrdID"
    )
    return "Unknown"


def _rejecter(
    reject: Callable[[str, str, str], None], adapter: VenueAdapter, order_id: str
) -> Callable[[str], None]:
    return lambda message: reject(adapter.venue, order_id, message)


# --- cancel and replace --------------------------------------------------------------------------


@shared_task(name="venues.send_cancel", **TASK_OPTIONS)
@driven
def send_cancel(self: Task[Any, Any], order_id: str, cl_ord_id: str) -> str | None:
    """Send the pending cancel `cl_ord_id` of a venue order."""
    order = sending.order_doc(order_id)
    if order is None or (order.get("pendingCancel") or {}).get("clOrdID") != cl_ord_id:
        return None  # resolved already
    adapter = adapter_for(order["venue"])
    if adapter is None:
        return None
    claim = sending.claim(cl_ord_id, adapter.venue, SendAction.CANCEL, order_id)
    if claim is None:
        return None
    row, _ = claim
    request = CancelRequest(cl_ord_id=cl_ord_id, orig_cl_ord_id=order["clOrdID"], symbol=order["symbol"])
    try:
        report = adapter.cancel_order(request)
    except OrderNotFound as exc:
        placed = VenueSend.objects.filter(pk=order["clOrdID"], status=SendStatus.DONE).exists()
        if not placed:  # the place is still on its way: the cancel waits for it
            transient = TransientVenueError(adapter.venue, f"order not at the venue yet ({exc.message})")
            sending.retry_or_give_up(
                self, row, transient, _rejecter(reports.reject_cancel, adapter, order_id), order_id, cl_ord_id
            )
            return "Failed"
        sending.mark(row, SendStatus.DONE, outcome="CancelRejected", error=exc.message)
        reports.reject_cancel(adapter.venue, order_id, exc.message)
        return "CancelRejected"
    except TransientVenueError as exc:
        sending.retry_or_give_up(
            self, row, exc, _rejecter(reports.reject_cancel, adapter, order_id), order_id, cl_ord_id
        )
        return "Failed"
    except (VenueRejected, UnknownOutcome) as exc:
        # rejected (filled meanwhile) or unknown: what the venue says of the order now decides
        found = sending.ask(adapter, order["clOrdID"], order["symbol"])
        sending.mark(row, SendStatus.DONE, outcome="CancelRejected", error=exc.message)
        if found is not None and found.status.value == "Canceled":
            reports.apply_order_report(found)
            return "Canceled"
        reports.reject_cancel(adapter.venue, order_id, exc.message)
        return "CancelRejected"
    return sending.finish(row, report)


@shared_task(name="venues.send_replace", **TASK_OPTIONS)
@driven
def send_replace(self: Task[Any, Any], order_id: str, cl_ord_id: str) -> str | None:
    """Send the pending replace `cl_ord_id` of a venue order: an amend where the venue has one,
    else a cancel and a new order (oms.venues.cancel_place)."""
    order = sending.order_doc(order_id)
    if order is None:
        return None
    adapter = adapter_for(order["venue"])
    if adapter is None:
        return None
    if not adapter.has.get("replace"):
        outcome = cancel_place.cancel_and_place(self, order, cl_ord_id, adapter)
        if outcome == cancel_place.UNKNOWN:
            check_unknown.apply_async((cl_ord_id, 1), countdown=1.0)
        return outcome
    pending = order.get("pending")
    if not pending or pending.get("clOrdID") != cl_ord_id:
        return None
    claim = sending.claim(cl_ord_id, adapter.venue, SendAction.REPLACE, order_id)
    if claim is None:
        return None
    row, _ = claim
    request = ReplaceRequest(
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=order["clOrdID"],
        symbol=order["symbol"],
        order_qty=None if pending.get("orderQty") is None else Decimal(pending["orderQty"]),
        price=None if pending.get("price") is None else Decimal(pending["price"]),
    )
    try:
        report = adapter.replace_order(request)
    except TransientVenueError as exc:
        sending.retry_or_give_up(
            self, row, exc, _rejecter(reports.reject_replace, adapter, order_id), order_id, cl_ord_id
        )
        return "Failed"
    except (VenueRejected, UnknownOutcome) as exc:
        found = sending.ask(adapter, cl_ord_id, order["symbol"])
        if found is not None:
            return sending.finish(row, found)
        sending.mark(row, SendStatus.DONE, outcome="ReplaceRejected", error=exc.message)
        reports.reject_replace(adapter.venue, order_id, exc.message)
        return "ReplaceRejected"
    outcome = sending.finish(row, report)
    # an amend keeps the venue's order and, at most venues (ccxt editOrder), its client id: the
    # answer comes under the old clOrdID, so the amend's success confirms the replace itself
    reports.confirm_replace(adapter.venue, order_id, cl_ord_id)
    return outcome


# --- ingestion in-process (the embedded default's beat entry) ------------------------------------


@shared_task(name="venues.ingest_all")
def ingest_all() -> int:
    """Read what the venues' streams have now (no wait) and run the feed watchdog: the embedded
    default's stand-in for `manage.py venue_stream` processes."""
    from oms.venues.ingest import consumers

    return sum(consumer.step(timeout=0) for consumer in consumers())


@shared_task(name="venues.watchdog")
def watchdog() -> dict[str, str]:
    """Venues whose stream consumer went silent: Stale, then Down (see oms.venues.ingest)."""
    from oms.venues.ingest import watchdog as run

    return run()
