"""The pre-trade read's one statement on the server: the UNION vs `rules_pretrade_read` (issue 10).

    .venv/bin/python -m bench.pretrade_read [--pairs 1000] [--rules 100] [--n 500] [--db NAME]

A new order at a venue sends the reference version, its book, its venue's row and the SAFE modes
in force as one statement (rules.pretrade.prefetch). The connection runs with
plan_cache_mode=force_custom_plan (oms/settings), so the UNION statement (SQLite's, and
PostgreSQL's before rules/migrations/0010) is planned on every create; the function call's inner
statement keeps a generic plan. On bench.controls' data (same setup: 1,000 limit pairs, their
books, 100 rules), interleaved, one connection with the application's options, the same order
scopes for both:

- `EXPLAIN (ANALYZE, FORMAT JSON)`: the server's planning and execution time of each statement
  (the function's inner statement is planned once per session: its planning falls in the first
  execution, which is a warm-up here);
- the round trip as the client sees it: `execute` + `fetchall` under `time.perf_counter()`.

Medians over `--n` executions of each. The UNION is the baseline of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_pretrade_read"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--n", type=int, default=500, help="executions of each statement")
    parser.add_argument("--db", default=DB)
    args = parser.parse_args()
    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)


def run(args: argparse.Namespace) -> None:
    import psycopg
    from django.conf import settings

    from bench.controls import setup
    from rules import reference
    from rules.controls import (
        IN_FORCE_SQL,
        READ_WITH_IN_FORCE_SQL,
        in_force_params,
        read_with_in_force_params,
    )

    symbols, accounts = setup(args.pairs, args.rules, min(10, args.rules), throttle=False)
    options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    union_sql = f"{reference._READ_AT_VENUE} UNION ALL {IN_FORCE_SQL}"

    def statements(i: int) -> dict[str, tuple[str, list[Any]]]:
        account, symbol = accounts[i % len(accounts)], symbols[i % len(symbols)]
        return {
            "union": (union_sql, ["SIM", symbol, *in_force_params("SIM", account, symbol)]),
            "function": (READ_WITH_IN_FORCE_SQL, read_with_in_force_params("SIM", account, symbol)),
        }

    plan: dict[str, list[float]] = {"union": [], "function": []}
    execute: dict[str, list[float]] = {"union": [], "function": []}
    trip: dict[str, list[float]] = {"union": [], "function": []}
    with psycopg.connect(common.conninfo(args.db), options=options, autocommit=True) as conn:
        for query, params in statements(0).values():  # warm-up: the function's plan, the caches
            for _ in range(10):
                conn.execute(query, params).fetchall()
        for i in range(args.n):
            # alternate which goes first, so neither always follows the other's cache effects
            order = ["union", "function"] if i % 2 == 0 else ["function", "union"]
            for name in order:
                query, params = statements(i)[name]
                row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", params).fetchone()
                assert row is not None
                doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
                plan[name].append(doc[0]["Planning Time"])
                execute[name].append(doc[0]["Execution Time"])
                t0 = time.perf_counter()
                rows = conn.execute(query, params).fetchall()
                trip[name].append((time.perf_counter() - t0) * 1000)
                assert any(r[0] == 0 for r in rows)  # the version row: both answer the read
    print(f"plan_cache_mode options: {options!r}; {args.n} executions of each, interleaved")
    for name in ("union", "function"):
        print(
            f"{name:>8}: server planning {statistics.median(plan[name]):.3f} ms, "
            f"execution {statistics.median(execute[name]):.3f} ms; "
            f"client round trip p50 {statistics.median(trip[name]):.3f} ms"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
