"""Keyset (cursor) paging against limit/offset at 1,000,000 orders: the first page and the last.

    .venv/bin/python -m bench.cursor_paging [--orders 1000000] [--executions 1000000] [--limit 1000]
                                            [--repeat 7] [--lists orders,...] [--http-pages 300]
                                            [--http-rounds 3] [--keep-db] [--reuse-db]

On a PostgreSQL database of its own (BENCH_DB, default oms_bench_paging), `--orders` client orders
are loaded by COPY (10,000 working, the rest finished 2-60 days ago: bench/blotter_snapshot.py's
`load`), and `--executions` executions created 0-60 days ago. Then, through the query API in
this process (DRF's APIClient as a desk user: the API's own work, no HTTP server), for each list
(`GET /api/queries/orders` in its default order, the same filtered by `status=Filled`, and
`GET /api/queries/executions`):

* **cursor**: `?limit=L&count=false&cursor=`, then every `next` it gives, to the end; each
  page timed. Then the first page, the middle one (the `next` taken halfway through the walk)
  and the last full page again, `--repeat` times each;
* **baseline, the same run**: limit/offset, the first page (`offset=0`) and the last full one,
  with the COUNT (the default) and with `count=false`, `--repeat` times each;
* **through the server** (`--http-pages N`, `--http-rounds R`): uvicorn as scripts/serve.sh
  runs it, on this database, as the code has it and as two baselines, in turn in each round:
  OMS_GC_FREEZE=0, and that without ReleaseRenderedResponseMiddleware (bench/settings_before_gc.py:
  the code before section 45). A token-authenticated client follows `next` from the first
  cursor page for N pages; each page timed (p50, p99, max, and the pages slower than twice the
  p50: the full garbage collections that stop the process);
* **the middle page's statement, and the one at 90% of the walk, raw** (psycopg through Django's
  connection, no API): the keyset predicate as the code has it (`c0 <= v0 AND NOT (c0 = v0 AND
  NOT c1 < v1)`) beside two baselines, `c0 <= v0 AND (c0 < v0 OR (c0 = v0 AND c1 < v1))` and
  the ORs alone (the code before section 45), `--repeat` times each, on the cursor's key.

Results: printed, and var/bench/cursor_paging.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("BENCH_DB", "oms_bench_paging")

from bench import _common as common

DB = os.environ["BENCH_DB"]
LISTS = {
    "orders": "/api/queries/orders?",
    "orders status=Filled": "/api/queries/orders?status=Filled&",
    "executions": "/api/queries/executions?",
}


def load_executions(n: int, seed: int) -> None:
    """COPY n allocated executions (fills of the loaded orders' shape) created 0-60 days ago."""
    import datetime as dt
    import random
    from decimal import Decimal

    from executions.enums import ExecStatus
    from executions.repository import EXECUTION
    from executions.state import ExecutionState
    from oms.orders.tree import new_id

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)

    def state(i: int) -> ExecutionState:
        created = now - dt.timedelta(seconds=rng.uniform(0, 60 * 86400))
        return ExecutionState(
            execution_id=new_id("E") + f"{seed:x}{i:x}",
            exec_id=f"X{seed:x}-{i:x}",
            order_id=new_id("O"),
            venue="SIM",
            last_qty=Decimal(rng.randint(1, 100)),
            last_px=Decimal(rng.randint(9000, 11000)) / 100,
            status=ExecStatus.ALLOCATED,
            version=1,
            transact_time=created,
            created_at=created,
            updated_at=created,
        )

    t0 = time.perf_counter()
    common.copy_states(DB, EXECUTION, (state(i) for i in range(n)))
    print(f"  + {n:,} executions in {time.perf_counter() - t0:.1f} s")


def timed(client: Any, url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    response = client.get(url)
    took = (time.perf_counter() - t0) * 1000
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return took, response.json()


def median_of(client: Any, url: str, repeat: int) -> float:
    return statistics.median(timed(client, url)[0] for _ in range(repeat))


# the keyset predicate three ways, on (created_at DESC, id DESC): section 45
PREDICATES = {
    "the code: range AND NOT (equal AND NOT after)": (
        "created_at <= %(c)s AND NOT (created_at = %(c)s AND NOT ({id} < %(i)s))"
    ),
    "range AND the ORs (section 45's first step)": (
        "created_at <= %(c)s AND (created_at < %(c)s OR (created_at = %(c)s AND {id} < %(i)s))"
    ),
    "the ORs alone (before section 45)": "(created_at < %(c)s OR (created_at = %(c)s AND {id} < %(i)s))",
}


def raw_page(url: str, limit: int, repeat: int) -> dict[str, float]:
    """A cursor page's SELECT by raw SQL (psycopg through Django's connection), with each of
    PREDICATES on the cursor's key: median ms of `repeat` runs each."""
    from urllib.parse import parse_qs, urlparse

    from django.db import connection

    from oms.api.pagination import decode_cursor

    path = urlparse(url)
    query = parse_qs(path.query)
    table, id_column = ("executions", "execution_id") if "executions" in path.path else ("orders", "order_id")
    (created, row_id), _ = decode_cursor(query["cursor"][0], ["-created_at", f"-{id_column}"])
    status = "AND status = %(status)s " if "status" in query else ""
    params = {"c": created, "i": row_id, "status": query.get("status", [""])[0], "n": limit + 1}
    timings = {}
    rows: set[int] = set()
    for name, predicate in PREDICATES.items():
        sql = (
            f"SELECT doc FROM {table} WHERE {predicate.format(id=id_column)} {status}"
            f"ORDER BY created_at DESC, {id_column} DESC LIMIT %(n)s"
        )
        runs = []
        with connection.cursor() as cursor:
            for _ in range(repeat):
                t0 = time.perf_counter()
                cursor.execute(sql, params)
                rows.add(len(cursor.fetchall()))
                runs.append((time.perf_counter() - t0) * 1000)
        timings[name] = round(statistics.median(runs), 1)
    assert len(rows) == 1, rows  # the three predicates are one
    return timings


def http_walk(port: int, token: str, pages: int, limit: int) -> list[float]:
    import json
    import urllib.request

    url: str | None = f"http://127.0.0.1:{port}/api/queries/orders?limit={limit}&count=false&cursor="
    times = []
    for _ in range(pages):
        if url is None:
            break
        request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        times.append((time.perf_counter() - t0) * 1000)
        url = json.loads(body)["next"]
    return times


# the server's configurations: the code, and the two baselines (section 45)
SERVERS = {
    "the code (gc.freeze + cycles released)": {"OMS_GC_FREEZE": "1"},
    "cycles released, no gc.freeze": {"OMS_GC_FREEZE": "0"},
    "neither (before section 45)": {
        "OMS_GC_FREEZE": "0",
        "DJANGO_SETTINGS_MODULE": "bench.settings_before_gc",
    },
}


def http_walks(token: str, pages: int, rounds: int, limit: int) -> list[dict[str, Any]]:
    from bench.blotter_fanout import start_server, stop_server

    walks: dict[str, list[float]] = {name: [] for name in SERVERS}
    for r in range(rounds):
        for name in list(SERVERS) if r % 2 == 0 else list(SERVERS)[::-1]:
            procs, port = start_server(
                "uvicorn", "memory", "", 20, 1, False, 50, db=DB, extra_env=SERVERS[name]
            )
            try:
                http_walk(port, token, 3, limit)  # connections, caches: not the subject
                walks[name] += http_walk(port, token, pages, limit)
            finally:
                stop_server(procs)
    out = []
    for name, times in walks.items():
        ordered = sorted(times)
        p50 = statistics.median(ordered)
        out.append(
            {
                "server": name,
                "pages": len(times),
                "p50_ms": round(p50, 1),
                "p99_ms": round(common.quantile(ordered, 0.99), 1),
                "max_ms": round(ordered[-1], 1),
                "over_2x_p50": sum(1 for t in times if t > 2 * p50),
            }
        )
        print(out[-1], flush=True)
    return out


def measure(client: Any, name: str, base: str, limit: int, repeat: int) -> dict[str, Any]:
    # cursor: walk every page
    first_url = f"{base}limit={limit}&count=false&cursor="
    url: str | None = first_url
    pages: list[float] = []
    rows = 0
    last_url = first_url
    urls: list[str] = []
    t_walk = time.perf_counter()
    while url:
        took, body = timed(client, url)
        pages.append(took)
        urls.append(url)
        rows += len(body["results"])
        assert body["count"] is None
        if len(body["results"]) == limit:  # the last FULL page (a short one would flatter it)
            last_url = url
        url = body["next"]
    walk_s = time.perf_counter() - t_walk
    cursor_first = median_of(client, first_url, repeat)
    cursor_last = median_of(client, last_url, repeat)
    mid_url = urls[len(urls) // 2]
    cursor_mid = median_of(client, mid_url, repeat)
    # raw SQL at the middle page and at 90% (near the end of a filtered list the planner's
    # estimate is what matters)
    raw = {
        "middle": raw_page(mid_url, limit, repeat),
        "90%": raw_page(urls[len(urls) * 9 // 10], limit, repeat),
    }
    # baseline: limit/offset, same list
    _, counted = timed(client, f"{base}limit=1")
    total = counted["count"]
    assert total == rows, (total, rows)
    last_offset = max(0, (total // limit - 1) * limit)  # the last full page, as for the cursor
    offset_first = median_of(client, f"{base}limit={limit}&offset=0", repeat)
    offset_last = median_of(client, f"{base}limit={limit}&offset={last_offset}", repeat)
    nocount_first = median_of(client, f"{base}limit={limit}&offset=0&count=false", repeat)
    nocount_last = median_of(client, f"{base}limit={limit}&offset={last_offset}&count=false", repeat)
    result = {
        "list": name,
        "rows": rows,
        "pages": len(pages),
        "walk_s": round(walk_s, 1),
        "walk_page_ms": {
            "first": round(pages[0], 1),
            "p50": round(statistics.median(pages), 1),
            "p99": round(common.quantile(sorted(pages), 0.99), 1),
            "max": round(max(pages), 1),
            "last": round(pages[-1], 1),
            # where the slow ones fall: (page number, ms) of the ten slowest
            "slowest": [(i, round(ms, 1)) for ms, i in sorted(((ms, i) for i, ms in enumerate(pages)))[-10:]],
        },
        "cursor_first_ms": round(cursor_first, 1),
        "cursor_mid_ms": round(cursor_mid, 1),
        "cursor_last_ms": round(cursor_last, 1),
        "raw_ms": raw,
        "cursor_ratio": round(cursor_last / cursor_first, 2),
        "offset_first_ms": round(offset_first, 1),
        "offset_last_ms": round(offset_last, 1),
        "offset_ratio": round(offset_last / offset_first, 2),
        "offset_nocount_first_ms": round(nocount_first, 1),
        "offset_nocount_last_ms": round(nocount_last, 1),
        "offset_nocount_ratio": round(nocount_last / nocount_first, 2),
    }
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--working", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--http-pages", type=int, default=300, help="pages per server walk (0: none)")
    parser.add_argument("--http-rounds", type=int, default=3)
    parser.add_argument("--lists", default=",".join(LISTS), help="comma-separated, of: " + ", ".join(LISTS))
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true", help="the database --keep-db left")
    args = parser.parse_args()
    notes = common.machine_notes()
    if not args.reuse_db:
        common.check_durable()
        common.create_db(DB)
    common.django_setup(DB, migrate=not args.reuse_db)
    from bench.blotter_snapshot import load

    if not args.reuse_db:
        load(args.working, working=True, seed=1)
        load(args.orders - args.working, working=False, seed=2)
    from executions.models import Execution

    if not Execution.objects.exists():
        load_executions(args.executions, seed=3)
    from django.contrib.auth.models import Group, User
    from rest_framework.test import APIClient

    user, _ = User.objects.get_or_create(username="bench-paging")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = APIClient()
    client.force_authenticate(user)
    results = []
    try:
        for name in args.lists.split(","):
            results.append(measure(client, name, LISTS[name], args.limit, args.repeat))
        if args.http_pages:
            from rest_framework.authtoken.models import Token

            token = Token.objects.get_or_create(user=user)[0].key
            walks = http_walks(token, args.http_pages, args.http_rounds, args.limit)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            common.drop_db(DB)
    common.print_table(
        ["list", "rows", "pages", "mode", "first page ms", "middle page ms", "last page ms", "last / first"],
        [
            row
            for r in results
            for row in (
                [
                    r["list"],
                    r["rows"],
                    r["pages"],
                    "cursor",
                    r["cursor_first_ms"],
                    r["cursor_mid_ms"],
                    r["cursor_last_ms"],
                    r["cursor_ratio"],
                ],
                [
                    r["list"],
                    "",
                    "",
                    "offset (baseline)",
                    r["offset_first_ms"],
                    "",
                    r["offset_last_ms"],
                    r["offset_ratio"],
                ],
                [
                    r["list"],
                    "",
                    "",
                    "offset, count=false (baseline)",
                    r["offset_nocount_first_ms"],
                    "",
                    r["offset_nocount_last_ms"],
                    r["offset_nocount_ratio"],
                ],
            )
        ],
    )
    common.print_table(
        ["list", "predicate (raw SQL)", *(f"{where} page ms" for where in ("middle", "90%"))],
        [
            [r["list"], name, r["raw_ms"]["middle"][name], r["raw_ms"]["90%"][name]]
            for r in results
            for name in PREDICATES
        ],
    )
    if args.http_pages:
        common.print_table(
            ["server", "pages", "p50 ms", "p99 ms", "max ms", "pages > 2x p50"],
            [
                [w["server"], w["pages"], w["p50_ms"], w["p99_ms"], w["max_ms"], w["over_2x_p50"]]
                for w in walks
            ],
        )
    path = common.save_result(
        "cursor_paging",
        {"notes": notes, "args": vars(args), "results": results, "http": walks if args.http_pages else []},
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
