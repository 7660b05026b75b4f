"""Where a command's CPU goes on the HTTP path: in-process ASGI requests sampled by py-spy.

    .venv/bin/pip install py-spy   # a profiler, not a dependency of the product
    .venv/bin/python -m bench.http_profile [--seconds 20] [--db oms_bench_http_profile]

One process posts the bench mix (bench/workload.py: 5 commands per order) to
`oms.asgi.application` in-process, exactly as bench/http_api.py's "in-process ASGI" phase (Django's
ASGIHandler, the middleware chain, the DRF view in the request thread, token auth, JSON in and
out; no server, no socket), after a warm-up. Meanwhile `py-spy record --threads --format raw`
samples every thread of this process (idle frames dropped: a thread waiting on a socket or a
lock is not counted), so the samples are CPU time. Reported, as shares of the samples:

- by the package of the innermost frame (own time): the driver, Django, DRF, asgiref, asyncio,
  the OMS's code, json, ...;
- by layer (inclusive: a sample counts for every marker on its stack, innermost layer first):
  `oms.core.dispatch.dispatch` (the command itself, what bench/commands.py measures), the DRF
  view around it (parsing, auth, rendering), Django's request handling around that (middleware,
  the URL resolver), and the ASGI side (the handler's coroutine, asgiref's thread hop, the event
  loop). The commands/s of the sampled run and of an unsampled run before it are printed too:
  py-spy slows the process it samples only a little (it reads memory from outside).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import _common as common
from bench import workload as wl
from bench.http_api import asgi_request

CLOCK = time.perf_counter
PYSPY = common.ROOT / ".venv" / "bin" / "py-spy"

# innermost frame's file (as py-spy names it: relative to its sys.path entry) -> package
_PACKAGES = (
    ("psycopg (driver)", ("psycopg/", "psycopg_binary/")),
    ("rest_framework (DRF)", ("rest_framework/",)),
    ("django", ("django/",)),
    ("asgiref", ("asgiref/",)),
    (
        "asyncio / selectors / threading / futures",
        ("asyncio/", "selectors.py", "threading.py", "concurrent/"),
    ),
    ("json / msgspec", ("json/", "msgspec/")),
    ("prometheus_client", ("prometheus_client/",)),
    ("the OMS's code (oms, rules, executions)", ("oms/", "rules/", "executions/")),
    ("bench harness (the client)", ("bench/",)),
)
# layers, innermost first: a sample belongs to the first whose test holds for its stack
_LAYERS = (
    "the command: oms.core.dispatch.dispatch",
    "DRF view around it: parse, authenticate, render",
    "Django: handler, middleware, URL resolver",
    "ASGI: handler coroutine, asgiref thread hop, event loop",
    "bench harness (the client)",
)


# innermost frames that are a wait, not CPU (py-spy's idle test misses these)
_WAITS = (
    "Connection.wait (psycopg/",
    "EpollSelector.select (",
    "_worker (concurrent/futures/thread.py",
    "Condition.wait (",
    "Event.wait (",
    "_wait_for_tstate_lock (",
)


def _file(frame: str) -> str:
    """`func (path:line)` -> path."""
    inside = frame[frame.rfind("(") + 1 :]
    return inside.rpartition(":")[0] or inside


def _package(frame: str) -> str:
    path = _file(frame)
    for name, prefixes in _PACKAGES:
        if path.startswith(prefixes) or any(f"/{p}" in path for p in prefixes):
            return name
    return "other (stdlib, libraries)"


def _layer(frames: list[str]) -> str:
    files = [_file(f) for f in frames]
    if any(f.endswith("oms/core/dispatch.py") for f in files):
        return _LAYERS[0]
    if any(f.startswith(("rest_framework/", "oms/api/")) for f in files):
        return _LAYERS[1]
    if any(f.startswith("django/") and not f.startswith("django/core/handlers/asgi.py") for f in files):
        return _LAYERS[2]
    if any(f.startswith(("django/", "asgiref/", "asyncio/", "concurrent/", "threading")) for f in files[1:]):
        if not any(f.startswith("bench/") for f in files[-3:]):
            return _LAYERS[3]
    return _LAYERS[4]


def summarize(raw: Path) -> tuple[int, int, Counter[str], Counter[str]]:
    """py-spy's raw format: one line per distinct stack, `frame;frame;...;innermost count`.
    Returns the CPU samples, the waits dropped, and the CPU samples by package and by layer."""
    by_package: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    total = waits = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("thread (")]
        if not frames:
            continue
        if frames[-1].startswith(_WAITS):
            waits += count
            continue
        total += count
        by_package[_package(frames[-1])] += count
        by_layer[_layer(frames)] += count
    return total, waits, by_package, by_layer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB + "_http_profile")
    ap.add_argument("--seconds", type=float, default=20.0, help="sampled time (and as long unsampled first)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = ap.parse_args()
    if not PYSPY.exists():
        raise SystemExit(f"{PYSPY} is missing: .venv/bin/pip install py-spy")

    common.create_db(args.db)
    try:
        common.django_setup(args.db)
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        from oms.asgi import application

        user = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
        token = Token.objects.create(user=user).key
        loop = asyncio.new_event_loop()
        tag = f"p{int(time.time()) % 100000:05d}"

        def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            status, data = loop.run_until_complete(
                asgi_request(application, "POST", f"/api/commands/{topic}", json.dumps(body).encode(), token)
            )
            return status, json.loads(data)

        counter = [0]

        def orders_for(seconds: float) -> float:
            """Commands per second over `seconds` of back-to-back orders."""
            deadline, started, commands = CLOCK() + seconds, CLOCK(), 0
            while CLOCK() < deadline:
                counter[0] += 1
                wl.run_order(send, lambda label, s: None, tag, counter[0], CLOCK)
                commands += wl.COMMANDS_PER_ORDER
            return commands / (CLOCK() - started)

        orders_for(3.0)  # warm-up: imports, caches, prepared statements
        unsampled = orders_for(args.seconds)
        common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        raw = common.RESULTS_DIR / "http_profile.raw.txt"
        spy = subprocess.Popen(
            [
                str(PYSPY),
                "record",
                "--pid",
                str(os.getpid()),
                "--threads",
                "--format",
                "raw",
                "--rate",
                str(args.rate),
                "--duration",
                str(int(args.seconds)),
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        sampled = orders_for(args.seconds - 1.0)
        spy.wait(timeout=120)
        loop.close()
        total, waits, by_package, by_layer = summarize(raw)
        print(f"in-process ASGI: {unsampled:.0f} commands/s unsampled, {sampled:.0f} while sampled")
        print(f"{total} CPU samples ({waits} waiting stacks dropped), rate {args.rate}/s\n")
        print("| innermost frame's package | share of CPU samples |\n|---|---|")
        for name, n in by_package.most_common():
            print(f"| {name} | {n / total:.0%} |")
        print("\n| layer (innermost first) | share of CPU samples |\n|---|---|")
        for name in _LAYERS:
            print(f"| {name} | {by_layer[name] / total:.0%} |")
        common.save_result(
            "http_profile",
            {
                "notes": common.machine_notes(),
                "unsampled_per_s": unsampled,
                "sampled_per_s": sampled,
                "samples": total,
                "waits_dropped": waits,
                "by_package": dict(by_package),
                "by_layer": dict(by_layer),
            },
        )
    finally:
        common.drop_db(args.db)


if __name__ == "__main__":
    main()
