"""Cost of the pre-trade checks per client-order create (issue 10's benchmark).

    .venv/bin/python -m bench.controls [--orders 300] [--rounds 3] [--pairs 1000] [--throttle] [--db NAME]

In one run, on a fresh PostgreSQL database (oms_bench_controls, dropped after): 1,000
instrument/account pairs get limits (every field that reads data: qty, notional, collar, open
notional), their instruments and books; then CreateOrderCommand through `dispatch` for orders on
those pairs, interleaved in rounds with the checks on and off (`rules.pretrade.CHECKS` emptied).
Rules as data (the issue's 100 enabled rules) are not built yet: routing is the three defaults.
`--throttle` also sets maxOrdersPerSecond on every pair (the throttle's upsert on every create).
Reported: creates/s, p50/p99 and client CPU per create per mode, and the overhead of the checks
(total time and p50), plus the load average (the machine is shared: compare modes of one run).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_controls"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="the limits also set maxOrdersPerSecond (one upsert per create)",
    )
    parser.add_argument("--db", default=DB)
    args = parser.parse_args()
    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        run(args.orders, args.rounds, args.pairs, throttle=args.throttle)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)


def run(orders: int, rounds: int, pairs: int, *, throttle: bool = False) -> None:
    from oms.core.dispatch import dispatch
    from rules import pretrade

    actor = "system:bench"
    symbols = [f"S{i:03d}" for i in range(pairs // 10)]
    accounts = [f"A{i}" for i in range(10)]
    for symbol in symbols:
        dispatch(
            "instruments",
            {
                "commandType": "UpsertInstrumentCommand",
                "venue": "SIM",
                "symbol": symbol,
                "kind": "Perpetual",
                "tickSize": "0.01",
                "lotSize": "1",
            },
            actor=actor,
        )
        dispatch(
            "books",
            {
                "commandType": "SetBookCommand",
                "venue": "SIM",
                "symbol": symbol,
                "bids": [["99", "100"]],
                "asks": [["101", "100"]],
            },
            actor=actor,
        )
        for account in accounts:
            dispatch(
                "limits",
                {
                    "commandType": "SetLimitsCommand",
                    "account": account,
                    "symbol": symbol,
                    "maxOrderQty": "1000",
                    "maxOrderNotional": "1000000",
                    "priceCollarPct": "10",
                    "maxOpenNotional": "100000000",
                    **({"maxOrdersPerSecond": 1000} if throttle else {}),
                },
                actor=actor,
            )
    dispatch(
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "allowMarketOrders": True},
        actor=actor,
    )
    checks = list(pretrade.CHECKS)
    timings: dict[str, list[float]] = {"checks on": [], "checks off": []}
    cpu: dict[str, float] = {"checks on": 0.0, "checks off": 0.0}
    n = 0

    def create(i: int) -> dict[str, Any]:
        return {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"B{i}",
            "symbol": symbols[i % len(symbols)],
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "100",
            "timeInForce": "Day",
            "account": accounts[i % len(accounts)],
            "venue": "SIM",
            "handling": "Desk",
        }

    for r in range(rounds):
        modes = ["checks on", "checks off"] if r % 2 == 0 else ["checks off", "checks on"]
        for mode in modes:
            pretrade.CHECKS[:] = checks if mode == "checks on" else []
            for _ in range(orders):
                n += 1
                body = create(n)
                t0, c0 = time.perf_counter(), time.process_time()
                dispatch("orders", body, actor="desk")
                timings[mode].append(time.perf_counter() - t0)
                cpu[mode] += time.process_time() - c0
    pretrade.CHECKS[:] = checks
    summary = {mode: common.latency_summary(values) for mode, values in timings.items()}
    for mode, values in timings.items():
        print(
            f"{mode:>10}: {len(values) / sum(values):8.1f} creates/s  {common.fmt_lat(summary[mode])}"
            f"  client CPU {1e3 * cpu[mode] / len(values):.2f} ms/create"
        )
    on, off = sum(timings["checks on"]), sum(timings["checks off"])
    p50_on, p50_off = summary["checks on"]["p50_ms"], summary["checks off"]["p50_ms"]
    print(
        f"overhead of the checks: {100 * (on - off) / off:+.1f}% per create (total time), "
        f"{100 * (p50_on - p50_off) / p50_off:+.1f}% at p50 ({len(symbols)} symbols x {len(accounts)} accounts "
        f"= {len(symbols) * len(accounts)} limit pairs{', throttled' if throttle else ''}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
