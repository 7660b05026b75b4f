"""The query API's read paths over a few thousand orders: list, detail, events, tree, 404.

    .venv/bin/python -m bench.read_api [--orders 3000] [--iterations 300] [--keep-db] [--reuse-db]

Fills a PostgreSQL bench database through `dispatch` with the write benchmarks' per-order
sequence (bench/workload.py: a client order, a market child, accept, two fills: 10 events per
order), then times, interleaved per iteration and through DRF's APIClient in-process with token
authentication (random order each time):

- orders list: GET /api/queries/orders (newest first, limit 100, with COUNT);
- orders filtered: ?status=Filled&symbol=<one>&ordering=-createdAt&limit=100;
- order detail, order events (5 events of the client order), order tree (client + market);
- executions list, execution detail, execution events;
- unknown id: GET /api/queries/executions/<unknown>/events (404).

Per query: wall-clock latency, this process's CPU time per request (`time.process_time`: the
Python side of DRF + the view, much less disturbed than wall time on a loaded machine; the
database's own time is not in it) and the SQL statements one request issues (deterministic).

Only the contract's URLs are used, so the same script times two commits of the code on the same
database: run it with `--keep-db` on one, then `--reuse-db` on the other (same run, same data).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from typing import Any

from bench import _common as common
from bench import workload

CLOCK = time.perf_counter
CPU = time.process_time


def fill(n: int) -> dict[str, list[str]]:
    from oms.core.dispatch import dispatch

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result = dispatch(topic, body, actor="bench")
        return result.status_code, result.body

    for i in range(n):
        workload.run_order(send, lambda label, s: None, "R", i, CLOCK)
    return ids()


def ids() -> dict[str, list[str]]:
    from executions.models import Execution
    from oms.orders.models import Order

    return {
        "client": list(Order.objects.filter(kind="Client").values_list("order_id", flat=True)),
        "execution": list(Execution.objects.values_list("execution_id", flat=True)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB + "_read_api")
    ap.add_argument("--orders", type=int, default=3000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep-db", action="store_true", help="leave the database for a --reuse-db run")
    ap.add_argument("--reuse-db", action="store_true", help="time an existing database (no fill)")
    ap.add_argument("--name", default="read_api")
    args = ap.parse_args()
    if not args.reuse_db:
        common.create_db(args.db)
    try:
        common.django_setup(args.db, migrate=not args.reuse_db)
        t = CLOCK()
        known = ids() if args.reuse_db else fill(args.orders)
        print(
            f"{len(known['client'])} client orders, {len(known['execution'])} executions ({CLOCK() - t:.1f} s)"
        )
        result = run(args, known)
    finally:
        if not args.keep_db:
            common.drop_db(args.db)
    print("saved", common.save_result(args.name, result))


def run(args: argparse.Namespace, known: dict[str, list[str]]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404 case, every iteration
    user, _ = get_user_model().objects.get_or_create(username="bench-reader", defaults={"is_superuser": True})
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    rng = random.Random(args.seed)

    def order() -> str:
        return rng.choice(known["client"])

    def execution() -> str:
        return rng.choice(known["execution"])

    cases: list[tuple[str, Any, int]] = [
        ("orders list", lambda: "/api/queries/orders", 200),
        (
            "orders filtered",
            lambda: (
                f"/api/queries/orders?status=Filled&symbol={rng.choice(workload.SYMBOLS)}"
                "&ordering=-createdAt&limit=100"
            ),
            200,
        ),
        ("order detail", lambda: f"/api/queries/orders/{order()}", 200),
        ("order events", lambda: f"/api/queries/orders/{order()}/events", 200),
        ("order tree", lambda: f"/api/queries/orders/{order()}/tree", 200),
        ("executions list", lambda: "/api/queries/executions", 200),
        ("execution detail", lambda: f"/api/queries/executions/{execution()}", 200),
        ("execution events", lambda: f"/api/queries/executions/{execution()}/events", 200),
        ("unknown events 404", lambda: "/api/queries/executions/no-such-id/events", 404),
    ]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    statements = {}
    for name, url, _ in cases:
        with CaptureQueriesContext(connection) as captured:
            client.get(url())
        statements[name] = len(captured.captured_queries)
    lat: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for i in range(args.warmup + args.iterations):
        for name, url, want in cases:
            path = url()
            t, c = CLOCK(), CPU()
            response = client.get(path)
            elapsed, used = CLOCK() - t, CPU() - c
            if response.status_code != want:
                raise SystemExit(f"{name}: {path} answered {response.status_code}, expected {want}")
            if i >= args.warmup:
                lat[name].append(elapsed)
                cpu[name].append(used)
    summary = {name: common.latency_summary(values) for name, values in lat.items()}
    cpu_summary = {name: common.latency_summary(values) for name, values in cpu.items()}
    common.print_table(
        ["query", "SQL", "wall p50 ms", "wall p99 ms", "CPU p50 ms", "CPU mean ms"],
        [
            [
                name,
                statements[name],
                f"{s['p50_ms']:.2f}",
                f"{s['p99_ms']:.2f}",
                f"{cpu_summary[name]['p50_ms']:.2f}",
                f"{cpu_summary[name]['mean_ms']:.2f}",
            ]
            for name, s in summary.items()
        ],
    )
    return {
        "orders": len(known["client"]),
        "iterations": args.iterations,
        "statements": statements,
        "latency": summary,
        "cpu": cpu_summary,
    }


if __name__ == "__main__":
    main()
