"""A run compared in keyset pages of the OMS's working orders (OMS_RECONCILE_CHUNK) finds what
the whole-set comparison finds, in the same order, whatever the page size: the pure comparison
on made-up orders (every way a venue order and an OMS order can meet), and whole runs against
SIM on the same data (each run rolled back, so the next sees the same database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from oms.orders.models import Order
from oms.reconciliation import runner
from oms.reconciliation.compare import ChunkedOrders, OmsOrder, OrderComparison, compare_orders
from oms.venues.adapter import PlaceRequest, VenueOrderReport, VenueOrderStatus, VenueOrdType, VenueSide
from oms.venues.routing import adapter_for
from oms.venues.sim.adapter import engine_for
from tests.venues_support import children, client_order, fresh_sim_venue, ingest, sim_instrument, sim_market

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SYMBOL = "BTC-PERP"


def _order(n: int, *, cum: str = "0", status: str = "New", in_flight: bool = False) -> OmsOrder:
    return OmsOrder(
        order_id=f"O{n:03d}",
        cl_ord_id=f"C{n:03d}",
        account="A",
        symbol="S",
        side="Buy",
        status=status,
        phase="Open",
        order_qty=Decimal(5),
        cum_qty=Decimal(cum),
        open=status in ("New", "PartiallyFilled", "PendingCancel"),
        in_flight=in_flight,
    )


def _report(
    cl_ord_id: str, *, cum: str = "0", status: VenueOrderStatus = VenueOrderStatus.NEW
) -> VenueOrderReport:
    return VenueOrderReport(
        venue="V",
        venue_order_id=f"V-{cl_ord_id}",
        cl_ord_id=cl_ord_id,
        symbol="S",
        side=VenueSide.BUY,
        status=status,
        order_qty=Decimal(5),
        cum_qty=Decimal(cum),
        avg_px=None,
        ts_event=T0,
        ts_init=T0,
    )


def _scene() -> tuple[list[VenueOrderReport], list[OmsOrder], dict[str, OmsOrder]]:
    """Venue open orders, OMS working orders (by orderId), and every clOrdID any order used."""
    working = [_order(n) for n in range(12)]
    working[3] = replace(working[3], cum_qty=Decimal(2))  # the venue says 0: differs
    working[5] = replace(working[5], in_flight=True)  # not at the venue yet: not unlisted
    working[7] = replace(working[7], cl_ord_id="C007-R")  # replaced: the venue knows the old id
    done = _order(50, status="Filled", cum="5")  # done in the OMS, open at the venue
    ever = {o.cl_ord_id: o for o in [*working, done]} | {"C007": working[7]}
    venue = [
        _report("C000"),
        _report("C003"),
        _report("X-UNKNOWN"),  # no OMS order used it
        _report("C007"),  # owned by its old clOrdID
        _report("C050"),
        _report("C002", cum="1", status=VenueOrderStatus.PARTIALLY_FILLED),
        *(_report(f"C{n:03d}") for n in (8, 9, 11)),
    ]  # C001, C004, C006, C010 working in the OMS, not listed: unlisted; C005 in flight
    return venue, working, ever


def _owners(ever: dict[str, OmsOrder], cl_ord_ids: list[str], known: list[OmsOrder]) -> dict[str, OmsOrder]:
    """snapshot.owners on the made-up orders: a known order stands for itself."""
    by_id = {o.order_id: o for o in known}
    out = {o.cl_ord_id: o for o in known}
    for cl in cl_ord_ids:
        if cl not in out and cl in ever:
            out[cl] = by_id.get(ever[cl].order_id, ever[cl])
    return out


def _pages(orders: list[OmsOrder], size: int) -> Iterator[list[OmsOrder]]:
    for start in range(0, len(orders), size):
        yield orders[start : start + size]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 12, 100])
def test_chunked_comparison_equals_the_whole_set_comparison(size: int) -> None:
    venue, working, ever = _scene()
    whole = compare_orders(venue, _owners(ever, [r.cl_ord_id for r in venue], working), working)

    chunked = ChunkedOrders(venue)
    for page in _pages(working, size):
        chunked.add_page(page)
    paged = chunked.finish(_owners(ever, chunked.rest(), chunked.unmatched()))

    assert paged == whole
    assert [r.cl_ord_id for r in whole.unknown] == ["X-UNKNOWN"]
    assert sorted(o.order_id for _, o in whole.differ) == ["O002", "O003", "O050"]
    assert [o.order_id for o in whole.unlisted] == ["O001", "O004", "O006", "O010"]
    assert whole.checked == len(venue) + 5  # the four unlisted and the one in flight


def test_an_empty_venue_and_an_empty_oms_compare_to_nothing() -> None:
    chunked = ChunkedOrders([])
    for page in _pages([], 3):
        chunked.add_page(page)
    assert chunked.finish({}) == OrderComparison()


# --- whole runs against SIM ------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def _examined(settings: Any, chunk: int) -> dict[str, Any]:
    """One run's result at page size `chunk`, rolled back (the adopted orders, the repairs)."""
    settings.OMS_RECONCILE_CHUNK = chunk
    adapter = adapter_for("SIM")
    assert adapter is not None
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            out = runner.examine(adapter, None)
            result = {
                "checked": out.checked,
                "repaired": out.repaired,
                # an adopted order's id is drawn afresh by each run (its subject and text name it):
                # compared by the venue order it adopted
                "findings": [
                    (f.kind, f.account, f.symbol, f.venue_value)
                    + (() if f.kind == "unknown_venue_order" else (f.subject, f.oms, f.text, f.order_id))
                    for f in out.findings
                ],
            }
            raise _Rollback
    except _Rollback:
        pass
    return result


@pytest.mark.django_db(transaction=True)
def test_a_run_in_pages_finds_what_a_run_of_the_whole_set_finds(
    settings: Any, admin_user: Any, tmp_path: Any
) -> None:
    with fresh_sim_venue(settings, tmp_path, gap_hold_ms=0):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "100", "101", "50", "0")  # nothing to sell: every buy rests
        resting = [client_order(SYMBOL, "2") for _ in range(7)]
        ingest()
        sent = [children(o["orderId"])[0] for o in resting]
        engine = engine_for("SIM")
        engine.cancel(sent[1]["clOrdID"])  # canceled at the venue, unheard: repaired
        differs = Order.objects.get(pk=sent[4]["orderId"])  # the OMS books a fill the venue lacks
        differs.doc = {**differs.doc, "cumQty": "1"}
        differs.cum_qty = 1
        differs.save(update_fields=["doc", "cum_qty"])
        adapter = adapter_for("SIM")
        assert adapter is not None
        adapter.place_order(  # never sent by the OMS: adopted
            PlaceRequest("ALIEN-1", SYMBOL, VenueSide.BUY, Decimal(1), VenueOrdType.LIMIT, Decimal(90))
        )

        whole = _examined(settings, 0)
        assert {f[0] for f in whole["findings"]} == {"unknown_venue_order", "status_mismatch"}
        assert whole["repaired"]["orders"] == 1 and whole["checked"]["orders"] == 8
        for size in (1, 2, 3, 1000):
            assert _examined(settings, size) == whole, f"page size {size}"
