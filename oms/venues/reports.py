"""A venue's reports become the existing venue-report commands, through the one write path.

Every function here is safe to call twice with the same report, and in any order with the
others (the send task's answer, the stream, a REST resync all apply the same report): it reads
the order, dispatches only what moves the OMS towards the venue's state, and treats a 409 from a
racing duplicate as "already applied". Fills are keyed by execID (ExecuteOrderCommand answers a
repeated execID with the existing execution), so a fill is never counted twice.
"""

from __future__ import annotations

import logging
from typing import Any

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import ClOrdIdKey, Order
from oms.venues.adapter import VenueFill, VenueOrderReport, VenueOrderStatus
from oms.venues.metrics import UNKNOWN_REPORTS

log = logging.getLogger(__name__)

TERMINAL = ("Filled", "Canceled", "Rejected", "Expired", "DoneForDay")


def actor_for(venue: str) -> str:
    return f"system:venue:{venue}"


def order_for(cl_ord_id: str) -> dict[str, Any] | None:
    """The OMS order a venue clOrdID belongs to (any clOrdID it ever used)."""
    key = ClOrdIdKey.objects.filter(pk=cl_ord_id).values_list("order_id", flat=True).first()
    if key is None:
        return None
    doc: dict[str, Any] | None = Order.objects.filter(pk=key).values_list("doc", flat=True).first()
    return doc


def _send(
    venue: str, command: dict[str, Any], *, topic: str = "orders", quiet: bool = True
) -> dict[str, Any] | None:
    try:
        return dispatch(topic, command, actor=actor_for(venue)).body
    except ApplicationError as exc:
        if not quiet or exc.code not in ("invalid_transition", "version_conflict"):
            raise
        # a racing duplicate got there first (the stream and the send task apply the same ack)
        log.debug("%s on %s: %s", command["commandType"], command.get("orderId"), exc.message)
        return None


def accept(venue: str, order: dict[str, Any], text: str | None = None) -> None:
    if order["phase"] == "PendingNew":
        _send(venue, {"commandType": "AcceptOrderCommand", "orderId": order["orderId"], "text": text})


def apply_order_report(report: VenueOrderReport) -> None:
    """Bring the OMS order to what the venue reports (its fills come as fills)."""
    order = order_for(report.cl_ord_id)
    if order is None:
        metrics_unknown(report.venue, "order")
        log.warning("venue %s reports an order the OMS does not know: %s", report.venue, report.cl_ord_id)
        return
    venue, order_id = report.venue, order["orderId"]
    if report.status is VenueOrderStatus.REJECTED:
        if order["phase"] == "PendingNew":
            _send(venue, {"commandType": "RejectOrderCommand", "orderId": order_id, "text": report.text})
        return
    accept(venue, order)
    order = order_for(report.cl_ord_id) or order
    if order["status"] in TERMINAL and order["phase"] != "Open":
        return
    pending = order.get("pending") or {}
    if pending and pending.get("clOrdID") == report.cl_ord_id:
        _send(venue, {"commandType": "ConfirmReplaceCommand", "orderId": order_id})
        order = order_for(report.cl_ord_id) or order
    if report.status is VenueOrderStatus.CANCELED and order["phase"] == "Open":
        text = None if order.get("pendingCancel") else (report.text or "canceled by the venue")
        _send(venue, {"commandType": "ConfirmCancelCommand", "orderId": order_id, "text": text})
    elif report.status is VenueOrderStatus.EXPIRED and order["phase"] == "Open":
        _send(venue, {"commandType": "ExpireOrderCommand", "orderId": order_id, "text": report.text})


def apply_fill(fill: VenueFill) -> bool:
    """Apply one venue fill; False when the OMS has no order for it (left to reconciliation)."""
    order = order_for(fill.cl_ord_id) if fill.cl_ord_id else None
    if order is None:
        metrics_unknown(fill.venue, "fill")
        log.warning("venue %s fill %s of an order the OMS does not know", fill.venue, fill.exec_id)
        return False
    accept(fill.venue, order, "accepted (implied by a fill)")  # a fill proves the venue has it
    _send(
        fill.venue,
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": order["orderId"],
            "execID": fill.exec_id,
            "lastQty": str(fill.last_qty),
            "lastPx": str(fill.last_px),
            "venue": fill.venue,
            "transactTime": fill.ts_event.isoformat().replace("+00:00", "Z"),
        },
        topic="executions",
    )
    return True


def metrics_unknown(venue: str, what: str) -> None:
    UNKNOWN_REPORTS.labels(venue, what).inc()


def reject(venue: str, order_id: str, text: str) -> None:
    _send(venue, {"commandType": "RejectOrderCommand", "orderId": order_id, "text": text[:200]})


def reject_cancel(venue: str, order_id: str, text: str) -> None:
    _send(venue, {"commandType": "RejectCancelCommand", "orderId": order_id, "text": text[:200]})


def reject_replace(venue: str, order_id: str, text: str) -> None:
    _send(venue, {"commandType": "RejectReplaceCommand", "orderId": order_id, "text": text[:200]})
