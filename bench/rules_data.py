"""Cost of rules as data per client-order create: 100 enabled rules vs the 3 seeded defaults.

    .venv/bin/python -m bench.rules_data [--orders 300] [--rounds 4] [--rules 100] [--notional 10]

In one run, on a fresh PostgreSQL database (oms_bench_rules, dropped after): `--rules` data rules
are created (none matches the bench's orders, so every one of them is evaluated for every order,
the worst case; `--notional` of them read `notional`, which looks up the instrument's multiplier
once per order); then CreateOrderCommand through `dispatch`, interleaved in rounds: "100 rules"
(all enabled) and "defaults" (all disabled: only the 3 seeded rules are active). Switching
between the modes disables/enables the rules by command, outside the timings. The orders ask for
the desk, so the seeded `client_requested_desk` decides after the 100 have been tried and no
automatic placement runs. Also reported: the evaluation alone (the compiled closures over one
order, no database) and the in-process reload count.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_rules"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--notional", type=int, default=10, help="how many of the rules read notional")
    args = parser.parse_args()
    common.create_db(DB)
    try:
        common.django_setup(DB)
        run(args.orders, args.rounds, args.rules, args.notional)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)


def rule_body(i: int, notional: bool) -> dict[str, Any]:
    if notional:
        when: dict[str, Any] = {
            "all": [
                {"field": "venue", "op": "==", "value": "SIM"},
                {"field": "notional", "op": ">", "value": str(10_000_000 + i)},
            ]
        }
    elif i % 3 == 0:
        when = {
            "all": [
                {"field": "symbol", "op": "==", "value": f"NOPE{i}"},
                {"field": "orderQty", "op": ">", "value": "1"},
            ]
        }
    elif i % 3 == 1:
        when = {
            "any": [
                {"field": "account", "op": "in", "value": [f"X{i}", f"Y{i}", f"Z{i}"]},
                {"not": {"field": "side", "op": "in", "value": ["Buy", "Sell", "SellShort"]}},
            ]
        }
    else:
        when = {
            "all": [
                {"field": "timeOfDay", "op": "<", "value": "00:00"},
                {"field": "price", "op": ">=", "value": "1"},
            ]
        }
    return {
        "commandType": "CreateRuleCommand",
        "name": f"bench_{i:03d}",
        "priority": 100 + i,
        "when": when,
        "action": {"handling": "Desk", "reason": f"bench rule {i}"},
    }


def run(orders: int, rounds: int, n_rules: int, n_notional: int) -> None:
    from django.utils import timezone

    from oms.core.dispatch import dispatch
    from rules import active
    from rules.conditions import Facts
    from rules.routing import decide

    actor = "system:bench"
    dispatch(
        "instruments",
        {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": "BTC-PERP",
            "kind": "Perpetual",
            "tickSize": "0.5",
            "lotSize": "1",
            "multiplier": "0.001",
        },
        actor=actor,
    )
    ids = [
        dispatch("rules", rule_body(i, i < n_notional), actor=actor).body["rule"]["ruleId"]
        for i in range(n_rules)
    ]

    def toggle(enable: bool) -> None:
        command = "EnableRuleCommand" if enable else "DisableRuleCommand"
        for rule_id in ids:
            dispatch("rules", {"commandType": command, "ruleId": rule_id}, actor=actor)

    def create(i: int) -> dict[str, Any]:
        return {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"B{i}",
            "symbol": "BTC-PERP",
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "64000",
            "timeInForce": "Day",
            "account": "ACC1",
            "venue": "SIM",
            "handling": "Desk",
        }

    modes = [f"{n_rules} rules", "defaults"]
    timings: dict[str, list[float]] = {m: [] for m in modes}
    enabled = True
    n = 0
    for r in range(rounds):
        for mode in modes if r % 2 == 0 else modes[::-1]:
            want = mode != "defaults"
            if want != enabled:
                toggle(want)
                enabled = want
            for _ in range(orders):
                n += 1
                t0 = time.perf_counter()
                result = dispatch("orders", create(n), actor="desk")
                timings[mode].append(time.perf_counter() - t0)
            assert result.body["order"]["routingRule"] == "client_requested_desk"
    summary = {mode: common.latency_summary(values) for mode, values in timings.items()}
    for mode, values in timings.items():
        print(f"{mode:>10}: {len(values) / sum(values):8.1f} creates/s  {common.fmt_lat(summary[mode])}")
    with_rules, without = sum(timings[modes[0]]), sum(timings["defaults"])
    per_order = (with_rules - without) / len(timings[modes[0]]) * 1e6
    print(
        f"cost of {n_rules} enabled rules: {100 * (with_rules - without) / without:+.1f}% per create ({per_order:+.0f} us)"
    )

    # the evaluation alone: the compiled set over one order, no database (but the multiplier)
    if not enabled:
        toggle(True)
    rules = active.active_rules()
    order = create(0)
    loops = 2000
    t0 = time.perf_counter()
    for _ in range(loops):
        decide(rules, Facts(order, at=timezone.now(), multiplier=lambda: None), "SIM")
    pure = (time.perf_counter() - t0) / loops * 1e6
    t0 = time.perf_counter()
    for _ in range(200):
        active.active_rules()
    check = (time.perf_counter() - t0) / 200 * 1e6
    t0 = time.perf_counter()
    for _ in range(200):
        active.current().multiplier("SIM", "BTC-PERP")()
    lookup = (time.perf_counter() - t0) / 200 * 1e6
    print(
        f"evaluation of {len(rules)} active rules over one order: {pure:.0f} us; "
        f"reload check (reference version read, unchanged; a create reads it with its clOrdID claim): {check:.0f} us; "
        f"multiplier (check + lookup): {lookup:.0f} us; reloads in the run: {active.stats['reloads']}, "
        f"rule versions compiled: {active.stats['compiled']}"
    )


if __name__ == "__main__":
    main()
