"""Replay speed: `oms.core.replay` verify in events/s beside raw psycopg streaming the same rows.

    .venv/bin/python -m bench.replay [--reuse-db] [--orders 1500] [--repeat 3]

The history: with --reuse-db, the database bench/commands.py left behind (`--keep-db`); else a
fresh one filled through `dispatch` with the bench/workload.py sequence (10 events per order).
Timed, interleaved, --repeat times each:

- replay:     `oms.core.replay.replay()` (verify: fold every event with the live `apply`, compare
              with each event's stored `state`, the state rows and the ClOrdID index);
- command:    `call_command("replay", "--verify")` once per repeat (the same, through the CLI);
- raw events: psycopg 3, a server-side cursor (itersize 2000, as replay's chunk size) streaming
              aggregate_id, version, type, data, occurred_at, recorded_at, state of every event
              table in (aggregate_id, version) order: the read floor (jsonb decoded by psycopg);
- raw events + state rows: the same plus streaming every state table's rows.

events/s = events in the event tables / seconds. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import defaultdict
from typing import Any

import psycopg

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter


def build_history(orders: int) -> None:
    from oms.core.dispatch import dispatch

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = dispatch(topic, body, actor="bench")
        return r.status_code, r.body

    t0 = CLOCK()
    lat: dict[str, list[float]] = defaultdict(list)
    for i in range(orders):
        wl.run_order(send, lambda label, s: lat[label].append(s), "rp", i, CLOCK)
    print(
        f"built a history of {orders} orders ({orders * wl.EVENTS_PER_ORDER} events) in {CLOCK() - t0:.1f} s"
    )


def raw_stream(dbname: str, tables: list[str], state_tables: list[str]) -> tuple[int, float]:
    t0 = CLOCK()
    n = 0
    with psycopg.connect(common.conninfo(dbname)) as conn:
        for table in tables:
            with conn.cursor(name=f"bench_{table}") as cur:
                cur.itersize = 2000
                cur.execute(
                    f"SELECT aggregate_id, version, type, data, occurred_at, recorded_at, state FROM {table} "
                    "ORDER BY aggregate_id, version"
                )
                for _ in cur:
                    n += 1
        for table in state_tables:
            with conn.cursor(name=f"bench_{table}") as cur:
                cur.itersize = 2000
                cur.execute(f"SELECT * FROM {table}")
                for _ in cur:
                    pass
    return n, CLOCK() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB)
    ap.add_argument(
        "--reuse-db", action="store_true", help="use the history bench/commands.py --keep-db left"
    )
    ap.add_argument("--orders", type=int, default=1500, help="history size when building one")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    notes = common.machine_notes()
    reused = args.reuse_db and common.db_exists(args.db)
    if not reused:
        common.create_db(args.db)
    try:
        result = _run(args, notes, reused)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)
    path = common.save_result("replay", result)
    print(f"\nresults: {path}")


def _run(args: argparse.Namespace, notes: dict[str, Any], reused: bool) -> dict[str, Any]:
    common.django_setup(args.db, migrate=True)
    from django.core.management import call_command
    from django.db import connection

    from oms.core.eventstore import aggregate_types

    try:
        from oms.core.replay import replay
    except ImportError:  # the module is not there: time the management command alone
        replay = None

    if not reused:
        build_history(args.orders)
    tables = [a.event_model._meta.db_table for a in aggregate_types()]
    state_tables = [a.state_model._meta.db_table for a in aggregate_types()]
    with connection.cursor() as cur:
        cur.execute(" + ".join(f"(SELECT count(*) FROM {t})" for t in tables).join(["SELECT ", ""]))
        events = int(cur.fetchone()[0])
    print(f"history: {events:,} events in {', '.join(tables)} ({'reused' if reused else 'built'})")

    # warm-up: one raw pass and one replay (caches, imports)
    raw_stream(args.db, tables, [])
    call_command("replay", "--verify", stdout=io.StringIO())  # raises CommandError on a difference
    report = None

    runs: dict[str, list[float]] = defaultdict(list)  # events/s
    for r in range(args.repeat):
        n, secs = raw_stream(args.db, tables, [])
        assert n == events, (n, events)
        runs["raw events"].append(n / secs)
        if replay is not None:
            report = replay()
            assert report.ok and report.events == events, (report.difference_count, report.events, events)
            runs["replay() verify"].append(report.events / report.seconds)
        t = CLOCK()
        call_command("replay", "--verify", stdout=io.StringIO())
        runs["manage.py replay --verify"].append(events / (CLOCK() - t))
        n, secs = raw_stream(args.db, tables, state_tables)
        runs["raw events + state rows"].append(n / secs)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in runs.items()))

    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med["raw events"]
    common.print_table(
        ["path", "events/s (median)", "per repeat", "/ raw events"],
        [
            [k, f"{med[k]:,.0f}", " / ".join(f"{x:,.0f}" for x in v), f"{med[k] / base:.3f}"]
            for k, v in runs.items()
        ],
    )
    return {
        "machine": notes,
        "events": events,
        "reused_commands_db": reused,
        "repeat": args.repeat,
        "events_per_s": runs,
        "median_events_per_s": med,
        "per_type_seconds_last": (
            {t.name: {"events": t.events, "seconds": t.seconds} for t in report.types} if report else {}
        ),
    }


if __name__ == "__main__":
    main()
