"""Cost of the pre-trade checks per client-order create (issue 10's benchmark).

    .venv/bin/python -m bench.controls [--orders 300] [--rounds 3] [--pairs 1000]

In one run, on a fresh PostgreSQL database (oms_bench_controls, dropped after): 1,000
instrument/account pairs get limits (every field that reads data: qty, notional, collar, open
notional), their instruments and books; then CreateOrderCommand through `dispatch` for orders on
those pairs, interleaved in rounds with the checks on and off (`rules.pretrade.CHECKS` emptied).
Rules as data (the issue's 100 enabled rules) are not built yet: routing is the three defaults.
Reported: creates/s and p50/p99 per mode and the overhead of the checks.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_controls"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args()
    common.create_db(DB)
    try:
        common.django_setup(DB)
        run(args.orders, args.rounds, args.pairs)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)


def run(orders: int, rounds: int, pairs: int) -> None:
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
                t0 = time.perf_counter()
                dispatch("orders", body, actor="desk")
                timings[mode].append(time.perf_counter() - t0)
    pretrade.CHECKS[:] = checks
    summary = {mode: common.latency_summary(values) for mode, values in timings.items()}
    for mode, values in timings.items():
        print(f"{mode:>10}: {len(values) / sum(values):8.1f} creates/s  {common.fmt_lat(summary[mode])}")
    on, off = sum(timings["checks on"]), sum(timings["checks off"])
    print(
        f"overhead of the checks: {100 * (on - off) / off:+.1f}% per create ({len(symbols)} symbols x {len(accounts)} accounts = {len(symbols) * len(accounts)} limit pairs)"
    )


if __name__ == "__main__":
    main()
