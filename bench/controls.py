"""Cost of routing + the pre-trade checks per client-order create (issue 10's benchmark).

    .venv/bin/python -m bench.controls [--orders 200] [--rounds 6] [--pairs 1000] [--rules 100]
        [--notional 10] [--throttle] [--db NAME]

In one run, on a fresh PostgreSQL database (oms_bench_controls, dropped after): 1,000
instrument/account pairs get limits (every field that reads data: qty, notional, collar, open
notional), their instruments and books; `--rules` enabled data rules that match none of the
bench's orders (every one is evaluated for every order, the worst case; `--notional` of them read
`notional`), tried before the 3 seeded defaults. Then CreateOrderCommand through `dispatch` on
those pairs, in rounds, the two modes interleaved (alternating which goes first):

- "on": everything the issue built: the data rules' routing and every pre-trade check and control;
- "off": the same command with rules and checks off: `rules.pretrade.CHECKS` emptied, no reads
  sent ahead with the clOrdID claim, and routing replaced by the fixed decision the orders would
  get (the desk, as the client asked): the create as it was before the issue.

The orders ask for the desk, so no automatic placement runs in either mode. Each mode's first
order of a round is a warm-up, not timed. `--throttle` also sets maxOrdersPerSecond on every pair
(the throttle's upsert on every create). Reported per round and mode: the median wall time and the
client CPU (`time.process_time()` of this process) per create; then per mode the median over the
rounds, and the overhead of "on" over "off" as the median over rounds of the per-round ratio (the
machine is shared and noisy: only same-round comparisons mean anything), plus the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from bench import _common as common

DB = "oms_bench_controls"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200, help="timed creates per mode per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--notional", type=int, default=10, help="how many of the rules read notional")
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
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)


def setup(pairs: int, n_rules: int, n_notional: int, *, throttle: bool) -> tuple[list[str], list[str]]:
    from bench.rules_data import rule_body
    from oms.core.dispatch import dispatch

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
    for i in range(n_rules):
        dispatch("rules", rule_body(i, i < n_notional), actor=actor)
    return symbols, accounts


@contextmanager
def rules_and_checks_off() -> Iterator[None]:
    """The create without the issue's work: no checks, nothing sent ahead, a fixed routing."""
    from oms.orders import services
    from rules import pretrade
    from rules.routing import RoutingDecision

    saved = (list(pretrade.CHECKS), services.prefetch, services.route_new_order)

    def fixed(order: Any, *, prefetched: Any = None) -> RoutingDecision:
        return RoutingDecision("Desk", "client requested desk", None)

    pretrade.CHECKS[:] = []
    services.prefetch = lambda data, **kw: None  # type: ignore[assignment,return-value]  # the bench swaps the prefetch out for its 'off' run
    services.route_new_order = fixed
    try:
        yield
    finally:
        pretrade.CHECKS[:], services.prefetch, services.route_new_order = saved


def run(args: argparse.Namespace) -> None:
    from oms.core.dispatch import dispatch
    from rules import active

    symbols, accounts = setup(args.pairs, args.rules, args.notional, throttle=args.throttle)
    n = 0

    def create() -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"B{n}",
            "symbol": symbols[n % len(symbols)],
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "100",
            "timeInForce": "Day",
            "account": accounts[n % len(accounts)],
            "venue": "SIM",
            "handling": "Desk",
        }

    def one_mode(mode: str) -> tuple[float, float]:
        with rules_and_checks_off() if mode == "off" else nullcontext():
            dispatch("orders", create(), actor="desk")  # warm-up, not timed
            wall: list[float] = []
            c0 = time.process_time()
            for _ in range(args.orders):
                body = create()
                t0 = time.perf_counter()
                out = dispatch("orders", body, actor="desk")
                wall.append(time.perf_counter() - t0)
                assert out.status_code == 201, out.body
            cpu = (time.process_time() - c0) / args.orders
        return statistics.median(wall), cpu

    per_round: list[dict[str, tuple[float, float]]] = []
    loads: list[float] = []
    for r in range(args.rounds):
        row: dict[str, tuple[float, float]] = {}
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            row[mode] = one_mode(mode)
        per_round.append(row)
        loads.append(os.getloadavg()[0])
        (won, con), (woff, coff) = row["on"], row["off"]
        print(
            f"round {r + 1}: on p50 {1e3 * won:.2f} ms, CPU {1e3 * con:.2f} ms | "
            f"off p50 {1e3 * woff:.2f} ms, CPU {1e3 * coff:.2f} ms | "
            f"wall {100 * (won / woff - 1):+.1f}%, CPU {100 * (con / coff - 1):+.1f}% | load {loads[-1]:.1f}"
        )

    def med(mode: str, k: int) -> float:
        return 1e3 * statistics.median(row[mode][k] for row in per_round)

    wall_ratio = statistics.median(row["on"][0] / row["off"][0] for row in per_round)
    cpu_ratio = statistics.median(row["on"][1] / row["off"][1] for row in per_round)
    print(
        f"median of {args.rounds} rounds x {args.orders} creates per mode "
        f"({len(symbols) * len(accounts)} limit pairs, {args.rules} rules ({args.notional} on notional)"
        f"{', throttled' if args.throttle else ''}):"
    )
    print(f"  on : p50 wall {med('on', 0):.2f} ms, client CPU {med('on', 1):.2f} ms per create")
    print(f"  off: p50 wall {med('off', 0):.2f} ms, client CPU {med('off', 1):.2f} ms per create")
    print(
        f"  routing + checks add {100 * (wall_ratio - 1):+.1f}% wall time, {100 * (cpu_ratio - 1):+.1f}% client CPU "
        f"(median of the per-round ratios); rule-set reloads {active.stats['reloads']}; "
        f"load average {min(loads):.1f}-{max(loads):.1f}"
    )


if __name__ == "__main__":
    main()
