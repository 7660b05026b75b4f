"""Session recording and replay: what recording costs a command, off and on, and how fast a
recorded session replays.

    .venv/bin/python -m bench.session_replay [--orders 200] [--rounds 4]

In one run, on fresh PostgreSQL databases (oms_bench_session, oms_bench_session_replay; durable
commits; dropped after):

1. the clock and id source alone: `ambient.now()` against `datetime.now(UTC)` and `new_id` against
   the same expression without `ambient.unique`, no tape installed (the "off" cost of every
   command's reads), in interleaved rounds;
2. the write path: one unit = a desk client order, its market child at a venue without adapter,
   accepted, filled (4 commands), timed per command in interleaved rounds with recording off and
   on (to a file under var/bench/), and with `--turn REDIS_URL` also on across processes: the
   recorder takes the cross-process turn (PostgreSQL advisory lock, Redis step counter) around
   each command, as a Celery deployment's processes do (Celery set not eager for that mode; the
   unit enqueues no task);
3. the replay: one round's recorded session replayed by
   `manage.py replay_session` into the second, empty, migrated database, as a subprocess; its
   events compared with the original's byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import _common as common

DB = "oms_bench_session"
REPLAY_DB = "oms_bench_session_replay"
VENUE = "XV"
_ids = itertools.count(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200, help="units (4 commands each) per mode and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--turn", default="", help="a Redis URL: also time recording across processes")
    args = parser.parse_args()
    common.create_db(DB)
    common.create_db(REPLAY_DB)
    try:
        common.django_setup(DB)
        result = run(args.orders, args.rounds, args.turn)
        result["durability"] = common.check_durable()
        result["machine"] = common.machine_notes()
        print(f"saved {common.save_result('session_replay', result)}")
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)
        common.drop_db(REPLAY_DB)


def _cmd(topic: str, **body: Any) -> dict[str, Any]:
    from oms.core.dispatch import dispatch

    return dispatch(topic, body, actor="bench").body


def _unit(times: list[float]) -> None:
    """A desk client order, its child at VENUE, accepted and filled: four commands, each timed."""
    n = next(_ids)
    steps = [
        ("orders", {"commandType": "CreateOrderCommand", "clOrdID": f"C{n}", "symbol": "ACME", "side": "Buy",
                    "orderQty": "10", "ordType": "Limit", "price": "100", "account": f"A{n}",
                    "handling": "Desk"}),
    ]  # fmt: skip
    t0 = time.perf_counter()
    parent = _cmd(*steps[0][:1], **steps[0][1])["order"]["orderId"]
    times.append(time.perf_counter() - t0)
    child_body = {"commandType": "CreateOrderCommand", "clOrdID": f"M{n}", "parentId": parent, "venue": VENUE}
    t0 = time.perf_counter()
    child = _cmd("orders", **child_body, orderQty="10")["order"]["orderId"]
    times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    _cmd("orders", commandType="AcceptOrderCommand", orderId=child)
    times.append(time.perf_counter() - t0)
    fill = {"commandType": "ExecuteOrderCommand", "orderId": child, "execID": f"X{n}", "lastQty": "10"}
    t0 = time.perf_counter()
    _cmd("executions", **fill, lastPx="100", venue=VENUE)
    times.append(time.perf_counter() - t0)


def _micro(rounds: int, calls: int = 100_000) -> dict[str, float]:
    """ns per call, best round, of each source with no tape installed and of what it replaces."""
    import datetime as dt
    import secrets

    from oms.core import ambient
    from oms.orders.tree import new_id

    def direct_id() -> str:
        return f"O{int(time.time() * 1000):011x}{secrets.token_hex(5)}"

    cases = {
        "datetime.now(UTC)": lambda: dt.datetime.now(dt.UTC),
        "ambient.now()": ambient.now,
        "id expression": direct_id,
        "new_id('O')": lambda: new_id("O"),
    }
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls * 1e9)
    return best


def _turn_micro(redis_url: str, rounds: int, calls: int = 1000) -> float:
    """µs per turn taken and given back (lock, step number, unlock: three round trips), best round."""
    from django.test.utils import override_settings

    from oms.venues.recording.turn import CrossProcessTurn

    with override_settings(REDIS_URL=redis_url):
        turn = CrossProcessTurn(f"bench-{time.time_ns()}")
        best = float("inf")
        try:
            for _ in range(rounds):
                t0 = time.perf_counter()
                for _ in range(calls):
                    assert turn.acquire(10.0) is not None
                    turn.release()
                best = min(best, (time.perf_counter() - t0) / calls * 1e6)
        finally:
            turn._client().delete(turn.counter)
            turn.close()
    return best


@contextlib.contextmanager
def _recording(mode: str, path: Path, redis_url: str) -> Iterator[None]:
    from celery import current_app
    from django.test.utils import override_settings

    from oms.venues.recording.recorder import start_recording, stop_recording

    if mode == "recording off":
        yield
        return
    across = mode == "recording on, across processes"
    eager = current_app.conf.task_always_eager
    with override_settings(REDIS_URL=redis_url) if across else contextlib.nullcontext():
        current_app.conf.task_always_eager = not across and eager
        start_recording(path)
        try:
            yield
        finally:
            stop_recording()
            current_app.conf.task_always_eager = eager


def run(orders: int, rounds: int, redis_url: str = "") -> dict[str, Any]:
    from oms.venues.recording.runner import canonical, session_events
    from oms.venues.recording.sessionfile import load

    micro = _micro(rounds)
    for name, ns in micro.items():
        print(f"{name:>18}: {ns:7.0f} ns")

    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    files = [common.RESULTS_DIR / f"session_replay_{r}.jsonl" for r in range(rounds)]
    for f in files:
        f.unlink(missing_ok=True)
        f.with_suffix(".turn.jsonl").unlink(missing_ok=True)
    for _ in range(20):  # warm-up: caches and prepared statements (not recorded)
        _unit([])
    timings: dict[str, list[float]] = {"recording off": [], "recording on": []}
    if redis_url:
        timings["recording on, across processes"] = []
    for r in range(rounds):
        modes = list(timings) if r % 2 == 0 else list(reversed(timings))
        for mode in modes:
            path = files[r] if mode == "recording on" else files[r].with_suffix(".turn.jsonl")
            with _recording(mode, path, redis_url):
                for _ in range(orders):
                    _unit(timings[mode])
    summary = {mode: common.latency_summary(values) for mode, values in timings.items()}
    for mode, values in timings.items():
        print(f"{mode:>14}: {len(values) / sum(values):8.1f} commands/s  {common.fmt_lat(summary[mode])}")
    on, off = summary["recording on"], summary["recording off"]
    added_ms = on["mean_ms"] - off["mean_ms"]
    size = sum(f.stat().st_size for f in files)
    commands = len(timings["recording on"])
    print(f"recording adds {added_ms:.3f} ms per command ({100 * added_ms / off['mean_ms']:+.1f}%), "
          f"{size / commands:.0f} bytes per command")  # fmt: skip
    turn_ms = summary["recording on, across processes"]["mean_ms"] - on["mean_ms"] if redis_url else None
    turn_us = _turn_micro(redis_url, rounds) if redis_url else None
    if turn_ms is not None:
        print(f"the cross-process turn adds {turn_ms:.3f} ms per command to recording; "
              f"a turn alone (lock, step number, unlock): {turn_us:.0f} µs")  # fmt: skip

    # the replay: one round's session (its units share no order, account or position with what
    # came before, so it replays alone into the empty database)
    path = files[0]
    session = load(path)
    original = "".join(canonical(e) + "\n" for e in session_events(session.correlation_ids()))
    env = common.django_env(REPLAY_DB)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=common.ROOT, env=env,
                   check=True)  # fmt: skip
    replayed = common.RESULTS_DIR / "session_replayed.jsonl"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "replay_session", str(path), "--events-out", str(replayed)],
        cwd=common.ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    replay_s = time.perf_counter() - t0
    recorded_s = sum(timings["recording on"]) / rounds
    same = done.returncode == 0 and Path(replayed).read_text() == original
    print(done.stdout[:400] if done.returncode == 0 else done.stderr[-2000:])
    inside = next((line for line in done.stdout.splitlines() if line.startswith("drivers replayed")), "")
    print(f"replay of {commands // rounds} commands ({session.drivers} drivers): {replay_s:.1f} s wall with Django start, "
          f"recorded in {recorded_s:.1f} s of command time; byte-for-byte equal: {same}")  # fmt: skip
    return {
        "micro_ns": micro,
        "write_path": summary,
        "added_ms": added_ms,
        "turn_added_ms": turn_ms,
        "turn_alone_us": turn_us,
        "bytes_per_command": size / commands,
        "replay_seconds": replay_s,
        "replay_report": inside,
        "recorded_command_seconds": recorded_s,
        "drivers": session.drivers,
        "byte_for_byte": same,
    }


if __name__ == "__main__":
    main()
