"""What positions cost per fill: ExecuteOrderCommand with the positions projector on and off.

    .venv/bin/python -m bench.positions [--fills 300] [--rounds 4] [--accounts 50] [--deep 2000]

In one run, on a fresh PostgreSQL database (oms_bench_positions, dropped after; durable commits):
`--accounts` accounts each get a buy and a sell market order of 10^9 at a desk venue, accepted.
Then fills (`dispatch("executions", ExecuteOrderCommand)`, alternating accounts and sides) are
timed in interleaved rounds (on/off, then off/on: the shared machine drifts) with the projector
registered (the position and its open orders updated in the fill's transaction: a position row
locked and rewritten, one more event) and unregistered (`unregister_projector`: the fill as before
positions existed). Last, a position after `--deep` fills (at most MAX_LIVE_FILLS of them live,
the rest folded into its base): a fill there, and a bust of its oldest fill (reversed at the end)
and of a recent one (the live fills re-folded).
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from bench import _common as common

DB = "oms_bench_positions"
VENUE = "XV"
_ids = itertools.count(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=300, help="fills per mode and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--deep", type=int, default=2000, help="live fills of the deep position")
    args = parser.parse_args()
    common.create_db(DB)
    try:
        common.django_setup(DB)
        result = run(args.fills, args.rounds, args.accounts, args.deep)
        result["durability"] = common.check_durable()
        result["machine"] = common.machine_notes()
        print(f"saved {common.save_result('positions', result)}")
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)


def _cmd(topic: str, **body: Any) -> dict[str, Any]:
    from oms.core.dispatch import dispatch

    return dispatch(topic, body, actor="bench").body


def _market_order(account: str, side: str) -> str:
    parent = _cmd(
        "orders",
        commandType="CreateOrderCommand",
        clOrdID=f"C{next(_ids)}",
        symbol="ACME",
        side=side,
        orderQty="1000000000",
        ordType="Limit",
        price="1000" if side == "Buy" else "1",
        timeInForce="GTC",
        account=account,
        venue=VENUE,
        handling="Desk",
    )["order"]["orderId"]
    child = _cmd(
        "orders",
        commandType="CreateOrderCommand",
        clOrdID=f"M{next(_ids)}",
        parentId=parent,
        orderQty="1000000000",
        venue=VENUE,
    )["order"]["orderId"]
    _cmd("orders", commandType="AcceptOrderCommand", orderId=child)
    return str(child)


def _fill(order_id: str, px: str = "100") -> tuple[float, str]:
    from oms.core.dispatch import dispatch

    body = {
        "commandType": "ExecuteOrderCommand",
        "orderId": order_id,
        "execID": f"X{next(_ids)}",
        "lastQty": "1",
        "lastPx": px,
        "venue": VENUE,
    }
    t0 = time.perf_counter()
    result = dispatch("executions", body, actor="bench")
    return time.perf_counter() - t0, str(result.body["execution"]["executionId"])


def run(fills: int, rounds: int, accounts: int, deep: int) -> dict[str, Any]:
    from oms.core.eventstore import register_projector, unregister_projector
    from oms.orders.repository import ORDER
    from oms.positions.projection import on_order_event

    orders = [(_market_order(f"A{a}", "Buy"), _market_order(f"A{a}", "Sell")) for a in range(accounts)]
    targets = itertools.cycle([o for pair in orders for o in pair])
    for _ in range(50):  # warm-up: caches, prepared statements, both modes
        _fill(next(targets))
    timings: dict[str, list[float]] = {"positions on": [], "positions off": []}
    for r in range(rounds):
        modes = ["positions on", "positions off"] if r % 2 == 0 else ["positions off", "positions on"]
        for mode in modes:
            if mode == "positions on":
                register_projector(ORDER.name, on_order_event)
            else:
                unregister_projector(ORDER.name, on_order_event)
            for _ in range(fills):
                timings[mode].append(_fill(next(targets))[0])
    register_projector(ORDER.name, on_order_event)
    summary = {mode: common.latency_summary(values) for mode, values in timings.items()}
    for mode, values in timings.items():
        print(f"{mode:>14}: {len(values) / sum(values):8.1f} fills/s  {common.fmt_lat(summary[mode])}")
    on, off = summary["positions on"], summary["positions off"]
    added_ms = on["mean_ms"] - off["mean_ms"]
    print(f"positions add {added_ms:.3f} ms per fill ({100 * added_ms / off['mean_ms']:+.1f}%) on the mean")

    # the deep position: its live fills are rewritten with every fill, and a bust re-folds them
    buy, sell = _market_order("DEEP", "Buy"), _market_order("DEEP", "Sell")
    from oms.core.dispatch import dispatch
    from oms.positions.state import MAX_LIVE_FILLS

    executed = [_fill(buy if i % 2 == 0 else sell, px=str(100 + i % 7))[1] for i in range(deep)]
    at_depth = [_fill(buy if i % 2 == 0 else sell)[0] for i in range(100)]
    busts = {}
    for label, execution_id in (
        ("oldest (in the base: reversed at the end)", executed[0]),
        ("a live one (re-folds the live fills)", executed[-50]),
    ):
        t0 = time.perf_counter()
        dispatch(
            "executions", {"commandType": "BustExecutionCommand", "executionId": execution_id}, actor="bench"
        )
        busts[label] = (time.perf_counter() - t0) * 1e3
    deep_summary = common.latency_summary(at_depth)
    print(
        f"fill on a position after {deep} fills (at most {MAX_LIVE_FILLS} live): {common.fmt_lat(deep_summary)}"
    )
    for label, ms in busts.items():
        print(f"bust of {label}: {ms:.2f} ms")
    return {
        "fills_per_mode": fills * rounds,
        "accounts": accounts,
        "summary": summary,
        "added_ms_per_fill": added_ms,
        "deep": {"fills": deep, "max_live_fills": MAX_LIVE_FILLS, "fill": deep_summary, "bust_ms": busts},
    }


if __name__ == "__main__":
    main()
