"""Celery tasks of the order domain."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.dispatch import Signal

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order

log = logging.getLogger(__name__)

AUTO_PLACEMENT_ACTOR = "system:auto-placement"

# Sent by the placement task, after its command committed, once per market order it placed for the
# client order: the one it just placed, and those an earlier run of it placed (a worker killed
# between the commit and the send, or in the middle of the send, whatever the stream has said of
# the order since). Keywords: the market order's `order_id` and `venue`. oms.venues receives it
# and sends the order in this same task unless its send is settled: one queue trip fewer than a
# send task of its own, and a redelivered placement finishes the send it began.
market_order_placed = Signal()

_PLACING: ContextVar[bool] = ContextVar("placing_client_order", default=False)


@contextmanager
def _placing() -> Iterator[None]:
    token = _PLACING.set(True)
    try:
        yield
    finally:
        _PLACING.reset(token)


def placing() -> bool:
    """True while the placement task's own command commits: the market order it creates is sent
    by the task (`market_order_placed`), so the creation's reaction must not enqueue a send."""
    return _PLACING.get()


# Its hard time limit, below the broker's visibility timeout, is the venue tasks' (oms.venues.tasks):
# this task now waits for a venue's answer, and a running task must never be handed to a second worker.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=60,
    soft_time_limit=50,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=5,
)
def place_client_order(self: Task[Any, Any], order_id: str, correlation_id: str | None = None) -> str | None:
    """Place what is left of an Auto client order as one market order at its venue, then send
    whatever market order of it is still unsent."""
    with _placing():
        placed = _place(order_id, correlation_id)
    if transaction.get_connection().in_atomic_block:
        # run inside a caller's transaction (never on a worker): nothing has committed, so nothing
        # may reach a venue; the creation's reaction enqueues the send when that one commits
        return placed
    for market_id, venue in placements(order_id):
        market_order_placed.send(sender=place_client_order, order_id=market_id, venue=venue)
    return placed


def _place(order_id: str, correlation_id: str | None) -> str | None:
    row = Order.objects.filter(pk=order_id).first()
    if row is None:
        return None
    doc = row.doc
    if doc["handling"] != "Auto" or doc["status"] not in ("New", "PartiallyFilled"):
        return None
    left = Decimal(doc["orderQty"]) - Decimal(doc["placedQty"])
    if left <= 0:
        return None
    command = {
        "commandType": "CreateOrderCommand",
        "clOrdID": f"{order_id}-A{doc['version']}",
        "parentId": order_id,
        "orderQty": str(left),
        "venue": doc["venue"],
    }
    try:
        result = dispatch("orders", command, actor=AUTO_PLACEMENT_ACTOR, correlation_id=correlation_id)
    except ApplicationError as exc:
        # the order changed between commit and placement (cancelled, placed by the desk): the
        # refusal is the answer, and the client order stays visible in the blotter
        log.warning("auto placement of %s refused: %s %s", order_id, exc.code, exc.message)
        return None
    placed: str = result.body["order"]["orderId"]
    return placed


def placements(order_id: str) -> list[tuple[str, str | None]]:
    """The market orders this task placed for `order_id` (clOrdID `<orderId>-A<version>`), oldest
    first, whatever their status or the client order's: only the venue side knows whether a send
    is settled, and a child the stream has filled may still hold an interrupted send's claim."""
    rows = Order.objects.filter(parent_id=order_id, cl_ord_id__startswith=f"{order_id}-A")
    return list(rows.order_by("created_at").values_list("order_id", "venue"))
