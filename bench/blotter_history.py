"""History on demand in headless Chromium: the server-side grid vs a full client copy, and our own
paging vs Tabulator's progressive mode.

    .venv/bin/python -m bench.blotter_history [--orders 200000] [--pages 20] [--copy 20000]

On a fresh PostgreSQL database (bench/_common.py; BENCH_DB, default oms_bench_history): 1,000
working orders and `--orders` finished ones 2-60 days old (COPY, bench/blotter_snapshot.py), one
daphne, the blotter open as a desk user. Each measure is taken in the same run:

1. first rows of a 60-day history range:
   * server-side grid (static/blotter/history.js): History mode -> the first page (200 rows) shown;
   * full client copy (the page before): every order of the range's newest `--copy` read through
     the query API (cursor pages of 1,000, as history.js did) into the store, then into the grid;
2. a header filter (clOrdID contains a value matching one order) -> the grid shows the match:
   * server-side: one query (`clOrdIDContains`);
   * client copy: Tabulator's local filter over the `--copy` rows;
3. scrolling `--pages` pages of 200 rows, ms per page appended:
   * our own paging (history.js: `addData` of each page);
   * Tabulator's `progressiveLoad: "scroll"` over the same query (its remote pagination: each page
     re-sets every row loaded so far), built in the page with the same request function.
Results: printed, and var/bench/blotter_history.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from typing import Any

from bench import _common as common
from bench.blotter import CHROMIUM, start_server
from bench.blotter_snapshot import load

DB = os.environ.get("BENCH_DB", "oms_bench_history")

PROGRESSIVE_JS = """
async ({pages}) => {
  const { TabulatorFull: Tabulator } = await import("/static/vendor/tabulator/js/tabulator_esm.min.mjs");
  const { historyQuery, PAGE } = await import("/static/blotter/history.js");
  const { VIEWS } = await import("/static/blotter/views.js");
  const host = document.createElement("div");
  host.style.cssText = "position:fixed;left:0;top:0;width:1500px;height:700px;z-index:99;background:#000";
  document.body.append(host);
  const cursors = {1: null};
  const times = [];
  let began = 0;
  const table = new Tabulator(host, {
    height: "100%", layout: "fitData", rowHeight: 22, index: "orderId", columns: VIEWS.orders.columns(),
    progressiveLoad: "scroll", paginationSize: PAGE, sortMode: "remote", filterMode: "remote",
    ajaxURL: "/api/queries/orders",
    ajaxRequestFunc: async (url, config, params) => {
      const first = historyQuery("orders", {sort: [{field: "createdAt", dir: "desc"}]});
      const u = params.page === 1 ? first : cursors[params.page];
      const body = await (await fetch(u, {credentials: "same-origin"})).json();
      if (body.next) cursors[params.page + 1] = new URL(body.next, location.href).pathname + new URL(body.next, location.href).search;
      return {last_page: body.next ? params.page + 1 : params.page, data: body.results};
    },
  });
  await new Promise(r => table.on("tableBuilt", r));
  const holder = host.querySelector(".tabulator-tableholder");
  const until = n => new Promise(r => { const t = setInterval(() => { if (table.getDataCount() >= n) { clearInterval(t); r(); } }, 5); });
  await until(PAGE);
  for (let p = 2; p <= pages; p++) {
    began = performance.now();
    holder.scrollTop = holder.scrollHeight;
    await until(p * PAGE);
    await new Promise(r => requestAnimationFrame(r));
    times.push(performance.now() - began);
  }
  const rows = table.getDataCount();
  table.destroy(); host.remove();
  return {times, rows, heap: performance.memory.usedJSHeapSize};
}
"""

OWN_JS = """
async ({pages, page}) => {
  const H = window.__blotterHistory;
  const holder = H.el.querySelector(".tabulator-tableholder");
  const times = [];
  for (let p = 2; p <= pages; p++) {
    const began = performance.now();
    holder.scrollTop = holder.scrollHeight;
    while (H.rows < p * page) await new Promise(r => setTimeout(r, 5));
    await new Promise(r => requestAnimationFrame(r));
    times.push(performance.now() - began);
  }
  return {times, rows: H.rows, heap: performance.memory.usedJSHeapSize};
}
"""

COPY_JS = """
async ({limit, from}) => {
  const B = window.__blotter;
  const began = performance.now();
  let next = `/api/queries/orders?createdAfter=${from}&limit=1000&count=false&cursor=`;
  let n = 0;
  while (next && n < limit) {
    const body = await (await fetch(next, {credentials: "same-origin"})).json();
    for (const doc of body.results) B.store.put("orders", doc);
    n += body.results.length;
    next = body.next ? new URL(body.next, location.href).pathname + new URL(body.next, location.href).search : null;
  }
  const read = performance.now();
  B.store.takeChanges();
  const grid = B.grids.orders;
  await grid.table.replaceData([...B.store.docs.orders.values()].filter(d => !d.parentId).map(d => ({...d})));
  await new Promise(r => requestAnimationFrame(r));
  return {read_ms: read - began, total_ms: performance.now() - began, loaded: n, heap: performance.memory.usedJSHeapSize};
}
"""


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "last_ms": round(times[-1], 1),
        "total_ms": round(sum(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--copy", type=int, default=20_000, help="rows of the full client copy")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true")
    args = parser.parse_args()
    notes = common.machine_notes()
    common.check_durable()
    reuse = args.reuse_db and common.db_exists(DB)
    if not reuse:
        common.create_db(DB)
    common.django_setup(DB)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from blotter.snapshot import trading_day_start
    from oms.orders.models import Order

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
    if not reuse:
        load(1_000, working=True, seed=1)
        load(args.orders, working=False, seed=2)
    needle = Order.objects.filter(status__in=["Filled", "Canceled"]).order_by("created_at").first()
    assert needle is not None
    server, port = start_server(DB)
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"orders": Order.objects.count()}
    from_day = (trading_day_start().date() - __import__("datetime").timedelta(days=61)).isoformat()
    try:
        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"],
            )

            def fresh() -> Any:
                context = browser.new_context(viewport={"width": 1600, "height": 900})
                context.add_cookies([{**cookie, "url": base}])
                page = context.new_page()
                page.goto(f"{base}/#orders")
                page.wait_for_function("() => window.__blotter && window.__blotter.feed.state === 'live'")
                page.wait_for_function("() => window.__blotter.grids.orders")
                return page

            # 1 + 2 + 3a: the server-side grid
            page = fresh()
            t0 = time.perf_counter()
            page.fill("#history-from", from_day)
            page.click("#history-search button")
            page.wait_for_function("() => window.__blotterHistory.rows >= 200", polling=10)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            box = page.locator('.history-grid .tabulator-col[tabulator-field="clOrdID"] input')
            box.fill(needle.cl_ord_id)
            box.press("End")
            page.wait_for_function("() => window.__blotterHistory.rows === 1", polling=10)
            filter_s = time.perf_counter() - t0  # with the header filter's 400 ms debounce
            box.fill("")
            box.press("End")
            page.wait_for_function("() => window.__blotterHistory.rows >= 200", polling=10)
            own = page.evaluate(OWN_JS, {"pages": args.pages, "page": 200})
            progressive = page.evaluate(PROGRESSIVE_JS, {"pages": args.pages})
            page.context.close()
            result["server_side"] = {
                "first_rows_s": round(first_s, 2),
                "filter_s": round(filter_s, 2),
                "own_paging": {
                    **summary(own["times"]),
                    "rows": own["rows"],
                    "heap_mb": round(own["heap"] / 1e6, 1),
                },
                "tabulator_progressive": {
                    **summary(progressive["times"]),
                    "rows": progressive["rows"],
                    "heap_mb": round(progressive["heap"] / 1e6, 1),
                },
            }
            print(result["server_side"], flush=True)
            # 1 + 2: the full client copy
            page = fresh()
            copy = page.evaluate(COPY_JS, {"limit": args.copy, "from": f"{from_day}T00:00:00Z"})
            t0 = time.perf_counter()
            page.evaluate(
                "v => window.__blotter.grids.orders.table.setHeaderFilterValue('clOrdID', v)",
                needle.cl_ord_id,
            )
            page.wait_for_function(
                "() => window.__blotter.grids.orders.table.getDataCount('active') <= 1", polling=10
            )
            local_filter_s = time.perf_counter() - t0
            page.context.close()
            result["client_copy"] = {
                "first_rows_s": round(copy["total_ms"] / 1000, 2),
                "read_s": round(copy["read_ms"] / 1000, 2),
                "loaded": copy["loaded"],
                "filter_s": round(local_filter_s, 2),
                "heap_mb": round(copy["heap"] / 1e6, 1),
                "note": "the filter searches only the rows copied",
            }
            print(result["client_copy"], flush=True)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            common.drop_db(DB)
    path = common.save_result("blotter_history", {"notes": notes, "args": vars(args), "result": result})
    print(f"saved {path}")


if __name__ == "__main__":
    sys.exit(main())
