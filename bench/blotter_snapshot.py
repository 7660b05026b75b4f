"""Opening the blotter at desk scale: the working-set snapshot beside the old paged load.

    .venv/bin/python -m bench.blotter_snapshot [--levels 10000,50000,200000] [--working 10000]
                                                [--users 1,10,30] [--legacy-max 50000]

On a fresh PostgreSQL database (bench/_common.py; BENCH_DB, default oms_bench_snapshot), one
daphne serving the project:

1. COPY `--working` working client orders (any age within 30 days) into `orders`, then, level by
   level, finished orders created 2 to 60 days ago until the table holds each of `--levels`
   orders (the working set stays the same: cost should follow it, not the history). VACUUM
   ANALYZE after each load. Rows are built from `OrderState` through the live `to_api`/`to_row`
   (bench/blotter_query.py's generator).
2. Per level:
   * server: `blotter.snapshot.build()` in this process, cold (median of 3): wall and CPU time,
     NDJSON bytes, gzip bytes;
   * users opening at once over HTTP (threads, `Accept-Encoding: gzip`): each reads the whole
     snapshot; `--users` levels; the seq is bumped before each level so the first request builds
     cold and the others share it (or wait for it). Baseline in the same run: the old page's load,
     every order through GET /api/queries/orders?limit=1000&offset=... (with its COUNT), page after
     page (up to `--legacy-max` orders in the database; at most 10 users beyond 10,000 orders).
     Per level: p50/max seconds per user, and daphne's CPU seconds (from /proc);
   * headless Chromium: time from navigation to `live` with the grid filled, bytes transferred
     (Resource Timing `transferSize`), JS heap (`performance.memory`, precise), for the page
     (`/`) and for the baseline (`/?legacy=1`: every document, paged, as before).
Results: printed as a table and saved to var/bench/blotter_snapshot.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import signal
import statistics
import sys
import threading
import time
import urllib.request
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import _common as common
from bench.blotter import CHROMIUM, start_server
from bench.blotter_query import SYMBOLS, TERMINAL, WORKING, _state

DB = os.environ.get("BENCH_DB", "oms_bench_snapshot")


def load(n: int, *, working: bool, seed: int) -> None:
    """COPY n client orders: working ones (created within 30 days) or finished ones (2-60 days ago)."""
    from oms.orders.repository import ORDER
    from oms.orders.tree import new_id

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    columns = list(ORDER.to_row(_state(rng, "x", "Client", "x", None, "S", now, "New"), {}).keys())
    t0 = time.perf_counter()
    with psycopg.connect(common.conninfo(DB)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY orders ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(n):
                if working:
                    created = now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
                    target = rng.choice([w for w in WORKING if w != "PendingNew"])
                else:
                    created = now - dt.timedelta(seconds=rng.uniform(2 * 86400, 60 * 86400))
                    target = rng.choice(TERMINAL)
                oid = new_id("O") + f"{seed:x}{i:x}"
                s = _state(rng, oid, "Client", oid, None, rng.choice(SYMBOLS), created, target)
                s.time_in_force = "GTC"  # not expired by daphne's end-of-day job during the run
                if s.updated_at > now:
                    s.updated_at = now
                doc = ORDER.to_api(s)
                row = ORDER.to_row(s, doc)
                row["doc"] = Jsonb(doc)
                copy.write_row([row[c] for c in columns])
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE orders")
    print(f"  + {n:,} {'working' if working else 'finished'} orders in {time.perf_counter() - t0:.1f} s")


def bump_seq() -> None:
    """Move the committed seq on (no event row): the server's shared snapshot is then stale."""
    with psycopg.connect(common.conninfo(DB), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO oms_event_sequence (id, last_seq) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET last_seq = oms_event_sequence.last_seq + 1"
        )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads (clock ticks -> s)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(url: str, cookie: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            return len(body), gzip.decompress(body)
        return len(body), body


def open_snapshot(base: str, cookie: str) -> int:
    wire, body = _get(f"{base}/blotter/api/snapshot", cookie)
    assert body.endswith(b"}\n") and b'"type":"end"' in body[-200:], "cut snapshot"
    return wire


def open_legacy(base: str, cookie: str) -> int:
    import json

    wire = 0
    for path in ("orders", "executions", "quote-requests", "quotes"):
        url: str | None = f"{base}/api/queries/{path}?limit=1000&offset=0"
        while url:
            n, body = _get(url, cookie)
            wire += n
            url = json.loads(body)["next"]
    return wire


def users_at_once(fn: Any, base: str, cookie: str, users: int, pid: int) -> dict[str, Any]:
    times: list[float] = []
    wire: list[int] = []
    errors: list[str] = []
    barrier = threading.Barrier(users)

    def one() -> None:
        barrier.wait()
        t = time.perf_counter()
        try:
            wire.append(fn(base, cookie))
        except Exception as exc:
            errors.append(repr(exc))
        times.append(time.perf_counter() - t)

    cpu0 = cpu_seconds(pid)
    threads = [threading.Thread(target=one) for _ in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    return {
        "users": users,
        "p50_s": round(statistics.median(times), 2),
        "max_s": round(times[-1], 2),
        "server_cpu_s": round(cpu_seconds(pid) - cpu0, 2),
        "bytes_per_user": int(statistics.median(wire)) if wire else None,
        "errors": errors[:3],
    }


def browser_open(browser: Any, base: str, cookie: dict[str, str], legacy: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{**cookie, "url": base}])
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(f"{base}/{'?legacy=1' if legacy else ''}#orders")
    page.wait_for_function(
        "() => window.__blotter && window.__blotter.feed.state === 'live' && window.__blotter.grids.orders"
        " && window.__blotter.grids.orders.table.getDataCount() > 0",
        timeout=900_000,
        polling=50,
    )
    live_s = time.perf_counter() - t0
    page.evaluate("() => new Promise(r => setTimeout(r, 100))")
    transferred = page.evaluate(
        "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((s, e) => s + (e.transferSize || 0), 0)"
    )
    heap = page.evaluate("performance.memory.usedJSHeapSize")
    docs = page.evaluate("window.__blotter.store.docs.orders.size")
    # ms since navigation: snapshot request sent, snapshot read, grid created (the page's own marks)
    marks = page.evaluate("window.__blotter.timings")
    context.close()
    return {
        "mode": "legacy paged" if legacy else "snapshot",
        "live_s": round(live_s, 2),
        "transferred_mb": round(transferred / 1e6, 2),
        "heap_mb": round(heap / 1e6, 1),
        "orders_in_page": docs,
        "marks_ms": {k: round(v) for k, v in marks.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="10000,50000,200000")
    parser.add_argument("--working", type=int, default=10_000)
    parser.add_argument("--users", default="1,10,30")
    parser.add_argument("--legacy-max", type=int, default=50_000, help="baseline up to this many orders")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    user_levels = [int(x) for x in args.users.split(",")]
    notes = common.machine_notes()
    common.check_durable()
    common.create_db(DB)
    common.django_setup(DB)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from blotter import snapshot

    user = User.objects.create_user("bench-desk", password="x")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }
    cookie_header = f"{cookie['name']}={cookie['value']}"
    print(f"database {DB}: {args.working:,} working orders")
    load(args.working, working=True, seed=1)
    total = args.working
    # no sharing of a slightly older snapshot: after bump_seq() the first user builds cold, the
    # others wait for that build (single flight) and share it
    os.environ["OMS_BLOTTER_SNAPSHOT_MAX_AGE_MS"] = "0"
    server, port = start_server(DB)
    base = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    pw = browser = None
    try:
        if not args.no_browser:
            from playwright.sync_api import sync_playwright

            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
            pw = sync_playwright().start()
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"],
            )
        for level in levels:
            if level > total:
                load(level - total, working=False, seed=level)
                total = level
            row: dict[str, Any] = {"orders": level, "working": args.working}
            builds = []
            for _ in range(3):
                c0, t0 = time.process_time(), time.perf_counter()
                snap = snapshot.build()
                builds.append((time.perf_counter() - t0, time.process_time() - c0, snap))
            builds.sort(key=lambda b: b[0])
            wall, cpu, snap = builds[1]
            row["server"] = {
                "build_s": round(wall, 3),
                "build_cpu_s": round(cpu, 3),
                "ndjson_mb": round(snap.raw_bytes / 1e6, 2),
                "gzip_mb": round(len(snap.body) / 1e6, 2),
            }
            print(f"{level:,} orders: server build {row['server']}")
            row["http"] = []
            for users in user_levels:
                bump_seq()
                got = users_at_once(open_snapshot, base, cookie_header, users, server.pid)
                row["http"].append({"mode": "snapshot", **got})
                print(f"  snapshot x{users}: {got}")
                # the baseline is slow (377 s for one user at 200,000 orders on a busy machine):
                # several users only up to 50,000 orders, 30 only at 10,000
                several = (users <= 10 and level <= 50_000) or level <= 10_000
                if level <= args.legacy_max and (users == 1 or several):
                    got = users_at_once(open_legacy, base, cookie_header, users, server.pid)
                    row["http"].append({"mode": "legacy paged", **got})
                    print(f"  legacy   x{users}: {got}")
            row["browser"] = []
            if browser is not None:
                bump_seq()
                for legacy in (False, True) if level <= args.legacy_max else (False,):
                    got = browser_open(browser, base, cookie, legacy)
                    row["browser"].append(got)
                    print(f"  browser: {got}")
            results.append(row)
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)
    common.save_result("blotter_snapshot", {"notes": notes, "args": vars(args), "results": results})
    common.print_table(
        ["orders", "mode", "live s", "transferred MB", "heap MB"],
        [
            [r["orders"], b["mode"], b["live_s"], b["transferred_mb"], b["heap_mb"]]
            for r in results
            for b in r["browser"]
        ],
    )
    common.print_table(
        ["orders", "mode", "users", "p50 s", "max s", "daphne CPU s", "bytes/user"],
        [
            [
                r["orders"],
                h["mode"],
                h["users"],
                h["p50_s"],
                h["max_s"],
                h["server_cpu_s"],
                h["bytes_per_user"],
            ]
            for r in results
            for h in r["http"]
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
