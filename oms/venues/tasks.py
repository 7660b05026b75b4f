"""Celery tasks that talk to venues: place, cancel, replace, re-query an unknown outcome, ingest.

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

import datetime as dt
import functools
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction

from oms.core import ambient
from oms.orders.models import Order
from oms.venues import reports
from oms.venues.adapter import (
    CancelRequest,
    OrderNotFound,
    PlaceRequest,
    RateLimited,
    ReplaceRequest,
    TransientVenueError,
    UnknownOutcome,
    VenueAdapter,
    VenueError,
    VenueOrderReport,
    VenueOrdType,
    VenueRejected,
    VenueSide,
)
from oms.venues.metrics import SENDS
from oms.venues.models import SendAction, SendStatus, VenueDeadLetter, VenueSend
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


def _driven(fn: F) -> F:
    """A venue task is a driver of a session tape (oms.core.ambient): run on its own (a worker, a
    beat thread) it is recorded and replayed as one unit; run inline by another driver (an eager
    task after a command's commit) it is part of that one."""

    @functools.wraps(fn)
    def run(self: Task[Any, Any], *args: Any) -> Any:
        with ambient.driver("task", {"name": self.name, "args": list(args)}):
            return fn(self, *args)

    return cast(F, run)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _order(order_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
    return doc


def _claim(cl_ord_id: str, venue: str, action: str, order_id: str) -> tuple[VenueSend, bool] | None:
    """Take the send of `cl_ord_id`: (claim, taken before) or None when it is settled already."""
    with transaction.atomic():
        row = VenueSend.objects.select_for_update().filter(pk=cl_ord_id).first()
        now = _now()
        if row is None:
            row = VenueSend.objects.create(
                cl_ord_id=cl_ord_id,
                venue=venue,
                action=action,
                order_id=order_id,
                status=SendStatus.CLAIMED,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
            return row, False
        if row.status in (SendStatus.DONE, SendStatus.UNKNOWN, SendStatus.FAILED):
            return None
        row.attempts += 1
        row.status = SendStatus.CLAIMED
        row.updated_at = now
        row.save(update_fields=["attempts", "status", "updated_at"])
        return row, True


def _mark(
    row: VenueSend, status: str, *, outcome: str = "", error: str = "", venue_order_id: str = ""
) -> None:
    row.status = status
    row.outcome = outcome or row.outcome
    row.last_error = error or row.last_error
    row.venue_order_id = venue_order_id or row.venue_order_id
    row.updated_at = _now()
    row.save(update_fields=["status", "outcome", "last_error", "venue_order_id", "updated_at"])
    SENDS.labels(row.venue, row.action, outcome or status).inc()


def _dead_letter(row: VenueSend, task: str, reason: str, error: str) -> None:
    VenueDeadLetter.objects.create(
        venue=row.venue,
        task=task,
        order_id=row.order_id,
        cl_ord_id=row.cl_ord_id,
        reason=reason,
        error=error,
        created_at=_now(),
    )
    log.error("venue send %s %s at %s: %s (%s)", row.action, row.cl_ord_id, row.venue, reason, error)


def _backoff(task: Task[Any, Any], exc: VenueError) -> float:
    wait: float = min(0.5 * 2.0 ** int(task.request.retries or 0), 30.0)
    return max(wait, exc.retry_after) if isinstance(exc, RateLimited) else wait


def _retry_or_give_up(
    task: Task[Any, Any], row: VenueSend, exc: TransientVenueError, give_up: Callable[[str], None], *args: Any
) -> None:
    """Retry with backoff, or when retries are used up run `give_up(message)` and leave a dead
    letter."""
    _mark(row, SendStatus.RETRYING, error=str(exc))
    if int(task.request.retries or 0) < settings.OMS_VENUE_SEND_MAX_RETRIES:
        raise task.retry(args=args, countdown=_backoff(task, exc), exc=exc)
    give_up(exc.message)
    _mark(row, SendStatus.FAILED, outcome="retries_exhausted", error=str(exc))
    _dead_letter(row, task.name, "retries_exhausted", str(exc))
    return None


def _finish(row: VenueSend, report: VenueOrderReport) -> str:
    _mark(row, SendStatus.DONE, outcome=report.status.value, venue_order_id=report.venue_order_id)
    reports.apply_order_report(report)
    return report.status.value


def _ask(adapter: VenueAdapter, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
    """The venue's answer to "do you have clOrdID?"; None when it has none or cannot say."""
    try:
        return adapter.fetch_order(cl_ord_id=cl_ord_id, symbol=symbol)
    except VenueError as exc:
        log.warning("fetch_order %s at %s failed: %s", cl_ord_id, adapter.venue, exc)
        return None


# --- place ---------------------------------------------------------------------------------------


def _place_request(order: dict[str, Any], cl_ord_id: str) -> PlaceRequest:
    return PlaceRequest(
        cl_ord_id=cl_ord_id,
        symbol=order["symbol"],
        side=VenueSide(order["side"]),
        order_qty=Decimal(order["orderQty"]),
        ord_type=VenueOrdType(order["ordType"]),
        price=None if order["price"] is None else Decimal(order["price"]),
        stop_px=None if order["stopPx"] is None else Decimal(order["stopPx"]),
        time_in_force=order["timeInForce"],
        account=order["account"],
    )


@shared_task(name="venues.send_order", **TASK_OPTIONS)
@_driven
def send_order(self: Task[Any, Any], order_id: str) -> str | None:
    """Send a venue order (Market or Slice at an adapter venue) once; idempotent by its clOrdID."""
    order = _order(order_id)
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
    claim = _claim(cl_ord_id, adapter.venue, SendAction.PLACE, order_id)
    if claim is None:
        return None
    row, taken_before = claim
    if taken_before or order["phase"] != "PendingNew":
        # redelivered (a worker died mid-send), duplicated or retried: ask before sending again
        found = _ask(adapter, cl_ord_id, symbol)
        if found is not None:
            return _finish(row, found)
        if order["phase"] != "PendingNew":  # answered meanwhile (the stream), yet not found: odd
            _mark(row, SendStatus.DONE, outcome="settled_by_stream")
            return None
    try:
        report = adapter.place_order(_place_request(order, cl_ord_id))
    except TransientVenueError as exc:

        def give_up(message: str) -> None:
            found = _ask(adapter, cl_ord_id, symbol)
            if found is not None:
                reports.apply_order_report(found)
            else:
                reports.reject(adapter.venue, order_id, f"not sent to {adapter.venue}: {message}")

        _retry_or_give_up(self, row, exc, give_up, order_id)
        return "Failed"
    except VenueRejected as exc:
        _mark(row, SendStatus.DONE, outcome="Rejected", error=exc.message)
        reports.reject(adapter.venue, order_id, exc.message)
        return "Rejected"
    except UnknownOutcome as exc:
        row.last_error = exc.message  # kept: the desk sees the send was in doubt
        found = _ask(adapter, cl_ord_id, symbol)
        if found is not None:
            return _finish(row, found)
        _mark(row, SendStatus.UNKNOWN, outcome="unknown_outcome", error=exc.message)
        check_unknown.apply_async((cl_ord_id, 1), countdown=1.0)
        return "Unknown"
    return _finish(row, report)


@shared_task(name="venues.check_unknown", **TASK_OPTIONS)
@_driven
def check_unknown(self: Task[Any, Any], cl_ord_id: str, check: int) -> str | None:
    """Ask the venue again about a send whose outcome is unknown; give it to reconciliation after
    OMS_VENUE_UNKNOWN_CHECKS tries (never resend: the order may exist)."""
    row = VenueSend.objects.filter(pk=cl_ord_id, status=SendStatus.UNKNOWN).first()
    order = None if row is None else _order(row.order_id)
    if row is None or order is None:
        return None
    adapter = adapter_for(row.venue)
    if adapter is None:
        return None
    found = _ask(adapter, row.cl_ord_id, order["symbol"])
    if found is not None:
        return _finish(row, found)
    if check < settings.OMS_VENUE_UNKNOWN_CHECKS:
        check_unknown.apply_async((cl_ord_id, check + 1), countdown=min(2.0**check, 60.0))
        return "Unknown"
    _dead_letter(row, self.name, "unknown_outcome", row.last_error or "no answer and not found by clOrdID")
    return "Unknown"


def _rejecter(
    reject: Callable[[str, str, str], None], adapter: VenueAdapter, order_id: str
) -> Callable[[str], None]:
    return lambda message: reject(adapter.venue, order_id, message)


# --- cancel and replace --------------------------------------------------------------------------


@shared_task(name="venues.send_cancel", **TASK_OPTIONS)
@_driven
def send_cancel(self: Task[Any, Any], order_id: str, cl_ord_id: str) -> str | None:
    """Send the pending cancel `cl_ord_id` of a venue order."""
    order = _order(order_id)
    if order is None or (order.get("pendingCancel") or {}).get("clOrdID") != cl_ord_id:
        return None  # resolved already
    adapter = adapter_for(order["venue"])
    if adapter is None:
        return None
    claim = _claim(cl_ord_id, adapter.venue, SendAction.CANCEL, order_id)
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
            _retry_or_give_up(
                self, row, transient, _rejecter(reports.reject_cancel, adapter, order_id), order_id, cl_ord_id
            )
            return "Failed"
        _mark(row, SendStatus.DONE, outcome="CancelRejected", error=exc.message)
        reports.reject_cancel(adapter.venue, order_id, exc.message)
        return "CancelRejected"
    except TransientVenueError as exc:
        _retry_or_give_up(
            self, row, exc, _rejecter(reports.reject_cancel, adapter, order_id), order_id, cl_ord_id
        )
        return "Failed"
    except (VenueRejected, UnknownOutcome) as exc:
        # rejected (filled meanwhile) or unknown: what the venue says of the order now decides
        found = _ask(adapter, order["clOrdID"], order["symbol"])
        _mark(row, SendStatus.DONE, outcome="CancelRejected", error=exc.message)
        if found is not None and found.status.value == "Canceled":
            reports.apply_order_report(found)
            return "Canceled"
        reports.reject_cancel(adapter.venue, order_id, exc.message)
        return "CancelRejected"
    return _finish(row, report)


@shared_task(name="venues.send_replace", **TASK_OPTIONS)
@_driven
def send_replace(self: Task[Any, Any], order_id: str, cl_ord_id: str) -> str | None:
    """Send the pending replace `cl_ord_id` of a venue order (amend; a venue without amend has it
    rejected: the desk cancels and places)."""
    order = _order(order_id)
    pending = None if order is None else order.get("pending")
    if order is None or not pending or pending.get("clOrdID") != cl_ord_id:
        return None
    adapter = adapter_for(order["venue"])
    if adapter is None:
        return None
    claim = _claim(cl_ord_id, adapter.venue, SendAction.REPLACE, order_id)
    if claim is None:
        return None
    row, _ = claim
    if not adapter.has.get("replace"):
        _mark(row, SendStatus.DONE, outcome="ReplaceRejected")
        reports.reject_replace(adapter.venue, order_id, f"{adapter.venue} cannot amend: cancel and place")
        return "ReplaceRejected"
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
        _retry_or_give_up(
            self, row, exc, _rejecter(reports.reject_replace, adapter, order_id), order_id, cl_ord_id
        )
        return "Failed"
    except (VenueRejected, UnknownOutcome) as exc:
        found = _ask(adapter, cl_ord_id, order["symbol"])
        if found is not None:
            return _finish(row, found)
        _mark(row, SendStatus.DONE, outcome="ReplaceRejected", error=exc.message)
        reports.reject_replace(adapter.venue, order_id, exc.message)
        return "ReplaceRejected"
    return _finish(row, report)


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
