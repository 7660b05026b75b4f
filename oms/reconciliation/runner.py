"""One reconciliation of one venue: read both sides, repair what the venue's own records settle
(fills re-pulled, order reports re-applied, through the one write path), compare again, and hand
back what still differs.

Order of work: every venue read happens first (open orders, fills since the last run, positions,
then the few orders and fills the first comparison asks about), the writes after. A write takes
the global sequence row's lock until the run commits (oms.core.models.EventSequence), so a slow
venue must not be read while it is held.

Repairs use the venue adapters' report functions (oms.venues.reports), the same code the stream
consumer and the send tasks use: a fill is an `ExecuteOrderCommand` keyed by execID (never counted
twice, whoever brings it), an order report moves the OMS order only towards the venue's state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.conf import settings

from oms.core.errors import ApplicationError
from oms.reconciliation import balances, snapshot
from oms.reconciliation.adopt import adopt_fill, adopt_order, orphan_cl_ord_id
from oms.reconciliation.compare import (
    BOOKED,
    ChunkedOrders,
    Finding,
    OmsOrder,
    OrderComparison,
    compare_orders,
    compare_positions,
    fill_finding,
    order_agrees,
    order_finding,
    position_finding,
)
from oms.reconciliation.enums import DiscrepancyKind
from oms.venues import reports
from oms.venues.adapter import VenueAdapter, VenueBalance, VenueFill, VenueOrderReport

log = logging.getLogger(__name__)

# fills are re-read from a little before the last run began (a venue's fill times and ours differ)
FILL_OVERLAP = dt.timedelta(minutes=5)


@dataclass
class Examined:
    checked: dict[str, int] = field(
        default_factory=lambda: {"orders": 0, "fills": 0, "positions": 0, "balances": 0}
    )
    repaired: dict[str, int] = field(default_factory=lambda: {"fills": 0, "orders": 0})
    findings: list[Finding] = field(default_factory=list)


class FillSource:
    """The venue's fills per symbol, read once per run (or per re-check)."""

    def __init__(self, adapter: VenueAdapter) -> None:
        self.adapter = adapter
        self._by_symbol: dict[str, list[VenueFill]] = {}

    def of_symbol(self, symbol: str) -> list[VenueFill]:
        if symbol not in self._by_symbol:
            self._by_symbol[symbol] = self.adapter.fetch_fills(since=None, symbol=symbol)
        return self._by_symbol[symbol]

    def of_order(self, report: VenueOrderReport) -> list[VenueFill]:
        return [
            f
            for f in self.of_symbol(report.symbol)
            if f.venue_order_id == report.venue_order_id or (f.cl_ord_id and f.cl_ord_id == report.cl_ord_id)
        ]


def repull(venue: str, fills: Iterable[VenueFill], orphans: list[VenueFill] | None = None) -> int:
    """Apply the fills the OMS has not booked (by execID); how many it newly booked. A fill of
    no OMS order goes to `orphans` (adopted by the run) or, without a list, is adopted here."""
    fills = list(fills)
    known = snapshot.booked(venue, (f.exec_id for f in fills))
    applied = 0
    for fill in fills:
        if fill.exec_id in known:
            continue  # booked, or held for the desk's review: applying again changes nothing
        try:
            if reports.apply_fill(fill) or reports.apply_fill(
                replace(fill, cl_ord_id=orphan_cl_ord_id(fill))
            ):
                applied += 1
            elif orphans is not None:
                orphans.append(fill)
            elif adopt_orphan(venue, fill):
                applied += 1
        except ApplicationError as exc:
            log.warning("reconciliation %s: fill %s not applied: %s", venue, fill.exec_id, exc.message)
    return applied


def adopt_orphan(venue: str, fill: VenueFill) -> str | None:
    """Adopt a fill of no OMS order and book it on the adopted order; the order's id."""
    try:
        order_id = adopt_fill(venue, fill)
        reports.apply_fill(replace(fill, cl_ord_id=orphan_cl_ord_id(fill)))
    except ApplicationError as exc:
        log.error("reconciliation %s: fill %s could not be adopted: %s", venue, fill.exec_id, exc.message)
        return None
    return order_id


def repair_order(venue: str, report: VenueOrderReport, fills: list[VenueFill]) -> None:
    """Bring the OMS order to the venue's report: its fills first, then its status."""
    repull(venue, fills)
    try:
        reports.apply_order_report(report)
    except ApplicationError as exc:
        log.warning("reconciliation %s: report of %s not applied: %s", venue, report.cl_ord_id, exc.message)


def compare_venue_orders(venue: str, open_orders: list[VenueOrderReport]) -> OrderComparison:
    """The venue's open orders against the OMS's working ones, OMS_RECONCILE_CHUNK at a time
    (keyset by orderId: only what differs is kept); 0 reads every working order at once."""
    size = int(settings.OMS_RECONCILE_CHUNK)
    if size <= 0:
        working = snapshot.working_orders(venue)
        return compare_orders(
            open_orders, snapshot.owners((r.cl_ord_id for r in open_orders), working), working
        )
    chunked = ChunkedOrders(open_orders)
    for page in snapshot.working_pages(venue, size):
        chunked.add_page(page)
    return chunked.finish(snapshot.owners(chunked.rest(), chunked.unmatched()))


def balance_findings(venue: str, theirs: list[VenueBalance]) -> tuple[int, list[Finding]]:
    """How many (account, currency) of the OMS's ledger were compared, and those that differ."""
    opening = settings.OMS_RECONCILE_OPENING_CASH.get(venue, {})
    wide = balances.venue_wide(theirs) or balances.VENUE_WIDE in opening
    ours = balances.ledger(opening, snapshot.holdings(venue), wide=wide)
    tolerance = Decimal(settings.OMS_RECONCILE_BALANCE_TOLERANCE)
    differ = balances.compare_balances(theirs, ours, tolerance)
    return len(ours), [balances.balance_finding(*d) for d in differ]


def examine(adapter: VenueAdapter, since: dt.datetime | None) -> Examined:
    """Raises VenueError (nothing written) when the venue cannot be read."""
    venue = adapter.venue
    out = Examined()
    # --- the venue's side, read before any write -------------------------------------------------
    open_orders = adapter.fetch_open_orders()
    recent_fills = adapter.fetch_fills(since=None if since is None else since - FILL_OVERLAP)
    venue_positions = adapter.fetch_positions() if adapter.has.get("positions") else None
    venue_balances = adapter.fetch_balances() if adapter.has.get("balances") else None
    orders = compare_venue_orders(venue, open_orders)
    out.checked["orders"] = orders.checked
    out.checked["fills"] = len(recent_fills)
    fills = FillSource(adapter)
    unlisted: list[tuple[OmsOrder, VenueOrderReport | None]] = [
        (o, adapter.fetch_order(cl_ord_id=o.cl_ord_id, symbol=o.symbol)) for o in orders.unlisted
    ]
    to_repair = [*orders.differ, *((r, o) for o, r in unlisted if r is not None)]
    order_fills = {id(r): fills.of_order(r) for r in [*(r for r, _ in to_repair), *orders.unknown]}

    # --- repairs (the one write path), then what still differs -------------------------------------
    # a venue order the OMS never sent is adopted (held for the desk), with its fills, before the
    # recent fills: its fills must book on it, not as orphans
    for report in orders.unknown:
        own = order_fills[id(report)]
        order_id: str | None = None
        try:
            order_id = adopt_order(venue, report, next((f.account for f in own if f.account), None))
            repair_order(venue, report, own)
        except ApplicationError as exc:
            log.error("reconciliation %s: %s could not be adopted: %s", venue, report.cl_ord_id, exc.message)
        out.findings.append(
            order_finding(
                DiscrepancyKind.UNKNOWN_VENUE_ORDER,
                report,
                None if order_id is None else snapshot.order_by_id(order_id),
                f"venue order {report.venue_order_id} ({report.cl_ord_id}) is open at the venue; the OMS "
                "never sent it"
                + ("" if order_id is None else f": adopted as {order_id}, held for the desk's review"),
            )
        )
    orphans: list[VenueFill] = []
    out.repaired["fills"] += repull(venue, recent_fills, orphans)
    for fill in orphans:
        order_id = adopt_orphan(venue, fill)
        status, _ = snapshot.booked(venue, [fill.exec_id]).get(fill.exec_id, (None, ""))
        finding = fill_finding(fill, status, order_id)
        if order_id is not None:
            finding = replace(
                finding, text=f"{finding.text}: adopted as {order_id}, held for the desk's review"
            )
        out.findings.append(finding)
    for report, order in to_repair:
        out.repaired["fills"] += repull(venue, order_fills[id(report)])
        repair_order(venue, report, order_fills[id(report)])
        now = snapshot.order_by_id(order.order_id)
        if now is not None and order_agrees(report, now):
            out.repaired["orders"] += 1
            continue
        out.findings.append(
            order_finding(
                DiscrepancyKind.STATUS_MISMATCH,
                report,
                now or order,
                f"order {order.cl_ord_id}: OMS {(now or order).status} cumQty {(now or order).cum_qty}, "
                f"venue {report.status.value} cumQty {report.cum_qty}",
            )
        )
    for order, found in unlisted:
        if found is None:
            out.findings.append(
                order_finding(
                    DiscrepancyKind.MISSING_VENUE_ORDER,
                    None,
                    order,
                    f"order {order.cl_ord_id} is {order.status} in the OMS; the venue has no such order",
                )
            )
    booked = snapshot.booked(venue, (f.exec_id for f in recent_fills))
    adopted = {f.exec_id for f in orphans}
    for fill in recent_fills:
        status, order_id = booked.get(fill.exec_id, (None, None))
        if status not in BOOKED and fill.exec_id not in adopted:
            out.findings.append(fill_finding(fill, status, order_id or None))
    if venue_positions is not None:
        ours = snapshot.positions(venue)
        out.checked["positions"] = len({(p.account, p.symbol) for p in venue_positions} | set(ours))
        for key, oms_qty, venue_qty in compare_positions(venue_positions, ours):
            out.findings.append(position_finding(key, oms_qty, venue_qty))
    if venue_balances is not None:  # after the repairs: a re-pulled fill moves the ledger too
        out.checked["balances"], cash_findings = balance_findings(venue, venue_balances)
        out.findings.extend(cash_findings)
    return out


# --- the re-check of one discrepancy (ResolveDiscrepancyCommand) -----------------------------------


def still_differs(adapter: VenueAdapter, d: dict[str, str | None]) -> str | None:
    """Re-read the venue for what discrepancy `d` (kind, subject, account, symbol, orderId,
    clOrdID, execID) was about, re-pull its fills, and say what still differs (None: it agrees)."""
    venue, kind = adapter.venue, d["kind"]
    symbol, account = d.get("symbol") or "", d.get("account") or ""
    fills = FillSource(adapter)
    subject = d.get("subject") or ""
    if kind == DiscrepancyKind.POSITION_MISMATCH and subject.startswith("balance|"):
        # a venue that stopped reporting balances leaves nothing to compare: it agrees
        theirs_cash = adapter.fetch_balances() if adapter.has.get("balances") else None
        if theirs_cash is None:
            return None
        _, cash_findings = balance_findings(venue, theirs_cash)
        return next((f.text for f in cash_findings if f.subject == subject), None)
    if kind == DiscrepancyKind.POSITION_MISMATCH:
        theirs = sum(
            (p.qty for p in adapter.fetch_positions(account=account) if p.symbol == symbol), Decimal(0)
        )
        repull(venue, fills.of_symbol(symbol))
        ours = snapshot.position_qty(venue, account, symbol)
        return None if ours == theirs else f"position {account} {symbol}: OMS {ours}, venue {theirs}"
    if kind == DiscrepancyKind.MISSING_FILL:
        exec_id = d.get("execID") or ""
        found = [f for f in fills.of_symbol(symbol) if f.exec_id == exec_id]
        repull(venue, found)
        status = snapshot.booked(venue, [exec_id]).get(exec_id, (None, ""))[0]
        if not found or status in BOOKED:
            return None
        return f"venue fill {exec_id} is still not booked ({status or 'no execution'})"
    if kind == DiscrepancyKind.UNKNOWN_VENUE_ORDER:
        cl_ord_id = d.get("clOrdID") or ""
        report = adapter.fetch_order(cl_ord_id=cl_ord_id, symbol=symbol)
        if report is None or report.status.terminal or snapshot.owners([cl_ord_id]):
            return None
        return f"venue order {cl_ord_id} is still open at the venue and the OMS has no order for it"
    order = snapshot.order_by_id(d.get("orderId") or "")
    if order is None or not order.open:
        return None  # the OMS order is done (rejected, canceled, filled): nothing works on
    report = adapter.fetch_order(cl_ord_id=order.cl_ord_id, symbol=order.symbol)
    if report is None:
        return f"order {order.cl_ord_id} is {order.status} in the OMS; the venue still has no such order"
    order_fills = fills.of_order(report)
    repair_order(venue, report, order_fills)
    now = snapshot.order_by_id(order.order_id)
    if now is None or order_agrees(report, now):
        return None
    return f"order {order.cl_ord_id}: OMS {now.status} cumQty {now.cum_qty}, venue {report.status.value}"
