"""Event publication: commit -> Redis Stream lag, and backlog drain throughput beside Redis floors.

    .venv/bin/python -m bench.publisher [--seconds 15] [--rate 100] [--backlog 50000] [--rounds 2]

Needs PostgreSQL (as every benchmark) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/2; keys under a private prefix, deleted at the end).

1. Lag. One writer thread commits orders through `dispatch` (bench/workload.py: 5 commands,
   10 events per order) at a steady --rate commands/s for --seconds, while `manage.py
   publish_events --sink streams` runs as a separate process and a consumer thread XREADs both
   streams with BLOCK. Lag per event = arrival in the consumer (time.time()) - the moment
   `dispatch` returned after the commit (time.time() in the writer; same machine clock).
   Measured with the publisher's default idle poll (50 ms) and with --poll-ms 5.
2. Drain. The history is multiplied (copies of the event rows with fresh aggregate ids and seq,
   written with SQL) to --backlog events; then, interleaved over --rounds, each timed on the
   same machine in the same run:
   - publisher: `Publisher([RedisStreamSink]).drain()` from cursor 0 on a fresh prefix: the code
     the command runs (read a batch of 500 with one UNION ALL, MULTI/EXEC XADD with explicit
     ids, advance the cursor);
   - read floor: `read_events(..., as_json=True)` (the stream sink's read) over the same backlog in
     batches of 500, nothing published (database and Python only);
   - redis-py floor: the same payloads, pre-encoded, MULTI/EXEC batches of 500 XADD with explicit
     ids (the Redis side of the sink with nothing else);
   - redis-benchmark: `XADD key * event <payload of the median event size>`, one client
     pipelining 500 (`-c 1 -P 500`), and 50 clients unpipelined (`-c 50 -P 1`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
BATCH = 500


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


# --- 1. lag ------------------------------------------------------------------------------------------


def lag_phase(
    dbname: str, prefix: str, seconds: float, rate: float, poll_ms: int, tag: str
) -> dict[str, Any]:
    from oms.core.dispatch import dispatch

    env = {
        **common.django_env(dbname),
        "OMS_STREAM_REDIS_URL": REDIS_URL,
        "OMS_STREAM_PREFIX": prefix,
        "OMS_EVENT_SINKS": "streams",
        "OMS_INPROCESS_WORKERS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    publisher = subprocess.Popen(
        [sys.executable, "manage.py", "publish_events", "--sink", "streams", "--poll-ms", str(poll_ms)],
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert publisher.stdout is not None
    line = publisher.stdout.readline()
    if "started" not in line:
        publisher.kill()
        sys.exit(f"publisher did not start: {line}{publisher.stdout.read()}")
    # the publisher catches up with what earlier phases left before the clock starts
    client = _redis()
    from oms.core.publishing import last_seq

    start_seq = last_seq()
    while start_seq and int(client.zscore(prefix + "oms-publisher:watermark", "seq") or 0) < start_seq:
        time.sleep(0.05)

    committed: dict[int, float] = {}
    arrived: dict[int, float] = {}
    stop = threading.Event()

    def consume() -> None:
        reader = _redis()
        ids = {prefix + "order-events": f"{start_seq}-0", prefix + "execution-events": f"{start_seq}-0"}
        while not stop.is_set() or len(arrived) < len(committed):
            got = reader.xread(ids, count=1000, block=200)
            now = time.time()
            for stream, entries in got:
                for entry_id, _ in entries:
                    arrived[int(entry_id.split(b"-")[0])] = now
                ids[stream.decode()] = entries[-1][0].decode()
            if stop.is_set() and not got:
                break
        reader.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()

    def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = dispatch(topic, body, actor="bench")
        now = time.time()
        for e in r.events:
            committed[e["seq"]] = now
        return r.status_code, r.body

    interval = 1.0 / rate
    t0 = CLOCK()
    n_commands = 0
    i = 0
    while CLOCK() - t0 < seconds:
        # paced per command: a steady stream, not bursts of five
        def paced(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            nonlocal n_commands
            due = t0 + n_commands * interval
            delay = due - CLOCK()
            if delay > 0:
                time.sleep(delay)
            n_commands += 1
            return send(topic, body)

        wl.run_order(paced, lambda label, s: None, tag, i, CLOCK)
        i += 1
    elapsed = CLOCK() - t0
    deadline = time.monotonic() + 30
    while len(arrived) < len(committed) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    consumer.join(timeout=10)
    publisher.terminate()
    out, _ = publisher.communicate(timeout=20)
    client.close()
    lags = [arrived[s] - committed[s] for s in committed if s in arrived]
    missing = len(committed) - len(lags)
    return {
        "poll_ms": poll_ms,
        "commands": n_commands,
        "commands_per_s": n_commands / elapsed,
        "events": len(committed),
        "missing": missing,
        "publisher_exit": publisher.returncode,
        "publisher_log_tail": out[-500:],
        "lag": common.latency_summary(lags),
    }


# --- 2. drain -------------------------------------------------------------------------------------------


def multiply_history(target: int) -> int:
    """Copy the event rows (fresh aggregate ids, seq shifted) until the feed holds `target` events."""
    from django.db import connection, transaction

    from oms.core.eventstore import aggregate_types
    from oms.core.publishing import last_seq

    base = last_seq()
    copies = max(0, -(-target // base) - 1)
    with transaction.atomic(), connection.cursor() as cur:
        for agg in aggregate_types():
            model = agg.event_model
            cols = [f.column for f in model._meta.concrete_fields if not f.primary_key]
            table = model._meta.db_table
            select = ", ".join(
                "seq + %s" if c == "seq" else ("aggregate_id || %s" if c == "aggregate_id" else c)
                for c in cols
            )
            for k in range(1, copies + 1):
                cur.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} WHERE seq <= %s",
                    [k * base, f"~{k}", base],
                )
        cur.execute("UPDATE oms_event_sequence SET last_seq = %s WHERE id = 1", [base * (copies + 1)])
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return last_seq()


def drain_publisher(prefix: str) -> tuple[int, float]:
    from oms.core.publishing import Publisher, RedisStreamSink

    sink = RedisStreamSink(url=REDIS_URL, prefix=prefix, maxlen=0, batch_size=BATCH)
    t0 = CLOCK()
    n = asyncio.run(Publisher([sink]).drain(max_seconds=3600))
    return n, CLOCK() - t0


def read_floor() -> tuple[int, float]:
    from oms.core.publishing import read_events

    t0 = CLOCK()
    cursor, n = 0, 0
    while batch := read_events(cursor, BATCH, True):  # as the stream sink reads (as_json)
        n += len(batch)
        cursor = batch[-1]["seq"]
    return n, CLOCK() - t0


def redis_py_floor(prefix: str, events: list[dict[str, Any]]) -> tuple[int, float]:
    payloads = [
        (
            prefix + e["topic"],
            f"{e['seq']}-0",
            {
                "type": e["type"],
                "aggregateId": e["aggregateId"],
                "version": e["version"],
                "event": json.dumps(e, separators=(",", ":"), default=str),
            },
        )
        for e in events
    ]
    client = _redis()
    t0 = CLOCK()
    for i in range(0, len(payloads), BATCH):
        pipe = client.pipeline(transaction=True)
        for stream, entry_id, fields in payloads[i : i + BATCH]:
            pipe.xadd(stream, fields, id=entry_id)
        pipe.execute()
    elapsed = CLOCK() - t0
    client.close()
    return len(payloads), elapsed


def redis_benchmark(key: str, payload_size: int, clients: int, pipeline: int, n: int) -> float | None:
    from urllib.parse import urlparse

    u = urlparse(REDIS_URL)
    db = (u.path or "/0").lstrip("/") or "0"
    cmd = [
        "redis-benchmark", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379), "--dbnum", db,
        "-q", "-n", str(n), "-c", str(clients), "-P", str(pipeline), "XADD", key, "*", "event", "x" * payload_size,
    ]  # fmt: skip
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False).stdout
    except FileNotFoundError:
        return None
    found = re.findall(r"([\d.]+) requests per second", out)
    return float(found[-1]) if found else None


# --- main ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="oms_bench_publisher")
    ap.add_argument("--seconds", type=float, default=15.0, help="lag phase length (each poll setting)")
    ap.add_argument("--rate", type=float, default=100.0, help="writer commands/s in the lag phase")
    ap.add_argument("--backlog", type=int, default=50_000, help="events to drain")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    notes = common.machine_notes()
    common.create_db(args.db)
    run_prefix = f"bench-pub-{uuid.uuid4().hex[:8]}:"
    try:
        os.environ["OMS_STREAM_REDIS_URL"] = REDIS_URL
        common.django_setup(args.db, migrate=True)
        result = run(args, run_prefix)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(args.db)
        client = _redis()
        keys = list(client.scan_iter(match=f"{run_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    result["machine"] = notes
    path = common.save_result("publisher", result)
    print(f"\nresults: {path}")


def run(args: argparse.Namespace, run_prefix: str) -> dict[str, Any]:
    from oms.core.publishing import read_events

    lag = []
    for k, poll in enumerate((50, 5)):
        r = lag_phase(args.db, run_prefix + f"lag{k}:", args.seconds, args.rate, poll, f"lag{k}")
        lag.append(r)
        print(
            f"lag, publisher poll {poll} ms: {r['commands_per_s']:.0f} commands/s, {r['events']} events, "
            f"missing {r['missing']}: {common.fmt_lat(r['lag'])}"
        )

    total = multiply_history(args.backlog)
    events = read_events(0, total + 1)
    sizes = sorted(len(json.dumps(e, separators=(",", ":"), default=str)) for e in events)
    median = int(statistics.median(sizes))
    print(f"\nbacklog: {total} events, median event JSON {median} bytes")

    rows: dict[str, list[float]] = {
        "publisher": [],
        "read": [],
        "redis-py": [],
        "rb-1x500": [],
        "rb-50x1": [],
    }
    systems = list(rows)
    for rnd in range(args.rounds):
        order = systems[rnd % len(systems) :] + systems[: rnd % len(systems)]
        for system in order:
            prefix = f"{run_prefix}d{rnd}-{system}:"
            if system == "publisher":
                n, s = drain_publisher(prefix)
                assert n == total, (n, total)
                rate = n / s
            elif system == "read":
                n, s = read_floor()
                rate = n / s
            elif system == "redis-py":
                n, s = redis_py_floor(prefix, events)
                rate = n / s
            elif system == "rb-1x500":
                rate = redis_benchmark(prefix + "rb", median, 1, BATCH, 200_000) or float("nan")
            else:
                rate = redis_benchmark(prefix + "rb", median, 50, 1, 100_000) or float("nan")
            rows[system].append(rate)
            print(f"round {rnd + 1}: {system:<10} {rate:>10,.0f} events/s")
            client = _redis()
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()

    labels = {
        "publisher": "publisher drain (read + XADD + cursor)",
        "read": "read floor: read_events batches of 500",
        "redis-py": "redis-py floor: MULTI/EXEC 500 XADD, explicit ids",
        "rb-1x500": "redis-benchmark XADD, 1 client, pipeline 500",
        "rb-50x1": "redis-benchmark XADD, 50 clients, no pipeline",
    }
    pub = statistics.fmean(rows["publisher"])
    print()
    common.print_table(
        ["system", "events/s (mean)", "per round", "publisher / this"],
        [
            [
                labels[s],
                f"{statistics.fmean(v):,.0f}",
                " / ".join(f"{x:,.0f}" for x in v),
                f"{pub / statistics.fmean(v):.2f}",
            ]
            for s, v in rows.items()
        ],
    )
    return {"lag": lag, "backlog": total, "median_event_bytes": median, "drain": rows, "batch": BATCH}


if __name__ == "__main__":
    main()
