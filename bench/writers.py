"""Concurrent writers: do commits share WAL flushes (group commit)? The OMS beside pgbench, one run.

    .venv/bin/python -m bench.writers [--seconds 8] [--writers 1,4] [--pgbench-seconds 5]

OMS: N writer threads in one process, then N writer processes (each its own Django and
connection), each driving the bench/workload.py order sequence (5 commands, one durable
transaction each) for --seconds; commands/s over all writers and p50/p99 per command.

Baseline in the same run, pgbench with 1 and N clients (prepared statements, durable commits),
one transaction per command shaped like the OMS's:
- `state+event`:       a state-row upsert and an event insert (what the issue's figure measured);
- `state+seq+event`:   the same plus the OMS's one-row sequence advance held to commit, which is
                       what lets a tailing reader never skip an event (docs/architecture.md);
- the latter again with `commit_delay=200` (microseconds; superuser-only, session-set here).
The bench database is created and dropped (--db; BENCH_PG* for the server).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from typing import Any

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter


def _drive(tag: str, seconds: float, barrier: Any) -> tuple[int, dict[str, list[float]]]:
    """One writer: orders through dispatch until the time is up; (commands, latencies)."""
    from django.db import connections

    from oms.core.dispatch import dispatch

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        result = dispatch(topic, body, actor="bench")
        return result.status_code, result.body

    lat: dict[str, list[float]] = defaultdict(list)
    wl.run_order(send, lambda *_: None, f"{tag}w", 0, CLOCK)  # warm this connection
    barrier.wait()
    end = CLOCK() + seconds
    n, i = 0, 1
    try:
        while CLOCK() < end:
            wl.run_order(send, lambda label, s: lat[label].append(s), tag, i, CLOCK)
            n += wl.COMMANDS_PER_ORDER
            i += 1
    finally:
        connections.close_all()
    return n, lat


def _process_main(dbname: str, tag: str, seconds: float, barrier: Any, out: Any) -> None:
    common.django_setup(dbname, migrate=False)
    n, lat = _drive(tag, seconds, barrier)
    out.put((n, dict(lat)))


def run_threads(writers: int, seconds: float, tag: str) -> tuple[float, dict[str, list[float]]]:
    barrier = threading.Barrier(writers + 1)
    results: list[tuple[int, dict[str, list[float]]]] = []
    threads = [
        threading.Thread(target=lambda k=k: results.append(_drive(f"{tag}t{k}", seconds, barrier)))
        for k in range(writers)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = CLOCK()
    for t in threads:
        t.join()
    return _total(results, CLOCK() - t0)


def run_processes(
    writers: int, seconds: float, tag: str, dbname: str
) -> tuple[float, dict[str, list[float]]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(writers + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(dbname, f"{tag}p{k}", seconds, barrier, out))
        for k in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = CLOCK()
    results = [out.get() for _ in procs]
    wall = CLOCK() - t0
    for p in procs:
        p.join()
    return _total(results, wall)


def _total(
    results: list[tuple[int, dict[str, list[float]]]], wall: float
) -> tuple[float, dict[str, list[float]]]:
    lat: dict[str, list[float]] = defaultdict(list)
    for _, one in results:
        for k, v in one.items():
            lat[k].extend(v)
    return sum(n for n, _ in results) / wall, lat


_PGBENCH_SETUP = """
CREATE TABLE IF NOT EXISTS pgb_state (id text PRIMARY KEY, version int NOT NULL, doc jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS pgb_events (seq bigint PRIMARY KEY, aggregate_id text NOT NULL,
    version int NOT NULL, data jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS pgb_events_noseq (id bigserial PRIMARY KEY, aggregate_id text NOT NULL,
    version int NOT NULL, data jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS pgb_seq (id int PRIMARY KEY, last_seq bigint NOT NULL);
"""
_STATE = (
    'INSERT INTO pgb_state VALUES (\'o\' || :client_id || \'-\' || :n, 1, \'{"status": "New", "qty": "100"}\') '
    "ON CONFLICT (id) DO UPDATE SET version = pgb_state.version + 1, doc = excluded.doc;\n"
)
_SCRIPTS = {
    "state+event": "\\set n random(1, 100000)\nBEGIN;\n"
    + _STATE
    + "INSERT INTO pgb_events_noseq (aggregate_id, version, data) VALUES ('o' || :client_id, :n, '{\"qty\": \"50\"}');\n"
    "COMMIT;\n",
    "state+seq+event": "\\set n random(1, 100000)\nBEGIN;\n"
    + _STATE
    + "INSERT INTO pgb_seq VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET last_seq = pgb_seq.last_seq + 1;\n"
    "INSERT INTO pgb_events SELECT last_seq, 'o' || :client_id, :n, '{\"qty\": \"50\"}' FROM pgb_seq WHERE id = 1;\n"
    "COMMIT;\n",
}


def pgbench(dbname: str, script: str, clients: int, seconds: int, options: str = "") -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(_SCRIPTS[script])
    env = dict(os.environ, PGOPTIONS=options) if options else dict(os.environ)
    if common.PG_PASSWORD:
        env["PGPASSWORD"] = common.PG_PASSWORD
    cmd = [
        "pgbench", "-n", "-M", "prepared", "-h", common.PG_HOST, "-p", common.PG_PORT, "-U", common.PG_USER,
        "-c", str(clients), "-j", str(clients), "-T", str(seconds), "-r", "-f", f.name, dbname,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    out = done.stdout
    os.unlink(f.name)
    tps = next(float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("tps"))
    lat = next(
        (
            float(line.split("=")[1].split()[0])
            for line in out.splitlines()
            if line.startswith("latency average")
        ),
        float("nan"),
    )
    return {"tps": tps, "latency_avg_ms": lat}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="oms_bench_writers")
    ap.add_argument("--seconds", type=float, default=8.0, help="per OMS phase")
    ap.add_argument("--writers", default="1,4", help="writer counts, e.g. 1,4")
    ap.add_argument("--pgbench-seconds", type=int, default=5)
    ap.add_argument("--skip-processes", action="store_true")
    ap.add_argument("--name", default="writers")
    args = ap.parse_args()
    counts = [int(x) for x in args.writers.split(",")]

    notes = common.machine_notes()
    notes["durable"] = common.check_durable()
    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        from django.db import connection, connections

        with connection.cursor() as cur:
            cur.execute(_PGBENCH_SETUP)
        connections.close_all()
        tag = f"w{int(time.time()) % 100000:05d}"
        rows: list[list[str]] = []
        result: dict[str, Any] = {"machine": notes, "oms": {}, "pgbench": {}}
        for script in _SCRIPTS:
            for clients in counts:
                r = pgbench(args.db, script, clients, args.pgbench_seconds)
                result["pgbench"][f"{script} x{clients}"] = r
                rows.append(
                    [f"pgbench {script}", str(clients), f"{r['tps']:,.0f}", f"avg {r['latency_avg_ms']:.2f}"]
                )
        delayed = "-c commit_delay=200 -c commit_siblings=2"
        r = pgbench(args.db, "state+seq+event", max(counts), args.pgbench_seconds, delayed)
        result["pgbench"][f"state+seq+event x{max(counts)} commit_delay=200"] = r
        rows.append(
            [
                f"pgbench state+seq+event, {delayed}",
                str(max(counts)),
                f"{r['tps']:,.0f}",
                f"avg {r['latency_avg_ms']:.2f}",
            ]
        )
        modes = ["threads"] + ([] if args.skip_processes else ["processes"])
        for mode in modes:
            for writers in counts:
                if mode == "threads":
                    rate, lat = run_threads(writers, args.seconds, f"{tag}{mode}{writers}")
                else:
                    rate, lat = run_processes(writers, args.seconds, f"{tag}{mode}{writers}", args.db)
                all_lat = common.latency_summary(v for vs in lat.values() for v in vs)
                result["oms"][f"{mode} x{writers}"] = {
                    "commands_per_s": rate,
                    "latency": {k: common.latency_summary(v) for k, v in lat.items()},
                    "all": all_lat,
                }
                rows.append(
                    [
                        f"OMS dispatch, {mode}",
                        str(writers),
                        f"{rate:,.0f}",
                        f"p50 {all_lat['p50_ms']:.2f} / p99 {all_lat['p99_ms']:.2f}",
                    ]
                )
                print(rows[-1])
        print("\nConcurrent writers (durable commits; one transaction per command)")
        common.print_table(["system", "writers / clients", "tx (commands)/s", "latency ms"], rows)
    finally:
        common.drop_db(args.db)
    path = common.save_result(args.name, result)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
