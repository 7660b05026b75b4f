"""The live blotter under load, in headless Chromium: commit -> cell latency, drops, memory.

    .venv/bin/python -m bench.blotter [--orders 10000] [--rate 1000] [--seconds 30] [--writers 2]

On a fresh PostgreSQL database (bench/_common.py) with one daphne serving the project, its event
publisher in-process (the embedded default's channel layer):
1. loads `--orders` orders through `dispatch` (half client orders, each with one accepted market
   order at the MANUAL venue), in parallel writer processes;
2. opens the blotter (`/?bench=1`, orders view, tree mode) logged in as a desk user, waits for the
   snapshot, reads the page's JS heap (`performance.memory`, precise);
3. streams fills for `--seconds` from `--writers` processes, paced to `--rate` order updates/s
   in total (one fill updates two orders: the market order and its client order). Each writer
   records the wall-clock time right after each commit with the market order's new version;
   the page logs the wall-clock time of the animation frame after each coalesced grid update
   with the (orderId, version) pairs it applied. Latency of a commit = first logged frame that
   shows that order at that version or later;
4. waits for the page to catch up, then checks that it equals the query API (every order's
   version in the store and in the grid = the database's: no dropped update), reads memory again;
5. repeats 2-4 with `/?bench=1&nogrid=1` (feed and store, no grid): the floor.
Results: printed, and var/bench/blotter.json.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from bench import _common as common

CHROMIUM = "/usr/bin/chromium"
DB = os.environ.get("BENCH_DB", "oms_bench_blotter")


# --- writer processes ------------------------------------------------------------------------------
def _setup(dbname: str) -> None:
    common.django_setup(dbname, migrate=False)


def _load(args: tuple[str, int, int, str]) -> list[str]:
    """Create client+market pairs [start, stop); returns the market order ids."""
    dbname, start, stop, tag = args
    _setup(dbname)
    from oms.core.dispatch import dispatch

    markets = []
    for i in range(start, stop):
        client = dispatch(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": f"{tag}-C{i}",
                "symbol": f"SYM{i % 50:02d}",
                "side": "Buy" if i % 3 else "Sell",
                "orderQty": "1000",
                "ordType": "Limit",
                "price": "100",
                "account": f"ACC{i % 20:02d}",
                "handling": "Desk",
                "venue": "MANUAL",
            },
            actor="bench",
        ).body["order"]
        market = dispatch(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": f"{tag}-M{i}",
                "parentId": client["orderId"],
                "orderQty": "1000",
            },
            actor="bench",
        ).body["order"]
        dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": market["orderId"]}, actor="bench")
        markets.append(market["orderId"])
    return markets


def _stream(
    dbname: str, markets: list[str], fills_per_s: float, seconds: float, go: Any, out: Any, seed: int
) -> None:
    """Fill random market orders at a steady pace; send [(orderId, version, commit wall time)]."""
    _setup(dbname)
    from oms.core.dispatch import dispatch

    rng = random.Random(seed)
    records: list[tuple[str, int, float]] = []
    interval = 1.0 / fills_per_s
    out.put("ready")
    go.wait()
    start_at = time.time()
    end = start_at + seconds
    k = 0
    next_at = start_at
    while True:
        now = time.time()
        if now >= end:
            break
        if now < next_at:
            time.sleep(min(next_at - now, 0.01))
            continue
        order_id = rng.choice(markets)
        k += 1
        answer = dispatch(
            "executions",
            {
                "commandType": "ExecuteOrderCommand",
                "orderId": order_id,
                "execID": f"X{seed}-{k}",
                "lastQty": "0.01",
                "lastPx": "100",
                "venue": "MANUAL",
            },
            actor="bench",
        ).body
        committed_at = time.time()
        if "order" not in answer:  # held for review (changes no order): not an order update
            raise SystemExit(f"fill not applied: {answer}")
        records.append((order_id, int(answer["order"]["version"]), committed_at))
        next_at += interval
    out.put(records)


# --- the server --------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(dbname: str, cwd: Any = None) -> tuple[subprocess.Popen[bytes], int]:
    """daphne on a free port; `cwd`: another checkout of the project to serve (a baseline)."""
    port = _free_port()
    env = common.django_env(dbname)
    env.update(OMS_INPROCESS_WORKERS="1", CELERY_TASK_ALWAYS_EAGER="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "oms.asgi:application"],
        cwd=cwd or common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    sys.exit("daphne did not start")


# --- one measured phase ---------------------------------------------------------------------------
def _heap(page: Any) -> float:
    page.evaluate("() => new Promise(r => setTimeout(r, 50))")
    return round(page.evaluate("performance.memory.usedJSHeapSize") / 1e6, 1)


def phase(
    browser: Any, port: int, cookie: dict[str, str], args: argparse.Namespace, markets: list[str], grid: bool
) -> dict[str, Any]:
    from oms.orders.models import Order

    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{**cookie, "url": f"http://127.0.0.1:{port}"}])
    page = context.new_page()
    t0 = time.time()
    page.goto(f"http://127.0.0.1:{port}/?bench=1{'' if grid else '&nogrid=1'}#orders")
    page.wait_for_function(
        "n => window.__blotter.feed.state === 'live' && window.__blotter.store.docs.orders.size >= n",
        arg=args.orders,
        timeout=180_000,
    )
    if grid:
        page.wait_for_function(
            "() => window.__blotter.grids.orders && window.__blotter.grids.orders.table.getDataCount() > 0"
        )
    load_s = time.time() - t0
    heap_before = _heap(page)
    page.evaluate("window.__blotter.flushLog.length = 0; window.__blotter.flushTimes.length = 0")

    fills_per_s = args.rate / 2 / args.writers
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(
            target=_stream,
            args=(
                DB,
                markets[w :: args.writers],
                fills_per_s,
                args.seconds,
                go,
                queue,
                w + (100 if grid else 200),
            ),
        )
        for w in range(args.writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert queue.get(timeout=120) == "ready"
    # arrival of each websocket batch: (wall ms, recordedAt of its last event) - the feed's share
    page.evaluate(
        """() => { const feed = window.__blotter.feed, orig = feed.onEvents.bind(feed); window.__arrivals = [];
                   feed.onEvents = evs => { if (evs && evs.length) window.__arrivals.push([performance.timeOrigin + performance.now(), evs[evs.length - 1].recordedAt, evs.length]); orig(evs); }; }"""
    )
    go.set()
    records = [r for _ in procs for r in queue.get()]
    for p in procs:
        p.join()
    committed = len(records)
    from blotter.consumers import max_seq

    target = max_seq()
    caught = time.time()
    page.wait_for_function(
        "seq => window.__blotter.feed.lastSeq >= seq && !window.__blotter.feed.busy",
        arg=target,
        timeout=120_000,
    )
    page.evaluate("() => new Promise(r => setTimeout(r, 300))")  # the last flush
    catch_up_s = time.time() - caught
    heap_after = _heap(page)

    # latency: first frame showing each commit's order at that version (or a later one)
    log = page.evaluate("window.__blotter.flushLog")
    seen: dict[str, list[tuple[int, float]]] = {}
    for shown_at, pairs in log:
        for order_id, version in pairs:
            seen.setdefault(order_id, []).append((version, shown_at / 1000))
    latencies = []
    missing = 0
    for order_id, version, committed_at in records:
        hit = next((t for v, t in seen.get(order_id, []) if v >= version), None)
        if hit is None:
            missing += 1
        else:
            latencies.append(max(0.0, hit - committed_at))
    latencies.sort()

    # dropped updates: the page equals the query API
    db_versions = {d["orderId"]: d["version"] for d in Order.objects.values_list("doc", flat=True)}
    store_versions = page.evaluate(
        "Object.fromEntries([...window.__blotter.store.docs.orders.values()].map(d => [d.orderId, d.version]))"
    )
    dropped_store = sum(1 for k, v in db_versions.items() if store_versions.get(k) != v)
    dropped_grid = None
    if grid:
        grid_versions = page.evaluate(
            """() => { const out = {}; const walk = rows => rows.forEach(r => { out[r.orderId] = r.version; if (r._children) walk(r._children); });
                       walk(window.__blotter.grids.orders.table.getData()); return out; }"""
        )
        dropped_grid = sum(1 for k, v in db_versions.items() if grid_versions.get(k) != v)
    stats = page.evaluate("window.__blotter.feed.stats")
    flush_ms = sorted(page.evaluate("window.__blotter.flushTimes.splice(0)"))
    arrivals = page.evaluate("window.__arrivals")
    import datetime as dt

    feed_lag = sorted(
        max(0.0, wall / 1000 - dt.datetime.fromisoformat(rec.replace("Z", "+00:00")).timestamp())
        for wall, rec, _ in arrivals
    )
    context.close()
    lat = common.latency_summary(latencies) if latencies else {}
    return {
        "mode": "grid" if grid else "no grid (floor)",
        "snapshot_load_s": round(load_s, 2),
        "fills_committed": committed,
        "order_updates_per_s": round(2 * committed / args.seconds, 1),
        "latency_ms": {k: round(v, 1) for k, v in lat.items()},
        "ws_batches": len(arrivals),
        "flushes": len(flush_ms),
        "flush_ms": {k: round(v / 1000, 2) for k, v in common.latency_summary(flush_ms).items() if k != "n"}
        if flush_ms
        else {},
        "ws_arrival_lag_ms": {k: round(v, 1) for k, v in common.latency_summary(feed_lag).items()}
        if feed_lag
        else {},
        "latency_missing": missing,
        "dropped_store": dropped_store,
        "dropped_grid": dropped_grid,
        "catch_up_s": round(catch_up_s, 2),
        "heap_mb_before": heap_before,
        "heap_mb_after": heap_after,
        "feed": stats,
    }


SYNTHETIC_JS = """
async ({rate, seconds}) => {
  const B = window.__blotter, feed = B.feed;
  const markets = [...B.store.docs.orders.values()].filter(d => d.parentId);
  const version = new Map(), injected = [];
  B.flushLog.length = 0; B.flushTimes.length = 0;
  let last = performance.now(), long = 0, frames = 0, worst = 0, stop = false;
  (function tick(now) { if (stop) return; const dt = now - last; if (dt > 50) long++; worst = Math.max(worst, dt);
                        frames++; last = now; requestAnimationFrame(tick); })(last);
  const start = performance.now(), end = start + seconds * 1000;
  let sent = 0;
  while (performance.now() < end) {
    const due = Math.floor((performance.now() - start) / 1000 * rate);
    const events = [];
    while (sent < due) {
      const m = markets[Math.floor(Math.random() * markets.length)];
      for (const id of [m.orderId, m.rootId]) {
        const doc = B.store.docs.orders.get(id);
        const v = (version.get(id) ?? doc.version) + 1;
        version.set(id, v);
        const cum = (Number(doc.cumQty) + 0.01).toFixed(2);
        events.push({seq: feed.lastSeq + 1 + events.length, topic: "order-events", type: "Synthetic", aggregateId: id, version: v,
                     state: {...doc, version: v, cumQty: cum, leavesQty: (Number(doc.orderQty) - cum).toFixed(2), status: "PartiallyFilled"}});
        sent += 1;
      }
    }
    const t = performance.timeOrigin + performance.now();
    for (const e of events) injected.push([e.aggregateId, e.version, t]);
    if (events.length) feed.onEvents(events);
    await new Promise(r => setTimeout(r, 20));  // ~50 websocket batches/s
  }
  await new Promise(r => setTimeout(r, 500));
  stop = true;
  return {injected, sent, frames, long, worst, heap: performance.memory.usedJSHeapSize};
}
"""


def synthetic(
    browser: Any, port: int, cookie: dict[str, str], args: argparse.Namespace, grid: bool
) -> dict[str, Any]:
    """The page alone: order events injected into the feed at `--rate`, no server in the loop."""
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{**cookie, "url": f"http://127.0.0.1:{port}"}])
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/?bench=1{'' if grid else '&nogrid=1'}#orders")
    page.wait_for_function(
        "n => window.__blotter.feed.state === 'live' && window.__blotter.store.docs.orders.size >= n",
        arg=args.orders,
        timeout=180_000,
    )
    heap_before = _heap(page)
    out = page.evaluate(SYNTHETIC_JS, {"rate": args.rate, "seconds": args.seconds})
    log = page.evaluate("window.__blotter.flushLog")
    flush_ms = sorted(page.evaluate("window.__blotter.flushTimes"))
    shown: dict[str, list[tuple[int, float]]] = {}
    for at, pairs in log:
        for order_id, version in pairs:
            shown.setdefault(order_id, []).append((version, at))
    latencies, missing = [], 0
    for order_id, version, at in out["injected"]:
        hit = next((t for v, t in shown.get(order_id, []) if v >= version), None)
        if hit is None:
            missing += 1
        else:
            latencies.append(max(0.0, (hit - at) / 1000))
    context.close()
    return {
        "mode": f"synthetic, {'grid' if grid else 'no grid (floor)'}",
        "order_updates_per_s": round(out["sent"] / args.seconds, 1),
        "latency_ms": {k: round(v, 1) for k, v in common.latency_summary(latencies).items()},
        "latency_missing": missing,
        "flushes": len(flush_ms),
        "flush_ms": {k: round(v / 1000, 2) for k, v in common.latency_summary(flush_ms).items() if k != "n"}
        if flush_ms
        else {},
        "frames": out["frames"],
        "frames_over_50ms": out["long"],
        "worst_frame_ms": round(out["worst"], 1),
        "heap_mb_before": heap_before,
        "heap_mb_after": round(out["heap"] / 1e6, 1),
        "dropped_store": None,
        "dropped_grid": None,
        "catch_up_s": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000, help="order updates/s in total (2 per fill)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--synthetic-only", action="store_true", help="only the page-alone phases")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing")
    durable = common.check_durable()
    common.create_db(DB)
    common.django_setup(DB)
    from django.contrib.auth.models import Group, User
    from django.test import Client

    pairs = args.orders // 2
    t0 = time.time()
    chunks = [(DB, i, min(i + pairs // 4 + 1, pairs), "B") for i in range(0, pairs, pairs // 4 + 1)]
    with mp.get_context("spawn").Pool(2) as pool:
        markets = [m for part in pool.map(_load, chunks) for m in part]
    load_s = time.time() - t0
    print(f"loaded {2 * len(markets)} orders in {load_s:.1f} s")

    user = User.objects.create_user("bench-desk", password="x")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    from django.conf import settings

    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }
    server, port = start_server(DB)
    results = []
    try:
        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in this thread
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"],
            )
            for grid in (True, False):
                if not args.synthetic_only:
                    result = phase(browser, port, cookie, args, markets, grid)
                    results.append(result)
                    print(result)
            for grid in (True, False):
                result = synthetic(browser, port, cookie, args, grid)
                results.append(result)
                print({k: v for k, v in result.items()})
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            common.drop_db(DB)
    common.print_table(
        [
            "mode",
            "updates/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "missing",
            "dropped",
            "heap MB before->after",
            "catch-up s",
        ],
        [
            [
                r["mode"],
                r["order_updates_per_s"],
                r["latency_ms"].get("p50_ms"),
                r["latency_ms"].get("p99_ms"),
                r["latency_ms"].get("max_ms"),
                r["latency_missing"],
                f"{r['dropped_store']}/{r['dropped_grid']}",
                f"{r['heap_mb_before']} -> {r['heap_mb_after']}",
                r["catch_up_s"],
            ]
            for r in results
        ],
    )
    path = common.save_result(
        "blotter",
        {
            "args": vars(args),
            "load_s": load_s,
            "results": results,
            "durable": durable,
            "machine": common.machine_notes(),
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
