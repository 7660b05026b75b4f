"""Cost of the control plane: the SAFE mode, arming and feed checks per order create, and the
kill switch (CancelAllCommand) per order canceled.

    .venv/bin/python -m bench.control_plane [--orders 300] [--rounds 4] [--kill 200,1000]

In one run, on a fresh PostgreSQL database (oms_bench_control_plane, dropped after):
1. the venue registry holds SIM (Paper, feed Healthy) and 20 Live venues; the controls table holds
   1,000 released SAFE modes and 20 active ones on other accounts and symbols (none holds the
   orders timed, so every create pays the checks and passes); 100 SIM instruments and books.
   CreateOrderCommand through `dispatch`, alternating order by order with the three control checks
   on and off (`rules.pretrade.CHECKS` with and without them; the instrument check runs in both).
2. the kill switch: N working client orders (desk-handled, each with one accepted market order
   at MANUAL, so 2N working orders), one CancelAllCommand on their account; its latency and
   orders per second, against the baseline of the same book cancelled by one CancelOrderCommand
   per client order (the desk without a kill switch).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_control_plane"
CONTROL_CHECKS = {"safe_mode", "venue_not_armed", "feed_stale"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300, help="creates per mode per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--kill", default="200,1000", help="client orders per cancel-all, comma-separated")
    args = parser.parse_args()
    common.create_db(DB)
    try:
        common.django_setup(DB)
        checks(args.orders, args.rounds)
        for n in (int(x) for x in args.kill.split(",")):
            kill_switch(n)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)


def _setup() -> list[str]:
    from oms.core.dispatch import dispatch

    actor = "system:bench"
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor=actor,
    )
    dispatch(
        "venues", {"commandType": "RecordVenueFeedCommand", "venue": "SIM", "feed": "Healthy"}, actor=actor
    )
    for i in range(20):
        body = {"commandType": "UpsertVenueCommand", "venue": f"LIVE{i}", "adapter": "MANUAL", "mode": "Live"}
        dispatch("venues", body, actor=actor)
    for i in range(1020):
        engaged = dispatch(
            "controls",
            {
                "commandType": "EngageSafeModeCommand",
                "scope": "account" if i % 2 else "symbol",
                "key": f"K{i}",
                "reason": "bench",
            },
            actor=actor,
        ).body["control"]
        if i >= 20:
            body = {
                "commandType": "ReleaseSafeModeCommand",
                "controlId": engaged["controlId"],
                "reason": "bench",
            }
            dispatch("controls", body, actor=actor)
    symbols = [f"S{i:03d}" for i in range(100)]
    for symbol in symbols:
        body = {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": symbol,
            "kind": "Perpetual",
            "tickSize": "0.01",
            "lotSize": "1",
        }
        dispatch("instruments", body, actor=actor)
    return symbols


def checks(orders: int, rounds: int) -> None:
    from oms.core.dispatch import dispatch
    from rules import pretrade

    symbols = _setup()
    every = list(pretrade.CHECKS)
    without = [c for c in every if c[0] not in CONTROL_CHECKS]
    timings: dict[str, list[float]] = {"controls on": [], "controls off": []}
    n = 0
    for _ in range(rounds * orders):
        # on and off alternate order by order: both see the same machine (a shared, loaded box)
        for mode in ("controls on", "controls off") if n % 4 == 0 else ("controls off", "controls on"):
            pretrade.CHECKS[:] = every if mode == "controls on" else without
            n += 1
            body = {
                "commandType": "CreateOrderCommand",
                "clOrdID": f"B{n}",
                "symbol": symbols[n % len(symbols)],
                "side": "Buy",
                "orderQty": "10",
                "ordType": "Limit",
                "price": "100",
                "account": f"ACC{n % 10}",
                "venue": "SIM",
                "handling": "Desk",
            }
            t0 = time.perf_counter()
            dispatch("orders", body, actor="desk")
            timings[mode].append(time.perf_counter() - t0)
    pretrade.CHECKS[:] = every
    _reads()
    for mode, values in timings.items():
        summary = common.latency_summary(values)
        print(f"{mode:>12}: {len(values) / sum(values):8.1f} creates/s  {common.fmt_lat(summary)}")
    on, off = sum(timings["controls on"]), sum(timings["controls off"])
    per = (on - off) / len(timings["controls on"]) * 1000
    print(f"the control checks: {100 * (on - off) / off:+.1f}% per create ({per:+.3f} ms)")


def _reads(n: int = 2000) -> None:
    """What the checks read per order, alone: the one statement (venue + SAFE modes in force),
    against a `SELECT 1` round trip and the two ORM queries it replaced, alternating."""
    from django.db import connection
    from django.db.models import Q

    from rules.controls import in_force
    from rules.models import Control
    from rules.venues import venue_state

    def orm() -> None:
        venue_state("SIM")
        scopes = (
            Q(scope="global", key="*")
            | Q(scope="venue", key="SIM")
            | Q(scope="account", key="ACC1")
            | Q(scope="symbol", key__in=["S001", "SIM:S001"])
        )
        list(
            Control.objects.filter(kind="SafeMode", active=True).filter(scopes).values_list("doc", flat=True)
        )

    def select_1() -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()

    reads = {
        "SELECT 1": select_1,
        "in_force()": lambda: in_force("SIM", "ACC1", "S001"),
        "two ORM queries": orm,
    }
    spent = dict.fromkeys(reads, 0.0)
    for _ in range(n):
        for name, read in reads.items():
            t0 = time.perf_counter()
            read()
            spent[name] += time.perf_counter() - t0
    print("per order read: " + ", ".join(f"{name} {spent[name] / n * 1000:.3f} ms" for name in reads))


def _working_book(n: int, account: str) -> list[str]:
    """n desk client orders, each with one accepted market order at MANUAL; their ids."""
    from oms.core.dispatch import dispatch

    roots = []
    for i in range(n):
        body: dict[str, Any] = {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"{account}-{i}",
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "100",
            "account": account,
            "venue": "MANUAL",
            "handling": "Desk",
        }
        parent = dispatch("orders", body, actor="desk").body["order"]
        child = {
            "commandType": "CreateOrderCommand",
            "clOrdID": f"{account}-{i}-M",
            "parentId": parent["orderId"],
            "orderQty": "10",
        }
        market = dispatch("orders", child, actor="desk").body["order"]
        dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": market["orderId"]}, actor="desk")
        roots.append(parent["orderId"])
    return roots


def kill_switch(n: int) -> None:
    """One CancelAllCommand over n trees, and the baseline: the desk cancelling the same kind of
    book order by order (CancelOrderCommand per client order, which cascades the same way)."""
    from oms.core.dispatch import dispatch

    roots = _working_book(n, f"ONE{n}")
    t0 = time.perf_counter()
    for i, order_id in enumerate(roots):
        dispatch(
            "orders",
            {"commandType": "CancelOrderCommand", "orderId": order_id, "clOrdID": f"X{n}-{i}"},
            actor="desk",
        )
    one_by_one = time.perf_counter() - t0
    _working_book(n, f"KILL{n}")
    t0 = time.perf_counter()
    answer = dispatch(
        "controls",
        {"commandType": "CancelAllCommand", "scope": "account", "key": f"KILL{n}"},
        actor="system:bench",
    )
    seconds = time.perf_counter() - t0
    record = answer.body["cancelAll"]
    touched = len(record["canceled"]) + len(record["cancelRequested"])
    print(
        f"cancel all of {n} trees ({touched} orders, {len(answer.events)} events): {seconds * 1000:.0f} ms, "
        f"{touched / seconds:.0f} orders/s; one CancelOrderCommand per tree: {one_by_one * 1000:.0f} ms, "
        f"{2 * n / one_by_one:.0f} orders/s"
    )


if __name__ == "__main__":
    main()
