"""Keyset (cursor) paging against limit/offset at 1,000,000 orders: the first page and the last.

    .venv/bin/python -m bench.cursor_paging [--orders 1000000] [--limit 1000] [--repeat 7]
                                            [--keep-db] [--reuse-db]

On a PostgreSQL database of its own (BENCH_DB, default oms_bench_paging), `--orders` client orders
are loaded by COPY (10,000 working, the rest finished 2-60 days ago: bench/blotter_snapshot.py's
`load`). Then, through the query API in this process (DRF's APIClient as a desk user: the API's
own work, no HTTP server), for each list (`GET /api/queries/orders` in its default order, and
the same filtered by `status=Filled`):

* **cursor**: `?limit=L&count=false&cursor=`, then every `next` it gives, to the end; each
  page timed. Then the first page and the last full page again, `--repeat` times each;
* **baseline, the same run**: limit/offset, the first page (`offset=0`) and the last full one,
  with the COUNT (the default) and with `count=false`, `--repeat` times each.

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
LISTS = {"orders": "/api/queries/orders?", "orders, status=Filled": "/api/queries/orders?status=Filled&"}


def timed(client: Any, url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    response = client.get(url)
    took = (time.perf_counter() - t0) * 1000
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return took, response.json()


def median_of(client: Any, url: str, repeat: int) -> float:
    return statistics.median(timed(client, url)[0] for _ in range(repeat))


def measure(client: Any, name: str, base: str, limit: int, repeat: int) -> dict[str, Any]:
    # cursor: walk every page
    first_url = f"{base}limit={limit}&count=false&cursor="
    url: str | None = first_url
    pages: list[float] = []
    rows = 0
    last_url = first_url
    t_walk = time.perf_counter()
    while url:
        took, body = timed(client, url)
        pages.append(took)
        rows += len(body["results"])
        assert body["count"] is None
        if len(body["results"]) == limit:  # the last FULL page (a short one would flatter it)
            last_url = url
        url = body["next"]
    walk_s = time.perf_counter() - t_walk
    cursor_first = median_of(client, first_url, repeat)
    cursor_last = median_of(client, last_url, repeat)
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
            "max": round(max(pages), 1),
            "last": round(pages[-1], 1),
        },
        "cursor_first_ms": round(cursor_first, 1),
        "cursor_last_ms": round(cursor_last, 1),
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
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
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
    from django.contrib.auth.models import Group, User
    from rest_framework.test import APIClient

    user, _ = User.objects.get_or_create(username="bench-paging")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = APIClient()
    client.force_authenticate(user)
    results = []
    try:
        for name, base in LISTS.items():
            results.append(measure(client, name, base, args.limit, args.repeat))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            common.drop_db(DB)
    common.print_table(
        ["list", "rows", "pages", "mode", "first page ms", "last page ms", "last / first"],
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
                    r["cursor_last_ms"],
                    r["cursor_ratio"],
                ],
                [
                    r["list"],
                    "",
                    "",
                    "offset (baseline)",
                    r["offset_first_ms"],
                    r["offset_last_ms"],
                    r["offset_ratio"],
                ],
                [
                    r["list"],
                    "",
                    "",
                    "offset, count=false (baseline)",
                    r["offset_nocount_first_ms"],
                    r["offset_nocount_last_ms"],
                    r["offset_nocount_ratio"],
                ],
            )
        ],
    )
    path = common.save_result("cursor_paging", {"notes": notes, "args": vars(args), "results": results})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
