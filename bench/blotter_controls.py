"""The desk's controls in the blotter: how fast a control reaches the bar, and the order preview.

    .venv/bin/python -m bench.blotter_controls [--n 20]

On a fresh PostgreSQL database (bench/_common.py; BENCH_DB, default oms_bench_deskbar), one
daphne (in-process publisher, as bench/blotter.py) and headless Chromium logged in as a desk user:

1. Live: commit -> shown. `EngageSafeModeCommand` dispatched in this process until its chip is
   in the controls bar, beside the baseline measured the same way in the same run: a new client
   order until it is in the page's store (the path every grid update takes). Same feed, same
   polling (requestAnimationFrame), so the difference is what the controls path adds.
2. Preview: the new-order form's price changed (alternating an off-market and a sane limit) until
   the new verdict is drawn, beside the baseline: the preview endpoint's own round trip
   (fetch from the same page). The difference is the 300 ms debounce plus drawing.
Results: printed and saved to var/bench/blotter_controls.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any

from bench import _common as common
from bench.blotter import start_server

DB = os.environ.get("BENCH_DB", "oms_bench_deskbar")
CHROMIUM = "/usr/bin/chromium"
SYSTEM = "system:bench"


def ms(values: list[float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in common.latency_summary(values).items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    notes = common.machine_notes()
    common.create_db(DB)
    common.django_setup(DB)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from playwright.sync_api import sync_playwright

    from oms.core.dispatch import dispatch

    user = User.objects.create_user("bench-desk", password="x")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }
    dispatch(
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": "SIM",
            "symbol": "ACME",
            "bids": [["99", "5"]],
            "asks": [["101", "5"]],
        },
        actor=SYSTEM,
    )
    dispatch(
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "priceCollarPct": "5"},
        actor=SYSTEM,
    )
    server, port = start_server(DB)
    base = f"http://127.0.0.1:{port}"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    result: dict[str, Any] = {"n": args.n, "machine": notes}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            context = browser.new_context(base_url=base)
            context.add_cookies([{**cookie, "url": base}])
            page = context.new_page()
            page.goto("/")
            page.wait_for_selector('#conn[data-state="live"]', timeout=30_000)

            safe, orders = [], []
            for i in range(args.n):
                t0 = time.perf_counter()
                body = {
                    "commandType": "EngageSafeModeCommand",
                    "scope": "account",
                    "key": f"B{i}",
                    "reason": "bench",
                }
                dispatch("controls", body, actor="bench-desk")
                page.wait_for_selector(f'#safe-scopes .chip[data-scope="account:B{i}"]')
                safe.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                order = {
                    "commandType": "CreateOrderCommand",
                    "clOrdID": f"BO{i}",
                    "symbol": "ACME",
                    "side": "Buy",
                    "orderQty": "1",
                    "ordType": "Market",
                    "account": "BENCH",
                    "handling": "Desk",
                }
                oid = dispatch("orders", order, actor="bench-desk").body["order"]["orderId"]
                page.wait_for_function(
                    "id => window.__blotter.store.docs.orders.has(id)", arg=oid, polling="raf"
                )
                orders.append(time.perf_counter() - t0)
            result["live"] = {"safe_mode_chip_ms": ms(safe), "baseline_order_in_store_ms": ms(orders)}

            page.evaluate("url => { window.openForm(url); }", "/blotter/forms/new/")
            form = page.locator('#oms-dialog form[data-oms-form="new"]')
            form.locator('[name="side"]').select_option("Buy")
            form.locator('[name="symbol"]').fill("ACME")
            form.locator('[name="orderQty"]').fill("2")
            form.locator('[name="account"]').fill("ACC1")
            form.locator('[name="price"]').fill("100")
            preview = form.locator(".order-preview")
            page.wait_for_selector('#oms-dialog .order-preview[data-state="accepted"]')
            shown = []
            for i in range(args.n):
                price, want = ("150", "refused") if i % 2 == 0 else ("100", "accepted")
                t0 = time.perf_counter()
                form.locator('[name="price"]').fill(price)
                page.wait_for_selector(f'#oms-dialog .order-preview[data-state="{want}"]')
                shown.append(time.perf_counter() - t0)
            assert preview.count() == 1
            raw = page.evaluate(
                """async n => {
                    const token = document.querySelector("#oms-dialog input[name=csrfmiddlewaretoken]").value;
                    const out = [];
                    for (let i = 0; i < n; i++) {
                        const body = {side: "Buy", symbol: "ACME", orderQty: "2", ordType: "Limit", account: "ACC1",
                                      clOrdID: "PREVIEW", price: i % 2 ? "100" : "150"};
                        const t0 = performance.now();
                        const r = await fetch("/api/commands/orders/preview", {method: "POST", credentials: "same-origin",
                            headers: {"Content-Type": "application/json", "X-CSRFToken": token}, body: JSON.stringify(body)});
                        await r.json();
                        out.push((performance.now() - t0) / 1000);
                    }
                    return out;
                }""",
                args.n,
            )
            result["preview"] = {"typed_to_drawn_ms": ms(shown), "baseline_endpoint_round_trip_ms": ms(raw)}
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    common.print_table(
        ["measure", "p50 ms", "p90 ms", "max ms"],
        [
            [name, s["p50_ms"], s["p90_ms"], s["max_ms"]]
            for group in ("live", "preview")
            for name, s in result[group].items()
        ],
    )
    print("saved", common.save_result("blotter_controls", result))


if __name__ == "__main__":
    main()
