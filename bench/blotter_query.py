"""The blotter's hot query over 200,000 orders: the real query API beside the same SQL raw.

    .venv/bin/python -m bench.blotter_query [--orders 200000] [--iterations 300]

Loads orders straight into the `orders` state table with COPY (the event rows are not needed by
this query, so none are written): each row is built from an `OrderState` through the live
`to_api` / `to_row`, so the typed columns and the `doc` JSON agree. About 30% are working
(PendingNew, New, PartiallyFilled, PendingCancel, PendingReplace), the rest Filled, Canceled,
Expired, Rejected or DoneForDay; 50 symbols with a Zipf-like skew (the busiest symbol has about
10x the orders of the quietest); created_at spread over 30 days; client orders, 40% with a market
child. Then VACUUM ANALYZE (as autovacuum would after the load).

Timed, interleaved per iteration (random symbol, same symbol for both):
- api:  GET /api/queries/orders?status=New,PartiallyFilled,PendingNew,PendingCancel,PendingReplace
        &symbol=<one>&ordering=-createdAt&limit=100 through DRF's APIClient in-process, token
        authentication included (the request runs the token lookup, the role lookup, COUNT(*) for
        the paginator's `count`, then the page query);
- raw:  psycopg running the COUNT and the page SQL exactly as Django issued them (captured), same
        binding mode, rows fetched.
EXPLAIN (ANALYZE, BUFFERS) of both statements for the busiest and a median symbol is printed
and saved.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import _common as common

CLOCK = time.perf_counter
WORKING = ["New", "PartiallyFilled", "PendingNew", "PendingCancel", "PendingReplace"]
TERMINAL = ["Filled", "Canceled", "Expired", "Rejected", "DoneForDay"]
SYMBOLS = [f"SYM{n:02d}" for n in range(50)]
QUERY = "/api/queries/orders?status=" + ",".join(WORKING) + "&symbol={symbol}&ordering=-createdAt&limit=100"


def _state(
    rng: random.Random,
    oid: str,
    kind: str,
    root: str,
    parent: str | None,
    symbol: str,
    created: dt.datetime,
    target: str,
) -> Any:
    from oms.orders.enums import Handling, Kind, Phase
    from oms.orders.state import OrderState, derive

    qty = Decimal(rng.choice([100, 200, 500, 1000, 2500, 10000]))
    price = Decimal(rng.randint(1000, 50000)) / 100
    s = OrderState(
        order_id=oid,
        cl_ord_id=f"CL{oid}",
        kind=Kind(kind),
        root_id=root,
        parent_id=parent,
        symbol=symbol,
        side=rng.choice(["Buy", "Sell", "SellShort"]),
        order_qty=qty,
        ord_type="Limit",
        price=price,
        time_in_force="Day",
        account=f"ACC{rng.randint(0, 199):03d}",
        venue=None if kind == "Client" else rng.choice(["XNAS", "XNYS", "MANUAL"]),
        handling=Handling("Desk" if rng.random() < 0.5 else "Auto"),
        routing_reason="bench",
        phase=Phase.OPEN,
        version=1,
        created_at=created,
        updated_at=created + dt.timedelta(seconds=rng.randint(0, 3600)),
    )
    part = (qty * Decimal(rng.randint(1, 99)) / 100).quantize(Decimal(1))
    if target == "PendingNew":
        s.phase = Phase.PENDING_NEW
    elif target == "PartiallyFilled":
        s.cum_qty = part
    elif target == "PendingCancel":
        s.pending_cancel = {"clOrdID": f"X{oid}", "cascade": False, "text": None}
    elif target == "PendingReplace":
        s.pending_replace = {"clOrdID": f"R{oid}", "orderQty": str(qty * 2)}
    elif target == "Filled":
        s.cum_qty = qty
        s.phase = Phase.CANCELED if rng.random() < 0.05 else Phase.OPEN
    elif target == "Canceled":
        s.phase = Phase.CANCELED
        s.cum_qty = part if rng.random() < 0.3 else Decimal(0)
    elif target == "Expired":
        s.phase = Phase.EXPIRED
    elif target == "Rejected":
        s.phase = Phase.REJECTED
    elif target == "DoneForDay":
        s.phase = Phase.DONE_FOR_DAY
        s.cum_qty = part
    s.gross_trade_amt = s.cum_qty * price
    s.version = rng.randint(1, 6)
    derive(s)
    if s.status.value != target:
        raise AssertionError(f"built {s.status} for {target}")
    return s


def load_orders(dbname: str, n: int, seed: int) -> dict[str, int]:
    """COPY n orders into `orders`; returns working orders per symbol."""
    from oms.orders.repository import ORDER
    from oms.orders.tree import new_id

    rng = random.Random(seed)
    weights = [1 / (k + 1) ** 0.6 for k in range(len(SYMBOLS))]
    now = dt.datetime.now(dt.UTC)
    columns = list(ORDER.to_row(_state(rng, "x", "Client", "x", None, "S", now, "New"), {}).keys())
    working: dict[str, int] = dict.fromkeys(SYMBOLS, 0)
    t0 = CLOCK()
    with psycopg.connect(common.conninfo(dbname)) as conn, conn.cursor() as cur:
        # rows go in in creation order, as a live table grows (heap order ~ time order)
        ages = sorted((rng.uniform(0, 30 * 86400) for _ in range(n)), reverse=True)
        with cur.copy(f"COPY orders ({', '.join(columns)}) FROM STDIN") as copy:
            made = 0
            while made < n:
                symbol = rng.choices(SYMBOLS, weights)[0]
                created = now - dt.timedelta(seconds=ages[made])
                root = new_id("O") + f"{made:x}"
                pairs = [(root, "Client", None)]
                if rng.random() < 0.4 and made + 1 < n:
                    pairs.append((new_id("O") + f"{made + 1:x}", "Market", root))
                for oid, kind, parent in pairs:
                    target = rng.choice(WORKING) if rng.random() < 0.30 else rng.choice(TERMINAL)
                    if target == "PendingNew" and kind == "Client":
                        target = "New"
                    s = _state(rng, oid, kind, root, parent, symbol, created, target)
                    doc = ORDER.to_api(s)
                    row = ORDER.to_row(s, doc)
                    row["doc"] = Jsonb(doc)
                    copy.write_row([row[c] for c in columns])
                    if target in WORKING:
                        working[symbol] += 1
                    made += 1
        conn.commit()
        conn.autocommit = True
        # what autovacuum does after a bulk load (the migration tunes it to run early on orders):
        # the visibility map lets the COUNT be an index-only scan
        cur.execute("VACUUM ANALYZE orders")
    print(f"loaded {n:,} orders in {CLOCK() - t0:.1f} s (COPY), VACUUM ANALYZE done")
    return working


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB + "_blotter")
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--what-if",
        type=int,
        default=100,
        metavar="N",
        help="COUNT alternatives, N iterations each (0: skip)",
    )
    args = ap.parse_args()

    notes = common.machine_notes()
    common.create_db(args.db)
    try:
        result = _run(args, notes)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)
    path = common.save_result("blotter_query", result)
    print(f"\nresults: {path}")


def _run(args: argparse.Namespace, notes: dict[str, Any]) -> dict[str, Any]:
    common.django_setup(args.db)
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    working = load_orders(args.db, args.orders, args.seed)
    ranked = sorted(working, key=working.get, reverse=True)  # type: ignore[arg-type]  # dict.get as a sort key: its Optional return is never None for the dict's own keys
    hot, median = ranked[0], ranked[len(ranked) // 2]
    print(
        f"working orders per symbol: max {working[hot]} ({hot}), median {working[median]}, min {working[ranked[-1]]}"
    )

    user = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    # capture the SQL one request issues
    captured: list[tuple[str, Any]] = []

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]  # Django's execute_wrapper signature, untyped upstream
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        resp = client.get(QUERY.format(symbol=hot))
    assert resp.status_code == 200, resp.content[:500]
    body = resp.json()
    assert len(body["results"]) == min(100, working[hot]) and body["count"] == working[hot], (
        body["count"],
        working[hot],
    )
    count_sql = next((s, p) for s, p in captured if "COUNT(" in s.upper() and '"orders"' in s)
    page_sql = next(
        (s, p)
        for s, p in captured
        if s.lstrip().upper().startswith("SELECT") and '"doc"' in s and "COUNT(" not in s.upper()
    )
    other = [s for s, _ in captured if s not in (count_sql[0], page_sql[0])]
    print(f"statements per request: {len(captured)} (COUNT, page, and {len(other)} for auth/roles)")

    def params_for(params: Any, symbol: str) -> Any:
        return [symbol if p == hot else p for p in params] if params is not None else None

    options = connection.settings_dict.get("OPTIONS", {})
    server_binding = options.get("server_side_binding") is True
    raw = psycopg.connect(
        common.conninfo(args.db),
        autocommit=True,
        cursor_factory=psycopg.Cursor if server_binding else psycopg.ClientCursor,
        prepare_threshold=getattr(connection.connection, "prepare_threshold", None),
    )

    def run_raw(symbol: str) -> tuple[float, float]:
        t = CLOCK()
        with raw.cursor() as cur:
            cur.execute(count_sql[0], params_for(count_sql[1], symbol))
            cur.fetchall()
            t1 = CLOCK()
            cur.execute(page_sql[0], params_for(page_sql[1], symbol))
            cur.fetchall()
        return t1 - t, CLOCK() - t1

    def run_api(symbol: str) -> float:
        t = CLOCK()
        r = client.get(QUERY.format(symbol=symbol))
        elapsed = CLOCK() - t
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.content[:300]!r}")
        return elapsed

    rng = random.Random(args.seed + 1)
    for _ in range(args.warmup):
        sym = rng.choice(SYMBOLS)
        run_api(sym)
        run_raw(sym)
    api_lat, raw_lat, raw_count, raw_page = [], [], [], []
    t_start = CLOCK()
    for k in range(args.iterations):
        sym = rng.choice(SYMBOLS)
        if k % 2:
            api_lat.append(run_api(sym))
            c, p = run_raw(sym)
        else:
            c, p = run_raw(sym)
            api_lat.append(run_api(sym))
        raw_count.append(c)
        raw_page.append(p)
        raw_lat.append(c + p)
    wall = CLOCK() - t_start

    plans: dict[str, str] = {}
    mog = psycopg.ClientCursor(raw)
    for label, sym in (("busiest", hot), ("median", median)):
        for name, (sql, params) in (("count", count_sql), ("page", page_sql)):
            literal = mog.mogrify(sql, params_for(params, sym))
            rows = raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + literal).fetchall()
            plans[f"{name} {label} {sym} ({working[sym]} working)"] = "\n".join(r[0] for r in rows)
    plans_sql = {
        "count": mog.mogrify(count_sql[0], params_for(count_sql[1], median)),
        "page": mog.mogrify(page_sql[0], params_for(page_sql[1], median)),
    }
    # last: it VACUUMs the table
    what_if = run_what_if(raw, count_sql, params_for, rng, args.what_if, hot) if args.what_if else {}
    raw.close()

    api = common.latency_summary(api_lat)
    raw_s = common.latency_summary(raw_lat)
    result = {
        "machine": notes,
        "orders": args.orders,
        "working_per_symbol": {"max": working[hot], "median": working[median], "min": working[ranked[-1]]},
        "iterations": args.iterations,
        "wall_seconds": wall,
        "api": api,
        "raw_count_plus_page": raw_s,
        "raw_count": common.latency_summary(raw_count),
        "raw_page": common.latency_summary(raw_page),
        "statements_per_request": len(captured),
        "sql": plans_sql,
        "plans": plans,
        "partial_index_used": {k: "orders_working_symbol_created" in v for k, v in plans.items()},
        "what_if_count": what_if,
    }
    print("\nBlotter query latency (ms), random symbol per iteration")
    common.print_table(
        ["path", "p50", "p90", "p99", "max", "API / raw (p50)"],
        [
            [
                "API GET (DRF, in-process)",
                *(f"{api[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                f"{api['p50_ms'] / raw_s['p50_ms']:.2f}",
            ],
            [
                "raw psycopg COUNT + page",
                *(f"{raw_s[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                "1.00",
            ],
            [
                "  raw COUNT only",
                *(f"{result['raw_count'][k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                "",
            ],
            [
                "  raw page only",
                *(f"{result['raw_page'][k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                "",
            ],
        ],
    )
    print(
        f"\ntarget p99 < 20 ms: {'met' if api['p99_ms'] < 20 else 'NOT met'} (API p99 {api['p99_ms']:.2f} ms)"
    )
    print(f"\nSQL (median symbol):\n{plans_sql['count']}\n\n{plans_sql['page']}")
    for k, v in plans.items():
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {k}\n{v}")
    print(f"\npartial index orders_working_symbol_created used: {result['partial_index_used']}")
    if what_if:
        print("\nWhat if (raw COUNT only, same random symbols, ms):")
        common.print_table(
            ["variant", "p50", "p99", "max"],
            [
                [k, *(f"{v['latency'][q]:.2f}" for q in ("p50_ms", "p99_ms", "max_ms"))]
                for k, v in what_if.items()
            ],
        )
        for k, v in what_if.items():
            print(f"\n--- {k}: EXPLAIN (ANALYZE, BUFFERS), busiest symbol\n{v['plan']}")
    return result


def run_what_if(
    raw: psycopg.Connection[Any],
    count_sql: tuple[str, Any],
    params_for: Any,
    rng: random.Random,
    n: int,
    hot: str,
) -> dict[str, Any]:
    """Alternatives for the COUNT the paginator issues, measured raw (the bench database only).

    - as issued (baseline);
    - single-column status indexes dropped (inside a transaction, rolled back): the planner can
      no longer AND the whole status index into the partial index's bitmap;
    - capped: count(*) over a LIMIT 1001 subquery (a paginator that says "1000+");
    - after VACUUM: the visibility map is set, an index-only scan can count without the heap.
    """
    sql, params = count_sql
    head = 'SELECT COUNT(*) AS "__count" FROM "orders" WHERE'
    capped = (
        sql.replace(head, 'SELECT COUNT(*) FROM (SELECT 1 FROM "orders" WHERE', 1) + " LIMIT 1001) AS capped"
        if sql.startswith(head)
        else None
    )
    status_indexes = [
        r[0]
        for r in raw.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE %s "
            "AND indexdef NOT LIKE %s",
            ["%(status%", "%WHERE%"],
        ).fetchall()
    ]
    symbols = [rng.choice(SYMBOLS) for _ in range(n)]
    mog = psycopg.ClientCursor(raw)

    def measure(query: str) -> dict[str, Any]:
        lat = []
        for sym in symbols:
            t = CLOCK()
            raw.execute(query, params_for(params, sym)).fetchall()
            lat.append(CLOCK() - t)
        plan = raw.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + mog.mogrify(query, params_for(params, hot))
        ).fetchall()
        return {"latency": common.latency_summary(lat), "plan": "\n".join(r[0] for r in plan)}

    out: dict[str, Any] = {"COUNT as issued": measure(sql)}
    if capped:
        out["COUNT capped at 1001 (LIMIT subquery)"] = measure(capped)
    if status_indexes:
        raw.autocommit = False
        try:
            for name in status_indexes:
                raw.execute(f'DROP INDEX "{name}"')
            out[f"COUNT, status indexes dropped ({', '.join(status_indexes)})"] = measure(sql)
        finally:
            raw.rollback()
            raw.autocommit = True
    raw.execute("VACUUM orders")
    out["COUNT after VACUUM (visibility map set)"] = measure(sql)
    return out


if __name__ == "__main__":
    main()
