"""The bookkeeping of a send to a venue, shared by the send tasks (oms.venues.tasks) and the
cancel-and-place replace (oms.venues.cancel_place): the claim on a request's clOrdID, its status,
the dead letter, the bounded retry with backoff, and the question "do you have clOrdID?".

A send is claimed in the database (`VenueSend`, keyed by the request's clOrdID) before the venue is
called; whoever finds the claim taken asks the venue before sending anything again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction

from oms.orders.models import Order
from oms.venues import reports
from oms.venues.adapter import (
    PlaceRequest,
    RateLimited,
    TransientVenueError,
    VenueAdapter,
    VenueError,
    VenueOrderReport,
    VenueOrdType,
    VenueSide,
)
from oms.venues.metrics import SENDS
from oms.venues.models import SendStatus, VenueDeadLetter, VenueSend

log = logging.getLogger(__name__)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def order_doc(order_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
    return doc


def claim(cl_ord_id: str, venue: str, action: str, order_id: str) -> tuple[VenueSend, bool] | None:
    """Take the send of `cl_ord_id`: (claim, taken before) or None when it is settled already."""
    with transaction.atomic():
        row = VenueSend.objects.select_for_update().filter(pk=cl_ord_id).first()
        at = now()
        if row is None:
            row = VenueSend.objects.create(
                cl_ord_id=cl_ord_id,
                venue=venue,
                action=action,
                order_id=order_id,
                status=SendStatus.CLAIMED,
                attempts=1,
                created_at=at,
                updated_at=at,
            )
            return row, False
        if row.status in (SendStatus.DONE, SendStatus.UNKNOWN, SendStatus.FAILED):
            return None
        row.attempts += 1
        row.status = SendStatus.CLAIMED
        row.updated_at = at
        row.save(update_fields=["attempts", "status", "updated_at"])
        return row, True


def mark(
    row: VenueSend, status: str, *, outcome: str = "", error: str = "", venue_order_id: str = ""
) -> None:
    row.status = status
    row.outcome = outcome or row.outcome
    row.last_error = error or row.last_error
    row.venue_order_id = venue_order_id or row.venue_order_id
    row.updated_at = now()
    row.save(update_fields=["status", "outcome", "last_error", "venue_order_id", "updated_at"])
    SENDS.labels(row.venue, row.action, outcome or status).inc()


def dead_letter(row: VenueSend, task: str, reason: str, error: str) -> None:
    VenueDeadLetter.objects.create(
        venue=row.venue,
        task=task,
        order_id=row.order_id,
        cl_ord_id=row.cl_ord_id,
        reason=reason,
        error=error,
        created_at=now(),
    )
    log.error("venue send %s %s at %s: %s (%s)", row.action, row.cl_ord_id, row.venue, reason, error)


def backoff(retries: int, exc: VenueError) -> float:
    """The wait before retry number `retries + 1`."""
    wait: float = min(0.5 * 2.0**retries, 30.0)
    return max(wait, exc.retry_after) if isinstance(exc, RateLimited) else wait


GiveUp = Callable[[str], None]


def retry_or_give_up(
    task: Task[Any, Any], row: VenueSend, exc: TransientVenueError, give_up: GiveUp, *args: Any
) -> None:
    """Retry the task with backoff, or when retries are used up run `give_up(message)` and leave
    a dead letter."""
    retries = int(task.request.retries or 0)

    def again(countdown: float) -> None:
        raise task.retry(args=args, countdown=countdown, exc=exc)

    later_or_give_up(row, exc, give_up, retries=retries, again=again, task_name=task.name)


def later_or_give_up(
    row: VenueSend,
    exc: TransientVenueError,
    give_up: GiveUp,
    *,
    retries: int,
    again: Callable[[float], None],
    task_name: str,
) -> None:
    """`retry_or_give_up` for any caller: `again(countdown)` schedules attempt `retries + 2`."""
    mark(row, SendStatus.RETRYING, error=str(exc))
    if retries < settings.OMS_VENUE_SEND_MAX_RETRIES:
        again(backoff(retries, exc))
        return
    give_up(exc.message)
    mark(row, SendStatus.FAILED, outcome="retries_exhausted", error=str(exc))
    dead_letter(row, task_name, "retries_exhausted", str(exc))


def finish(row: VenueSend, report: VenueOrderReport) -> str:
    mark(row, SendStatus.DONE, outcome=report.status.value, venue_order_id=report.venue_order_id)
    reports.apply_order_report(report)
    return report.status.value


def ask(adapter: VenueAdapter, cl_ord_id: str, symbol: str) -> VenueOrderReport | None:
    """The venue's answer to "do you have clOrdID?"; None when it has none or cannot say."""
    try:
        return adapter.fetch_order(cl_ord_id=cl_ord_id, symbol=symbol)
    except VenueError as exc:
        log.warning("fetch_order %s at %s failed: %s", cl_ord_id, adapter.venue, exc)
        return None


def place_request(order: dict[str, Any], cl_ord_id: str, order_qty: Decimal | None = None) -> PlaceRequest:
    """The venue request of an OMS order (`order_qty`: another quantity, a replacement's rest)."""
    return PlaceRequest(
        cl_ord_id=cl_ord_id,
        symbol=order["symbol"],
        side=VenueSide(order["side"]),
        order_qty=Decimal(order["orderQty"]) if order_qty is None else order_qty,
        ord_type=VenueOrdType(order["ordType"]),
        price=None if order["price"] is None else Decimal(order["price"]),
        stop_px=None if order["stopPx"] is None else Decimal(order["stopPx"]),
        time_in_force=order["timeInForce"],
        account=order["account"],
    )
