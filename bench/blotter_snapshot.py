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
   * `--baseline-tree PATH` (a checkout of an earlier commit, e.g. `git archive <sha> | tar -x -C
     PATH`): a second daphne serves that tree on the same database, and the browser figures are
     taken for both, interleaved (`--repeat` times each, the median): before/after in one run;
   * `--browser-users 1,10,30`: that many Chromium pages (one context each, one browser) told to
     navigate at once; each page's time from its navigation to live with its grid filled (polled
     every 50 ms), for the page and for the baseline tree (or `?legacy=1` without one).
`--dbs A,B --shared`: each browser open is also taken once more right after an HTTP read of the
snapshot, so the page shares that build instead of waiting for its own (what a page opening after
another desk's open, within the cache's age and lag, gets).
`--keep-db` keeps the database for `--reuse-db` (the 1,000,000-order load takes minutes).
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
from collections.abc import Iterator
from typing import Any

import psycopg

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

    def states() -> Iterator[Any]:
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
            yield s

    t0 = time.perf_counter()
    common.copy_states(DB, ORDER, states())
    print(f"  + {n:,} {'working' if working else 'finished'} orders in {time.perf_counter() - t0:.1f} s")


def bump_seq(db: str = DB) -> None:
    """Move the committed seq on (no event row): the server's shared snapshot is then stale."""
    with psycopg.connect(common.conninfo(db), autocommit=True) as conn:
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


LIVE_JS = (
    "() => window.__blotter && window.__blotter.feed.state === 'live' && window.__blotter.grids.orders"
    " && window.__blotter.grids.orders.table.getDataCount() > 0"
)


def users_in_browser(
    browser: Any, base: str, cookie: dict[str, str], users: int, query: str = ""
) -> dict[str, Any]:
    """`users` pages told to navigate at once; each one's seconds from its navigation to live."""
    contexts = [browser.new_context(viewport={"width": 1600, "height": 900}) for _ in range(users)]
    pages = []
    for context in contexts:
        context.add_cookies([{**cookie, "url": base}])
        page = context.new_page()
        page.goto("about:blank")
        pages.append(page)
    started: list[float] = []
    for page in pages:  # location.href returns at once: every page navigates concurrently
        started.append(time.perf_counter())
        page.evaluate("url => { location.href = url; }", f"{base}/{query}#orders")
    live: list[float | None] = [None] * users
    deadline = time.perf_counter() + 600
    while None in live and time.perf_counter() < deadline:
        for k, page in enumerate(pages):
            if live[k] is not None:
                continue
            try:
                if page.evaluate(LIVE_JS):
                    live[k] = time.perf_counter() - started[k]
            except Exception:  # mid-navigation: the old document's context is gone
                pass
        time.sleep(0.05)
    heaps = []
    for page in pages:
        try:
            heaps.append(page.evaluate("performance.memory.usedJSHeapSize") / 1e6)
        except Exception:
            pass
    for context in contexts:
        context.close()
    times = sorted(t for t in live if t is not None)
    return {
        "users": users,
        "p50_s": round(statistics.median(times), 2) if times else None,
        "max_s": round(times[-1], 2) if times else None,
        "not_live": users - len(times),
        "heap_mb_p50": round(statistics.median(heaps), 1) if heaps else None,
    }


def browser_open(browser: Any, base: str, cookie: dict[str, str], legacy: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{**cookie, "url": base}])
    page = context.new_page()
    # the renderer's main-thread busy time (CPU, not wall): what the page itself costs, much less
    # moved by a loaded machine than the wall time
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    t0 = time.perf_counter()
    page.goto(f"{base}/{'?legacy=1' if legacy else ''}#orders")
    page.wait_for_function(LIVE_JS, timeout=900_000, polling=50)
    live_s = time.perf_counter() - t0
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    page.evaluate("() => new Promise(r => setTimeout(r, 100))")
    transferred = page.evaluate(
        "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((s, e) => s + (e.transferSize || 0), 0)"
    )
    heap = page.evaluate("performance.memory.usedJSHeapSize")
    # the snapshot's request as the browser saw it (ms since navigation) and the server's build
    # (Server-Timing: its wall time, and whether this request built it or shared another's)
    snapshot_request = page.evaluate(
        "() => performance.getEntriesByType('resource').filter(e => e.name.includes('/blotter/api/snapshot'))"
        ".map(e => ({start: e.startTime, firstByte: e.responseStart, end: e.responseEnd,"
        " bytes: e.transferSize, server: e.serverTiming.map(t => `${t.description} ${t.duration}`).join()}))"
    )
    docs = page.evaluate("window.__blotter.store.docs.orders.size")
    # ms since navigation: snapshot request sent, snapshot read, grid created, table built, live
    # (the page's own marks)
    marks = page.evaluate(
        "({...window.__blotter.timings, ...Object.fromEntries(performance.getEntriesByType('mark')"
        ".map(m => [m.name.replace('blotter:', ''), m.startTime]))})"
    )
    context.close()
    return {
        "mode": "legacy paged" if legacy else "snapshot",
        "live_s": round(live_s, 2),
        "transferred_mb": round(transferred / 1e6, 2),
        "heap_mb": round(heap / 1e6, 1),
        "orders_in_page": docs,
        "marks_ms": {k: round(v) for k, v in marks.items()},
        "snapshot_request": [
            {**{k: round(v) if isinstance(v, float) else v for k, v in r.items()}} for r in snapshot_request
        ],
        "main_thread_ms": {
            k: round(metrics.get(f"{k}Duration", 0) * 1000)
            for k in ("Task", "Script", "Layout", "RecalcStyle")
        },
    }


def use_db(name: str) -> None:
    """Point this process's Django connection at another of the bench databases (`--dbs`)."""
    from django.db import connection

    connection.close()
    if connection.vendor == "postgresql":
        connection.close_pool()  # the pool's connections are to the other database
    connection.settings_dict["NAME"] = name


def session_cookie() -> dict[str, str]:
    """A logged-in desk user's session cookie on the current database."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user = User.objects.filter(username="bench-desk").first() or User.objects.create_user(
        "bench-desk", password="x"
    )
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def server_builds(snapshot: Any) -> dict[str, Any]:
    """Three cold builds in this process (median): wall, Python CPU, NDJSON and gzip bytes."""
    builds = []
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        snap = snapshot.build()
        builds.append((time.perf_counter() - t0, time.process_time() - c0, snap))
    builds.sort(key=lambda b: b[0])
    wall, cpu, snap = builds[1]
    return {
        "build_s": round(wall, 3),
        "build_s_all": [round(b[0], 3) for b in builds],
        "build_cpu_s": round(cpu, 3),
        "ndjson_mb": round(snap.raw_bytes / 1e6, 2),
        "gzip_mb": round(len(snap.body) / 1e6, 2),
    }


def main_dbs(args: argparse.Namespace) -> None:
    """`--dbs A,B`: databases an earlier `--keep-db` run left (e.g. 10,000 and 1,000,000 orders
    with the same 10,000 working ones), measured in one run: a daphne per database, every
    measure taken for each database in turn (interleaved), so both see the same machine load."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the daphnes
    notes = common.machine_notes()
    common.check_durable()
    dbs = args.dbs.split(",")
    for name in dbs:
        if not common.db_exists(name):
            sys.exit(f"{name}: no such database (run with --keep-db first)")
    common.django_setup(dbs[0])
    from blotter import snapshot
    from oms.orders.models import Order

    os.environ["OMS_BLOTTER_SNAPSHOT_MAX_AGE_MS"] = "0"
    cookies: dict[str, dict[str, str]] = {}
    sizes: dict[str, int] = {}
    servers: dict[str, tuple[Any, str]] = {}
    results: dict[str, dict[str, Any]] = {}
    pw = browser = None
    loads: list[tuple[float, float, float]] = []
    try:
        for name in dbs:
            use_db(name)
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            cookies[name] = session_cookie()
            sizes[name] = Order.objects.count()
            proc, port = start_server(name)
            servers[name] = (proc, f"http://127.0.0.1:{port}")
            results[name] = {
                "db": name,
                "orders": sizes[name],
                "tree": "this",
                "server": [],
                "http": [],
                "browser": [],
            }
            if args.baseline_tree:  # the same database served by the earlier commit's tree
                proc, port = start_server(name, cwd=args.baseline_tree)
                servers[f"{name} baseline"] = (proc, f"http://127.0.0.1:{port}")
                results[f"{name} baseline"] = {**results[name], "tree": "baseline", "http": [], "browser": []}
                results[f"{name} baseline"]["server"] = []
            print(f"{name}: {sizes[name]:,} orders")
        loads.append(os.getloadavg())
        for _ in range(args.repeat):  # the in-process build, interleaved
            for name in dbs:
                use_db(name)
                results[name]["server"].append(server_builds(snapshot))
                print(f"  {name} build: {results[name]['server'][-1]}")
        loads.append(os.getloadavg())
        for users in [] if args.no_http else [int(x) for x in args.users.split(",")]:
            for key in servers:
                name = results[key]["db"]
                proc, base = servers[key]
                bump_seq(name)
                cookie = cookies[name]
                got = users_at_once(
                    open_snapshot, base, f"{cookie['name']}={cookie['value']}", users, proc.pid
                )
                results[key]["http"].append(got)
                print(f"  {key} snapshot x{users}: {got}")
        loads.append(os.getloadavg())
        if not args.no_browser:
            from playwright.sync_api import sync_playwright

            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
            pw = sync_playwright().start()
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"],
            )
            for _ in range(args.repeat):
                for key in servers:
                    name = results[key]["db"]
                    bump_seq(name)  # every open builds its snapshot cold
                    got = browser_open(browser, servers[key][1], cookies[name], False)
                    results[key]["browser"].append(got)
                    print(f"  {key} browser: {got}")
                    if args.shared:  # the snapshot built just before (by another page): shared
                        cookie = cookies[name]
                        open_snapshot(servers[key][1], f"{cookie['name']}={cookie['value']}")
                        got = browser_open(browser, servers[key][1], cookie, False)
                        results[key].setdefault("browser_shared", []).append(got)
                        print(f"  {key} browser (shared snapshot): {got}")
            loads.append(os.getloadavg())
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        for proc, _ in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        from django.db import connections

        connections.close_all()
    common.save_result(
        "blotter_snapshot_dbs", {"notes": notes, "args": vars(args), "loadavg": loads, "results": results}
    )
    print("load average (1, 5, 15 min) at each phase:", loads)
    print_dbs(results)


def print_dbs(results: dict[str, dict[str, Any]]) -> None:
    """The tables of a `--dbs` run (also: `print_dbs(json.load(...)["results"])` on a saved one)."""
    rows = []
    for r, kind in [(r, kind) for r in results.values() for kind in ("browser", "browser_shared")]:
        if kind not in r:
            continue
        builds = sorted(b["build_s"] for b in r["server"])
        cpus = sorted(b["build_cpu_s"] for b in r["server"])
        opens = sorted(r[kind], key=lambda g: g["live_s"])
        median = opens[len(opens) // 2] if opens else None
        rows.append(
            [
                f"{r['orders']:,}",
                r["tree"] + (" (shared snapshot)" if kind == "browser_shared" else ""),
                statistics.median(builds) if builds else "-",
                statistics.median(cpus) if cpus else "-",
                median["live_s"] if median else "-",
                " / ".join(str(g["live_s"]) for g in opens),
                statistics.median(g["main_thread_ms"]["Task"] for g in opens) if opens else "-",
                median["transferred_mb"] if median else "-",
                median["heap_mb"] if median else "-",
            ]
        )
    common.print_table(
        [
            "orders",
            "tree",
            "build s",
            "build CPU s",
            "live s (median)",
            "every open",
            "main thread ms",
            "MB",
            "heap MB",
        ],
        rows,
    )
    common.print_table(
        ["orders", "tree", "users", "p50 s", "max s", "daphne CPU s", "bytes/user"],
        [
            [
                f"{r['orders']:,}",
                r["tree"],
                h["users"],
                h["p50_s"],
                h["max_s"],
                h["server_cpu_s"],
                h["bytes_per_user"],
            ]
            for r in results.values()
            for h in r["http"]
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="10000,50000,200000")
    parser.add_argument("--working", type=int, default=10_000)
    parser.add_argument("--users", default="1,10,30")
    parser.add_argument("--legacy-max", type=int, default=50_000, help="baseline up to this many orders")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP users")
    parser.add_argument("--baseline-tree", help="a checkout of the commit to compare with (browser)")
    parser.add_argument("--repeat", type=int, default=1, help="browser opens per page (median)")
    parser.add_argument(
        "--shared", action="store_true", help="--dbs: also open after a build (the snapshot shared)"
    )
    parser.add_argument("--browser-users", default="", help="e.g. 1,10,30: pages opening at once")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true", help="the database --keep-db left")
    parser.add_argument("--dbs", help="databases --keep-db left, measured in turn in one run (see main_dbs)")
    args = parser.parse_args()
    if args.dbs:
        main_dbs(args)
        return
    levels = [int(x) for x in args.levels.split(",")]
    user_levels = [int(x) for x in args.users.split(",")]
    notes = common.machine_notes()
    common.check_durable()
    reuse = args.reuse_db and common.db_exists(DB)
    if not reuse:
        common.create_db(DB)
    common.django_setup(DB)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from blotter import snapshot

    user = User.objects.filter(username="bench-desk").first() or User.objects.create_user(
        "bench-desk", password="x"
    )
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }
    cookie_header = f"{cookie['name']}={cookie['value']}"
    print(f"database {DB}: {args.working:,} working orders")
    from oms.orders.models import Order

    total = Order.objects.count() if reuse else 0
    if not reuse:
        load(args.working, working=True, seed=1)
        total = args.working
    # no sharing of a slightly older snapshot: after bump_seq() the first user builds cold, the
    # others wait for that build (single flight) and share it
    os.environ["OMS_BLOTTER_SNAPSHOT_MAX_AGE_MS"] = "0"
    server, port = start_server(DB)
    base = f"http://127.0.0.1:{port}"
    baseline = baseline_base = None
    if args.baseline_tree:
        baseline, baseline_port = start_server(DB, cwd=args.baseline_tree)
        baseline_base = f"http://127.0.0.1:{baseline_port}"
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
            for users in [] if args.no_http else user_levels:
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
            row["browser_users"] = []
            if browser is not None:
                bump_seq()
                pages: list[tuple[str, str, bool]] = [("snapshot", base, False)]
                if baseline_base:
                    pages.append(("baseline tree", baseline_base, False))
                if level <= args.legacy_max:
                    pages.append(("legacy paged", base, True))
                runs: dict[str, list[dict[str, Any]]] = {}
                for _ in range(args.repeat):  # interleaved: the machine's load hits both alike
                    for mode, url, legacy in pages:
                        bump_seq()  # every open builds its snapshot cold
                        got = browser_open(browser, url, cookie, legacy)
                        runs.setdefault(mode, []).append(got)
                        print(f"  browser {mode}: {got}")
                for mode, got_list in runs.items():
                    got_list.sort(key=lambda g: g["live_s"])
                    median = {**got_list[len(got_list) // 2], "mode": mode, "runs": len(got_list)}
                    median["main_thread_ms"] = {  # each figure's own median
                        k: statistics.median(g["main_thread_ms"][k] for g in got_list)
                        for k in got_list[0]["main_thread_ms"]
                    }
                    median["live_s_all"] = [g["live_s"] for g in got_list]
                    row["browser"].append(median)
                for users in [int(x) for x in args.browser_users.split(",") if x]:
                    for mode, url, query in (
                        ("snapshot", base, ""),
                        ("baseline tree", baseline_base, "")
                        if baseline_base
                        else ("legacy paged", base, "?legacy=1"),
                    ):
                        if url is None:
                            continue
                        bump_seq()
                        got = {"mode": mode, **users_in_browser(browser, url, cookie, users, query)}
                        row["browser_users"].append(got)
                        print(f"  browser x{users} {mode}: {got}")
            results.append(row)
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        for proc in (server, baseline):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            common.drop_db(DB)
    common.save_result("blotter_snapshot", {"notes": notes, "args": vars(args), "results": results})
    common.print_table(
        ["orders", "mode", "live s", "main thread busy ms", "script ms", "transferred MB", "heap MB"],
        [
            [
                r["orders"],
                b["mode"],
                b["live_s"],
                b["main_thread_ms"]["Task"],
                b["main_thread_ms"]["Script"],
                b["transferred_mb"],
                b["heap_mb"],
            ]
            for r in results
            for b in r["browser"]
        ],
    )
    common.print_table(
        ["orders", "mode", "pages at once", "p50 live s", "max live s", "not live", "heap MB p50"],
        [
            [r["orders"], b["mode"], b["users"], b["p50_s"], b["max_s"], b["not_live"], b["heap_mb_p50"]]
            for r in results
            for b in r["browser_users"]
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
    main()
