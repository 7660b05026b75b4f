"""What the write path's metrics cost: `dispatch` with its timing and without, in the same run.

    .venv/bin/python -m bench.metrics_overhead [--orders 300] [--rounds 6] [--calls 600000]

Two measurements:

1. End to end, on PostgreSQL with durable commits (bench/workload.py, 5 commands per order):
   `oms.core.dispatch.dispatch` (timed: one histogram observation per command) against
   `dispatch.__wrapped__` (the same function without the decorator), interleaved in rounds
   (A B, then B A, ...) because the shared machine drifts. The difference is within the noise of
   a ~1 ms command, so (2) measures the decorator itself.
2. The decorator alone, around a stub that returns at once: ns per call for the ok path (the
   common one), in this process's mode (in-memory values, or mmap'd files when
   PROMETHEUS_MULTIPROC_DIR is set: run it both ways).

Results are printed and written to var/bench/<name>.json.
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
from collections import defaultdict
from typing import Any

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter


def _send_with(fn: Any) -> Any:
    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result = fn(topic, body, actor="bench")
        return result.status_code, result.body

    return send


def _record(label: str, seconds: float) -> None:
    pass


def end_to_end(orders: int, rounds: int, warmup: int) -> dict[str, Any]:
    from oms.core.dispatch import dispatch

    systems = {"timed": _send_with(dispatch), "untimed": _send_with(dispatch.__wrapped__)}
    tag = f"m{int(time.time()) % 100000:05d}"
    i = 0
    for send in systems.values():  # warm-up, untimed
        for _ in range(warmup):
            wl.run_order(send, _record, tag, i, CLOCK)
            i += 1
    elapsed: dict[str, float] = defaultdict(float)
    per_round: dict[str, list[float]] = defaultdict(list)
    per = max(1, orders // rounds)
    for r in range(rounds):
        order = ["timed", "untimed"] if r % 2 == 0 else ["untimed", "timed"]
        for name in order:
            t0 = CLOCK()
            for _ in range(per):
                wl.run_order(systems[name], _record, tag, i, CLOCK)
                i += 1
            secs = CLOCK() - t0
            elapsed[name] += secs
            per_round[name].append(per * wl.COMMANDS_PER_ORDER / secs)
        print(f"round {r + 1}: " + ", ".join(f"{n} {per_round[n][-1]:,.0f}/s" for n in order))
    commands = per * rounds * wl.COMMANDS_PER_ORDER
    rates = {n: commands / elapsed[n] for n in systems}
    return {
        "commands_per_system": commands,
        "commands_per_s": rates,
        "commands_per_s_by_round": dict(per_round),
        "ms_per_command": {n: elapsed[n] / commands * 1e3 for n in systems},
        "timed_over_untimed": rates["timed"] / rates["untimed"],
    }


def decorator_alone(calls: int) -> dict[str, float]:
    from oms.core import metrics
    from oms.core.dispatch import CommandResult

    answer = CommandResult(201, {"duplicate": False}, [])
    handlers = {"orders": {"CreateOrderCommand": None}}

    def stub(topic: str, body: Any, **kwargs: Any) -> CommandResult:
        return answer

    timed = metrics.timed_command(handlers.get)(stub)
    body = {"commandType": "CreateOrderCommand"}
    out = {}
    for name, fn in (("stub", stub), ("timed stub", timed)):
        # the best of many short runs: on a shared machine most long runs are preempted
        runs = timeit.repeat(
            lambda fn=fn: fn("orders", body, actor="bench"), number=2000, repeat=calls // 2000
        )
        out[name] = min(runs) / 2000 * 1e9
    out["decorator_ns_per_call"] = out["timed stub"] - out["stub"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="oms_bench_metrics")
    ap.add_argument("--orders", type=int, default=300, help="orders per variant in total")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument(
        "--calls", type=int, default=600_000, help="calls of the stub per measurement (runs of 2000)"
    )
    ap.add_argument("--name", default="metrics_overhead")
    args = ap.parse_args()

    notes = common.machine_notes()
    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        result: dict[str, Any] = {
            "machine": notes,
            "multiprocess": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
        }
        result["end_to_end"] = end_to_end(args.orders, args.rounds, args.warmup)
        result["decorator_alone"] = decorator_alone(args.calls)
    finally:
        common.drop_db(args.db)
    e2e, alone = result["end_to_end"], result["decorator_alone"]
    print(
        f"end to end: timed {e2e['commands_per_s']['timed']:,.0f}/s, untimed {e2e['commands_per_s']['untimed']:,.0f}/s "
        f"(ratio {e2e['timed_over_untimed']:.3f}; {e2e['ms_per_command']['timed']:.3f} vs "
        f"{e2e['ms_per_command']['untimed']:.3f} ms per command)"
    )
    print(
        f"decorator alone: {alone['decorator_ns_per_call']:,.0f} ns per command "
        f"(stub {alone['stub']:,.0f} ns, timed stub {alone['timed stub']:,.0f} ns; "
        f"multiprocess={result['multiprocess']})"
    )
    print(f"\nresults: {common.save_result(args.name, result)}")


if __name__ == "__main__":
    main()
