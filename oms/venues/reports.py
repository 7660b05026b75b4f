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
from oms.venues.routing import adapter_for

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
    if _not_the_live_order(order, report) and not _amends(venue):  # the venue lookup only then
        return
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


def _amends(venue: str) -> bool:
    adapter = adapter_for(venue)
    return adapter is None or bool(adapter.has.get("replace"))


def _not_the_live_order(order: dict[str, Any], report: VenueOrderReport) -> bool:
    """At a venue without amend a replace is a cancel and a new venue order (oms.venues.cancel_place),
    so one OMS order has several venue orders over time and only one is live. The status of the
    others says nothing of the OMS order (their fills still count, by execID, in `apply_fill`):
    - an earlier venue order (its clOrdID is neither the order's nor the pending replace's): it was
      canceled by the replace's cancel leg, and a late report of it must not cancel the order;
    - the venue order being replaced, reporting Canceled while the replace is pending (and no
      cancel is): that is the replace's own cancel leg, which the replace task follows up with the
      new order; confirming it as a cancel would end the OMS order instead."""
    pending = order.get("pending") or {}
    if report.cl_ord_id not in (order["clOrdID"], pending.get("clOrdID")):
        return True
    return bool(
        pending
        and report.cl_ord_id == order["clOrdID"]
        and report.status is VenueOrderStatus.CANCELED
        and not order.get("pendingCancel")
    )


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


def confirm_replace(venue: str, order_id: str, cl_ord_id: str, text: str | None = None) -> bool:
    """Confirm the pending replace `cl_ord_id` if it is still pending; whether the order now runs
    under `cl_ord_id` (a venue that amends in place answers under the old clOrdID, so the send's
    answer alone does not confirm it)."""
    order = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first()
    if order is None:
        return False
    if (order.get("pending") or {}).get("clOrdID") == cl_ord_id:
        _send(venue, {"commandType": "ConfirmReplaceCommand", "orderId": order_id, "text": text})
        order = Order.objects.filter(pk=order_id).values_list("doc", flat=True).first() or order
    return bool(order["clOrdID"] == cl_ord_id)


def cancel(venue: str, order_id: str, text: str) -> None:
    """The venue no longer works the order (solicited when a cancel is pending, else unsolicited
    with `text`)."""
    _send(venue, {"commandType": "ConfirmCancelCommand", "orderId": order_id, "text": text[:200]})
