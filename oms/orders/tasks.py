"""Celery tasks of the order domain."""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import shared_task

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order

log = logging.getLogger(__name__)

AUTO_PLACEMENT_ACTOR = "system:auto-placement"


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def place_client_order(order_id: str, correlation_id: str | None = None) -> str | None:
    """Place what is left of an Auto client order as one market order at its venue."""
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
