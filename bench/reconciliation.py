"""Reconciliation time for 10,000 open orders and 100 positions against SIM, the OMS's working
orders read whole (OMS_RECONCILE_CHUNK=0, as before) and in keyset pages, beside a raw SQL
baseline of the same comparison, all in the same run.

    .venv/bin/python -m bench.reconciliation [--orders 10000] [--positions 100] [--rounds 3]
        [--chunk 1000] [--db oms_bench_reconciliation]

On a fresh PostgreSQL database (`--db`, dropped after), SIM in process memory:
1. seed: N resting limit orders at SIM (placed through its adapter, far from the market) and, for
   each, the OMS's rows of a working market order at SIM that sent it (its state row, its clOrdID
   key and its settled send; written in bulk: seeding through the write path would take longer
   than everything measured); P positions, the same quantity at SIM and in the OMS;
2. measured, alternating per round: `RunReconciliationCommand` through `dispatch` (venue reads,
   the OMS's reads, the comparison, the run's record; nothing differs, so nothing is repaired)
   with the working orders read whole, then in pages of `--chunk`, and the baseline: the same
   venue reads, the venue's rows bulk-loaded into a temporary table and ONE SQL statement that
   finds every order whose status or cumQty differs, every venue order no OMS clOrdID owns, every
   OMS working order the venue does not list, and every position whose quantity differs;
3. one more run of each mode under tracemalloc: the peak of Python memory allocated during the
   run (the venue's list included: SIM's answer is the same in both modes), and the peak of the
   OMS's side alone (the working orders read and compared with the venue's list, read before);
4. a run that finds 1% of the orders different (their OMS cumQty altered), paged: its time with
   the repairs' reads and the discrepancies recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

from bench import _common as common

DB = "oms_bench_reconciliation"
SYMBOLS = 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--db", default=DB)
    args = parser.parse_args()
    durable = common.check_durable()
    common.create_db(args.db)
    try:
        import os

        os.environ["OMS_SIM_STORE"] = "memory"
        os.environ["OMS_RECONCILE_INTERVAL"] = "0"
        common.django_setup(args.db)
        seeded = seed(args.orders, args.positions)
        whole, paged, base = [], [], []
        for _ in range(args.rounds):
            whole.append(run_once(0))
            paged.append(run_once(args.chunk))
            base.append(baseline())
        peaks = {
            "whole_peak_mib": peak_mib(0),
            "paged_peak_mib": peak_mib(args.chunk),
            "whole_compare_peak_mib": compare_peak_mib(0),
            "paged_compare_peak_mib": compare_peak_mib(args.chunk),
        }
        differing = run_with_differences(max(1, args.orders // 100), args.chunk)
        result = {
            "orders": args.orders,
            "positions": args.positions,
            "chunk": args.chunk,
            "seed_seconds": seeded,
            "whole_seconds": whole,
            "paged_seconds": paged,
            "baseline_sql_seconds": base,
            "whole_median": sorted(whole)[len(whole) // 2],
            "paged_median": sorted(paged)[len(paged) // 2],
            "baseline_median": sorted(base)[len(base) // 2],
            **peaks,
            "with_differences": differing,
            "server": durable,
            "machine": common.machine_notes(),
        }
        print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "server")}, indent=2))
        common.save_result("reconciliation", result)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def seed(n_orders: int, n_positions: int) -> float:
    from oms.core.dispatch import dispatch
    from oms.orders.models import ClOrdIdKey, Order
    from oms.positions.models import Position
    from oms.venues.adapter import PlaceRequest, VenueOrdType, VenueSide
    from oms.venues.models import VenueSend
    from oms.venues.routing import adapter_for

    started = time.perf_counter()
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor="system:bench",
    )
    adapter = adapter_for("SIM")
    assert adapter is not None
    now = _now()
    orders, keys, sends = [], [], []
    for i in range(n_orders):
        symbol = f"S{i % SYMBOLS:03d}-PERP"
        cl = f"B-{i:06d}"
        report = adapter.place_order(
            PlaceRequest(
                cl_ord_id=cl,
                symbol=symbol,
                side=VenueSide.BUY,
                order_qty=Decimal(5),
                ord_type=VenueOrdType.LIMIT,
                price=Decimal(10),
                account="ACC-B",
            )
        )
        order_id = f"OB{i:06d}"
        doc: dict[str, Any] = {
            "orderId": order_id,
            "clOrdID": cl,
            "kind": "Market",
            "symbol": symbol,
            "side": "Buy",
            "account": "ACC-B",
            "venue": "SIM",
            "status": "New",
            "phase": "Open",
            "orderQty": "5",
            "cumQty": "0",
        }
        orders.append(
            Order(
                order_id=order_id, cl_ord_id=cl, kind="Market", root_id=order_id, symbol=symbol, side="Buy",
                account="ACC-B", venue="SIM", status="New", handling="Auto", order_qty=5, cum_qty=0,
                leaves_qty=5, price=10, avg_px=0, version=1, created_at=now, updated_at=now, doc=doc,
            )
        )  # fmt: skip
        keys.append(ClOrdIdKey(cl_ord_id=cl, order_id=order_id))
        sends.append(
            VenueSend(
                cl_ord_id=cl, venue="SIM", action="Place", order_id=order_id, status="Done",
                outcome="New", venue_order_id=report.venue_order_id, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    Order.objects.bulk_create(orders, batch_size=1000)
    ClOrdIdKey.objects.bulk_create(keys, batch_size=1000)
    VenueSend.objects.bulk_create(sends, batch_size=1000)
    store = adapter.engine.store  # type: ignore[attr-defined]  # the SIM adapter's engine: the base adapter type does not declare it
    rows = []
    for i in range(n_positions):
        symbol, qty = f"S{i % SYMBOLS:03d}-PERP", Decimal(i + 1)
        store.hset(
            "positions",
            f"ACC-P{i // SYMBOLS}|{symbol}",
            {"account": f"ACC-P{i // SYMBOLS}", "symbol": symbol, "qty": str(qty), "avgPx": "10",
             "updatedAt": now.isoformat()},
        )  # fmt: skip
        doc = {"account": f"ACC-P{i // SYMBOLS}", "venue": "SIM", "symbol": symbol, "qty": str(qty)}
        rows.append(
            Position(
                position_id=f"PB{i:05d}", account=doc["account"], venue="SIM", symbol=symbol, qty=qty,
                version=1, created_at=now, updated_at=now, doc=doc,
            )
        )  # fmt: skip
    Position.objects.bulk_create(rows)
    from django.db import connection

    with connection.cursor() as cur:  # bulk-loaded: give the planner its statistics (autovacuum would)
        cur.execute("ANALYZE orders, order_cl_ord_ids, venue_sends, positions")
    return round(time.perf_counter() - started, 2)


def run_once(chunk: int) -> float:
    from django.conf import settings

    from oms.core.dispatch import dispatch

    settings.OMS_RECONCILE_CHUNK = chunk
    started = time.perf_counter()
    body = dispatch(
        "venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"}, actor="system:bench"
    ).body
    elapsed = time.perf_counter() - started
    assert body["discrepancies"] == [], body["discrepancies"][:3]
    return round(elapsed, 3)


_WORKING = "('PendingNew', 'New', 'PartiallyFilled', 'PendingCancel', 'PendingReplace')"
_BASELINE_SQL = f"""
SELECT 'unknown', v.cl_ord_id FROM venue_orders v
  LEFT JOIN order_cl_ord_ids k ON k.cl_ord_id = v.cl_ord_id WHERE k.cl_ord_id IS NULL
UNION ALL
SELECT 'differs', o.cl_ord_id FROM venue_orders v
  JOIN order_cl_ord_ids k ON k.cl_ord_id = v.cl_ord_id JOIN orders o ON o.order_id = k.order_id
 WHERE o.cum_qty <> v.cum_qty OR (o.status IN {_WORKING}) <> v.is_open
UNION ALL
SELECT 'missing', o.cl_ord_id FROM orders o
  LEFT JOIN (SELECT k.order_id FROM venue_orders v JOIN order_cl_ord_ids k ON k.cl_ord_id = v.cl_ord_id) seen
    ON seen.order_id = o.order_id
 WHERE o.venue = 'SIM' AND o.kind = 'Market' AND o.status IN {_WORKING} AND seen.order_id IS NULL
UNION ALL
SELECT 'position', COALESCE(p.account, vp.account) || '|' || COALESCE(p.symbol, vp.symbol)
  FROM (SELECT account, symbol, qty FROM positions WHERE venue = 'SIM') p
  FULL JOIN venue_positions vp ON vp.account = p.account AND vp.symbol = p.symbol
 WHERE COALESCE(p.qty, 0) <> COALESCE(vp.qty, 0)
"""


def peak_mib(chunk: int) -> float:
    """The peak of Python memory allocated during one run at page size `chunk` (0: whole)."""
    import tracemalloc

    tracemalloc.start()
    try:
        run_once(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(peak / 2**20, 1)


def compare_peak_mib(chunk: int) -> float:
    """The same, of the OMS's side alone: the venue's open orders read before tracing starts,
    then the working orders read and compared with them (`runner.compare_venue_orders`)."""
    import tracemalloc

    from django.conf import settings
    from django.db import transaction

    from oms.reconciliation.runner import compare_venue_orders
    from oms.venues.routing import adapter_for

    settings.OMS_RECONCILE_CHUNK = chunk
    adapter = adapter_for("SIM")
    assert adapter is not None
    open_orders = adapter.fetch_open_orders()
    tracemalloc.start()
    try:
        with transaction.atomic():  # one snapshot, as inside the run's command
            found = compare_venue_orders("SIM", open_orders)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not (found.differ or found.unknown or found.unlisted)
    return round(peak / 2**20, 1)


def baseline() -> float:
    from django.db import connection, transaction

    from oms.venues.routing import adapter_for

    started = time.perf_counter()
    adapter = adapter_for("SIM")
    assert adapter is not None
    open_orders = adapter.fetch_open_orders()
    adapter.fetch_fills(since=_now() - dt.timedelta(minutes=5))
    positions = adapter.fetch_positions()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE venue_orders (cl_ord_id text PRIMARY KEY, cum_qty numeric, is_open boolean) "
            "ON COMMIT DROP"
        )
        cur.execute(
            "CREATE TEMP TABLE venue_positions (account text, symbol text, qty numeric) ON COMMIT DROP"
        )
        with cur.copy("COPY venue_orders FROM STDIN") as copy:  # type: ignore[attr-defined]  # Django's cursor wrapper passes copy() through to psycopg 3, untyped
            for r in open_orders:
                copy.write_row((r.cl_ord_id, r.cum_qty, not r.status.terminal))
        with cur.copy("COPY venue_positions FROM STDIN") as copy:  # type: ignore[attr-defined]  # Django's cursor wrapper passes copy() through to psycopg 3, untyped
            for p in positions:
                copy.write_row((p.account, p.symbol, p.qty))
        cur.execute("ANALYZE venue_orders")
        cur.execute(_BASELINE_SQL)
        differences = cur.fetchall()
    elapsed = time.perf_counter() - started
    assert differences == [], differences[:3]
    return round(elapsed, 3)


def run_with_differences(n: int, chunk: int) -> dict[str, Any]:
    from django.conf import settings

    from oms.core.dispatch import dispatch

    settings.OMS_RECONCILE_CHUNK = chunk
    from oms.orders.models import Order

    ids = list(Order.objects.order_by("order_id").values_list("order_id", flat=True)[:n])
    for order in Order.objects.filter(order_id__in=ids):
        order.doc = {**order.doc, "cumQty": "1"}
        order.cum_qty = 1
        order.save(update_fields=["doc", "cum_qty"])
    started = time.perf_counter()
    body = dispatch(
        "venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"}, actor="system:bench"
    ).body
    elapsed = time.perf_counter() - started
    return {"differing": n, "seconds": round(elapsed, 3), "discrepancies": len(body["discrepancies"])}


if __name__ == "__main__":
    main()
