"""Expiry: Day orders at the end of the trading day, GTD orders at their expireTime, quotes and
quote requests at their validUntilTime, all through `dispatch` as `system:lifecycle`.

An order tree expires bottom-up (slices, then market orders, then the client order): the order
handlers refuse `ExpireOrderCommand` while an order has working children. A child inherits its
ancestors' expiry (a Day client order takes its market orders and slices with it), and an order
whose own terms are due (a Day market order under a GTC client order) expires with its subtree.

Runs are idempotent and may overlap: every expiry is a command, the tree lock serializes commands
on one tree, and the state machine refuses a second `ExpireOrderCommand` (409
`invalid_transition`), which a run counts as `skipped` and otherwise ignores. A run picks up
everything due at `now`, so a run after downtime catches up with every boundary it missed.

Orders with a cancel or replace pending expire too: the trading day is over at the venue whatever
the answer to the request would have been, and a desk does not want an order showing
`PendingCancel` with quantity left overnight. A client order whose cascade cancel waits on its
children is completed by their expiry (it ends `Canceled`, as the desk asked).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.parsing import from_iso, iso
from oms.lifecycle.config import parse_time_of_day
from oms.orders.enums import Kind
from oms.orders.models import WORKING, Order

log = logging.getLogger(__name__)

ACTOR = "system:lifecycle"
_DEPTH = {Kind.CLIENT.value: 0, Kind.MARKET.value: 1, Kind.SLICE.value: 2}


@dataclass
class ExpiryReport:
    now: dt.datetime
    day_boundary: dt.datetime
    correlation_id: str
    orders_due: int = 0  # working orders found due (own terms or inherited), before expiring
    orders_expired: int = 0
    orders_skipped: int = 0  # refused: expired, filled or cancelled meanwhile (an overlapping run)
    trees: int = 0
    quotes_expired: int = 0
    quote_requests_expired: int = 0
    quotes_skipped: int = 0
    quotes_available: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["now"] = iso(self.now)
        out["day_boundary"] = iso(self.day_boundary)
        return out


def parse_time(raw: str) -> dt.datetime:
    """ISO-8601 to an aware UTC datetime (UTC assumed without an offset); ValueError otherwise."""
    value = dt.datetime.fromisoformat(raw.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def trading_day_boundary(now: dt.datetime, end: dt.time | None = None) -> dt.datetime:
    """The most recent end of a trading day at or before `now` (UTC)."""
    if end is None:
        end = parse_time_of_day(settings.OMS_TRADING_DAY_END_UTC)
    now = now.astimezone(dt.UTC)
    candidate = dt.datetime.combine(now.date(), end, tzinfo=dt.UTC)
    return candidate if candidate <= now else candidate - dt.timedelta(days=1)


def due_orders(now: dt.datetime, boundary: dt.datetime) -> dict[str, tuple[str, str]]:
    """Working orders due on their own terms: {orderId: (rootId, reason)}."""
    working = Order.objects.filter(status__in=WORKING)
    due: dict[str, tuple[str, str]] = {}
    day = working.filter(doc__timeInForce="Day", created_at__lt=boundary)
    for order_id, root_id in day.values_list("order_id", "root_id").iterator(chunk_size=2000):
        due[order_id] = (root_id, f"end of trading day {iso(boundary)}")
    gtd = working.filter(doc__timeInForce="GTD").values_list("order_id", "root_id", "doc__expireTime")
    for order_id, root_id, expire_time in gtd.iterator(chunk_size=2000):
        when = from_iso(expire_time) if isinstance(expire_time, str) else None
        if when is not None and when <= now:
            due[order_id] = (root_id, f"expireTime {iso(when)} reached")
    return due


def _tree_plan(root_id: str, due: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """The working orders of one tree to expire, deepest first: [(orderId, text)]."""
    members = list(
        Order.objects.filter(root_id=root_id).values_list("order_id", "parent_id", "kind", "status")
    )
    parent = {oid: pid for oid, pid, _, _ in members}

    def reason(order_id: str) -> str | None:
        seen: str | None = order_id
        while seen is not None:
            if seen in due:
                why = due[seen][1]
                return why if seen == order_id else f"{why} (inherited from {seen})"
            seen = parent.get(seen)
        return None

    plan = []
    for order_id, _, kind, status in members:
        if status not in WORKING:
            continue
        why = reason(order_id)
        if why is not None:
            plan.append((_DEPTH.get(kind, 0), order_id, why))
    plan.sort(key=lambda t: (-t[0], t[1]))
    return [(order_id, why) for _, order_id, why in plan]


def expire_orders(report: ExpiryReport) -> None:
    due = due_orders(report.now, report.day_boundary)
    roots = sorted({root_id for root_id, _ in due.values()})
    for root_id in roots:
        plan = _tree_plan(root_id, due)
        if not plan:
            continue
        report.trees += 1
        report.orders_due += len(plan)
        for order_id, why in plan:
            if _send(
                report,
                "orders",
                {"commandType": "ExpireOrderCommand", "orderId": order_id, "text": f"expired: {why}"[:1000]},
            ):
                report.orders_expired += 1
            else:
                report.orders_skipped += 1


def _send(report: ExpiryReport, topic: str, command: dict[str, Any]) -> bool:
    try:
        dispatch(topic, command, actor=ACTOR, correlation_id=report.correlation_id)
    except ApplicationError as exc:
        # a concurrent run (or a venue report) got there first: the state machine refused
        log.info("expiry of %s refused: %s %s", command, exc.code, exc.message)
        return False
    except Exception as exc:  # one broken object must not stop the run; reported, retried next run
        log.exception("expiry of %s failed", command)
        report.errors.append(f"{command.get('commandType')} {command}: {exc!r}"[:500])
        return False
    return True


def _quote_selectors() -> Any | None:
    try:
        from oms.quotes import selectors
    except ImportError:
        return None
    if not (hasattr(selectors, "due_quote_requests") and hasattr(selectors, "due_quotes")):
        return None
    return selectors


def expire_quotes(report: ExpiryReport) -> None:
    """Quotes first, then the requests (a request's expiry may close its quotes as well)."""
    selectors = _quote_selectors()
    if selectors is None:
        return
    report.quotes_available = True
    for quote_id in _ids(selectors.due_quotes(report.now)):
        if _send(report, "quotes", {"commandType": "ExpireQuoteCommand", "quoteId": quote_id}):
            report.quotes_expired += 1
        else:
            report.quotes_skipped += 1
    for request_id in _ids(selectors.due_quote_requests(report.now)):
        if _send(
            report,
            "quote-requests",
            {"commandType": "ExpireQuoteRequestCommand", "quoteRequestId": request_id},
        ):
            report.quote_requests_expired += 1
        else:
            report.quotes_skipped += 1


def _ids(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]


def expire_due(now: dt.datetime | None = None) -> ExpiryReport:
    """Expire everything due at `now` (default: the clock). Safe to run concurrently."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    report = ExpiryReport(
        now=now, day_boundary=trading_day_boundary(now), correlation_id=f"expiry-{uuid.uuid4().hex[:24]}"
    )
    expire_orders(report)
    expire_quotes(report)
    log.info("expiry run: %s", report.as_dict())
    return report
