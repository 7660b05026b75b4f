"""The sustained write run (issue 9, item 5): the bench mix for minutes on end, as the tables grow.

    nice .venv/bin/python -m bench.sustained [--minutes 10] [--interval 60] [--writers 2] \
        [--preload 1000000] [--threads]
    smoke:  .venv/bin/python -m bench.sustained --minutes 0.5 --interval 10 --preload 20000

Writer processes (or threads, `--threads`), each driving the bench/workload.py order sequence (5
commands, one durable transaction each) for `--minutes`; per interval: commands/s, p50 and p99 of
a command, and the events in the tables (PostgreSQL's live-tuple counts). `--preload N` first
fills the event tables to about N events (copies of a few hundred real orders' events, new
aggregate ids, seq moved past them: bench/publisher.py's `multiply_history`), so the run writes
into tables of a million events from its first minute and any slowdown with table size shows as a
falling line, not as noise. The state tables grow only with the run itself.
The bench database is created and dropped (--db; BENCH_PG* for the server).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time
from typing import Any

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter


def _drive(tag: str, seconds: float, barrier: Any, t0_box: list[float]) -> list[tuple[float, float]]:
    """One writer: orders through dispatch until the time is up; [(time since start, latency)]."""
    from django.db import connections

    from oms.core.dispatch import dispatch

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result = dispatch(topic, body, actor="bench")
        return result.status_code, result.body

    samples: list[tuple[float, float]] = []
    wl.run_order(send, lambda *_: None, f"{tag}w", 0, CLOCK)  # warm this connection
    barrier.wait()
    start = time.time()  # wall clock: shared by processes
    end = CLOCK() + seconds
    i = 1
    try:
        while CLOCK() < end:
            wl.run_order(send, lambda _label, s: samples.append((time.time() - start, s)), tag, i, CLOCK)
            i += 1
    finally:
        connections.close_all()
    t0_box.append(start)
    return samples


def _process_main(dbname: str, tag: str, seconds: float, barrier: Any, out: Any) -> None:
    common.django_setup(dbname, migrate=False)
    box: list[float] = []
    out.put(_drive(tag, seconds, barrier, box))


def _table_events() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE relname LIKE '%%_events'"
        )
        return int(cur.fetchone()[0])


def _sample_tables(stop: threading.Event, interval: float, sizes: list[tuple[float, int]]) -> None:
    from django.db import connections

    began = time.time()
    try:
        while not stop.wait(interval):
            sizes.append((time.time() - began, _table_events()))
    finally:
        connections.close_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="oms_bench_sustained")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds per reported interval")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--threads", action="store_true", help="writer threads in this process, not processes")
    ap.add_argument("--preload", type=int, default=1_000_000, help="events in the tables before the run")
    ap.add_argument("--name", default="sustained")
    args = ap.parse_args()
    seconds = args.minutes * 60

    notes = common.machine_notes()
    notes["durable"] = common.check_durable()
    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        from django.db import connections

        from bench.publisher import multiply_history

        tag = f"s{int(time.time()) % 100000:05d}"
        if args.preload:
            t = CLOCK()
            for i in range(200):  # the real orders whose events are copied
                wl.run_order(_send, lambda *_: None, f"{tag}pre", i, CLOCK)
            multiply_history(args.preload)
            print(f"preloaded {_table_events():,} events in {CLOCK() - t:.0f} s", flush=True)
        connections.close_all()
        before = _table_events()

        sizes: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_tables, args=(stop, args.interval, sizes))
        samples: list[tuple[float, float]] = []
        if args.threads:
            barrier: Any = threading.Barrier(args.writers + 1)
            results: list[list[tuple[float, float]]] = []
            box: list[float] = []
            writers = [
                threading.Thread(
                    target=lambda k=k: results.append(_drive(f"{tag}t{k}", seconds, barrier, box))
                )
                for k in range(args.writers)
            ]
            for w in writers:
                w.start()
            barrier.wait()
            sampler.start()
            for w in writers:
                w.join()
        else:
            ctx = mp.get_context("spawn")
            barrier = ctx.Barrier(args.writers + 1)
            out = ctx.Queue()
            procs = [
                ctx.Process(target=_process_main, args=(args.db, f"{tag}p{k}", seconds, barrier, out))
                for k in range(args.writers)
            ]
            for p in procs:
                p.start()
            barrier.wait()
            sampler.start()
            results = [out.get() for _ in procs]
            for p in procs:
                p.join()
        stop.set()
        sampler.join()
        for one in results:
            samples.extend(one)

        intervals = max(1, round(seconds / args.interval))
        rows: list[list[str]] = []
        per: list[dict[str, Any]] = []
        for k in range(intervals):
            lo, hi = k * args.interval, (k + 1) * args.interval
            lat = [s for t, s in samples if lo <= t < hi]
            summary = common.latency_summary(lat) if lat else {"p50_ms": float("nan"), "p99_ms": float("nan")}
            events = next((n for t, n in sizes if t >= hi - 1), sizes[-1][1] if sizes else before)
            rate = len(lat) / args.interval
            per.append({"interval": k + 1, "commands_per_s": rate, **summary, "events_in_tables": events})
            rows.append(
                [
                    f"{hi / 60:.1f}",
                    f"{rate:,.0f}",
                    f"{summary['p50_ms']:.1f}",
                    f"{summary['p99_ms']:.1f}",
                    f"{events:,}",
                ]
            )
        print(
            f"\nSustained write run: {args.writers} writer {'threads' if args.threads else 'processes'}, "
            f"{args.minutes:g} min, {before:,} events in the tables at the start"
        )
        common.print_table(["minute", "commands/s", "p50 ms", "p99 ms", "events in tables"], rows)
        if len(per) > 1:
            print(
                f"last / first interval: {per[-1]['commands_per_s'] / max(per[0]['commands_per_s'], 1e-9):.2f}"
            )
        result = {
            "machine": notes,
            "writers": args.writers,
            "threads": args.threads,
            "minutes": args.minutes,
            "events_at_start": before,
            "intervals": per,
        }
    finally:
        common.drop_db(args.db)
    path = common.save_result(args.name, result)
    print(f"\nresults: {path}")


def _send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from oms.core.dispatch import dispatch

    result = dispatch(topic, body, actor="bench")
    return result.status_code, result.body


if __name__ == "__main__":
    main()
