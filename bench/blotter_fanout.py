"""The live feed to many desks: websocket clients x command rate, in-memory vs Redis channel layer.

    .venv/bin/python -m bench.blotter_fanout [--clients 10,30,100] [--rates 50,200] [--seconds 20]
        [--layers memory,redis] [--frame-ms 0,20] [--writers 2] [--server daphne|uvicorn]
        [--web-workers 1] [--ws-deflate on,off] [--poll-ms 50]

On a fresh PostgreSQL database (bench/_common.py; BENCH_DB, default oms_bench_fanout), per channel
layer, frame interval and compression setting one server:

* `--server uvicorn` runs as scripts/serve.sh does (httptools, uvloop, websockets-sansio,
  `--web-workers` processes); on Redis with a separate `manage.py publish_events`, the
  deployment's shape; `--server daphne` (one process) runs the publisher in-process, as
  uvicorn does on the in-memory layer (the embedded default). The publisher's idle poll is
  `--poll-ms` (the writers' commits come from other processes: 50 ms is the deployment's
  default);
* `memory`: `InMemoryChannelLayer` (one process); `redis`: `channels_redis` on BENCH_REDIS_URL
  (default redis://127.0.0.1:6379/8) under a private prefix;
* `--frame-ms`: the hub's frame interval (OMS_BLOTTER_FRAME_MS; 0 = one frame per batch, the
  baseline of the same run); `--ws-deflate`: uvicorn's permessage-deflate (the clients offer it,
  as browsers do); `--compress`: the clients ask for the application's compressed frames
  (`?compress=deflate`, as the page does: one zlib stream per frame, made once for every socket).

Per setting, clients level and rate: `--clients` websocket clients (asyncio, in a process of
their own) connect to /ws/blotter/ as a desk user and wait for their hello; `--writers` writer
processes then commit orders through `dispatch` (bench/workload.py: 5 commands and 10 events per
order), each paced at rate / writers for `--seconds` (one process's commands are sequential, so
one writer reaches only what one command's latency allows), recording the wall-clock time right
after each commit for each event's seq. Each client records the wall-clock time each seq arrived
(one regex over the frame, no JSON decode). Latency = arrival - commit, over every (client,
event) pair; lost = pairs never received within 15 s after the writers stopped (the page would
resync them from the event feed; the bench counts them). Everything shares the machine's cores.
Results: printed, and var/bench/blotter_fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import zlib
from typing import Any

from bench import _common as common
from bench import workload as wl
from bench.blotter import _free_port

DB = os.environ.get("BENCH_DB", "oms_bench_fanout")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
SEQ = re.compile(rb'"seq":(\d+)')


def start_server(
    server: str,
    layer: str,
    prefix: str,
    frame_ms: int,
    workers: int,
    deflate: bool,
    poll_ms: int,
    *,
    db: str = DB,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[subprocess.Popen[bytes]], int]:
    """The server under test and, for uvicorn on Redis, the separate publisher (the deployment's
    shape: scripts/serve.sh and `manage.py publish_events`); daphne, and uvicorn on the in-memory
    layer, run the publisher in-process (the embedded default)."""
    import urllib.request

    port = _free_port()
    env = common.django_env(db)
    env.update(OMS_PUBLISH_POLL_MS=str(poll_ms), OMS_BLOTTER_FRAME_MS=str(frame_ms), **(extra_env or {}))
    if layer == "redis":
        env.update(REDIS_URL=REDIS_URL, OMS_CHANNEL_PREFIX=prefix)
    separate_publisher = server == "uvicorn" and layer == "redis"
    if separate_publisher:
        env.update(OMS_INPROCESS_WORKERS="0")
    else:
        env.update(OMS_INPROCESS_WORKERS="1", CELERY_TASK_ALWAYS_EAGER="1")
        if workers != 1:
            sys.exit("one server process only with the in-process publisher (daphne or the memory layer)")
    if server == "daphne":
        argv = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "oms.asgi:application"]
    else:  # as scripts/serve.sh runs it
        argv = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        argv += ["--http", "httptools", "--loop", "uvloop", "--ws", "websockets-sansio"]
        argv += ["--ws-per-message-deflate", str(deflate)]
        argv += ["--lifespan", "on", "--no-access-log", "oms.asgi:application"]
    procs = []

    def spawn(args: list[str]) -> None:
        procs.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=common.ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    spawn(argv)
    if separate_publisher:
        spawn(["manage.py", "publish_events", "--poll-ms", str(poll_ms)])
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2):
                return procs, port
        except OSError:
            time.sleep(0.2)
    stop_server(procs)
    sys.exit(f"{server} did not start")


def stop_server(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --- the clients (their own process) ---------------------------------------------------------------
def _clients(
    port: int, cookie: str, n: int, compress: bool, ready: Any, stop: Any, done: Any, target: Any, out: Any
) -> None:
    """n websocket clients: sets `ready` once every hello arrived and `done` once every client saw
    the seq `target` (set by the writer at its end); after `stop`, puts one {seq: arrival wall
    time} per client."""
    import websockets

    async def connect() -> Any:
        # a loaded daphne may drop a handshake: retry, as the page's reconnect does
        for attempt in range(20):
            try:
                return await websockets.connect(
                    f"ws://127.0.0.1:{port}/ws/blotter/" + ("?compress=deflate" if compress else ""),
                    additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
                    max_size=None,
                    ping_interval=None,
                    open_timeout=60,
                )
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                await asyncio.sleep(0.2 * (attempt + 1))
        raise SystemExit("a client could not connect")

    async def one(arrivals: dict[int, float], hello: asyncio.Event) -> None:
        async with await connect() as ws:
            hello.set()
            while not stop.is_set():
                try:
                    frame = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                data = frame.encode() if isinstance(frame, str) else frame
                received[0] += len(data)
                if isinstance(frame, bytes):  # ?compress=deflate: one zlib stream per frame
                    data = zlib.decompress(frame)
                if data.startswith(b'{"type":"events"'):
                    for m in SEQ.finditer(data):
                        arrivals.setdefault(int(m.group(1)), now)

    received = [0]  # payload bytes, every client

    async def main() -> None:
        arrivals: list[dict[int, float]] = [{} for _ in range(n)]
        hellos = [asyncio.Event() for _ in range(n)]
        tasks = []
        for k in range(n):  # connect gradually: a desk's pages do not all handshake in one ms
            tasks.append(asyncio.create_task(one(arrivals[k], hellos[k])))
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in hellos)), 300)
        await asyncio.sleep(0.5)  # every hello's group_add is done
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
            if target.value and all(got and max(got) >= target.value for got in arrivals):
                done.set()
        await asyncio.gather(*tasks)
        out.put((arrivals, received[0]))

    asyncio.run(main())


# --- the writers (their own processes) -------------------------------------------------------------
def _writer(db: str, rate: float, seconds: float, tag: str, go: Any, out: Any) -> None:
    """One writer: orders through `dispatch` paced at `rate` commands/s for `seconds` once `go`
    is set; puts ({seq: wall time right after its commit}, commands sent, seconds taken)."""
    common.django_setup(db, migrate=False)
    from django.db import connection

    from oms.core.dispatch import dispatch

    committed: dict[int, float] = {}
    interval = 1.0 / rate
    n_commands = 0
    go.wait()
    t0 = time.perf_counter()

    def paced(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        nonlocal n_commands
        delay = t0 + n_commands * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        n_commands += 1
        r = dispatch(topic, body, actor="bench")
        now = time.time()
        for e in r.events:
            committed[e["seq"]] = now
        return r.status_code, r.body

    i = 0
    while time.perf_counter() - t0 < seconds:
        wl.run_order(paced, lambda label, s: None, tag, i, time.perf_counter)
        i += 1
    connection.close()
    out.put((committed, n_commands, time.perf_counter() - t0))


# --- one measured phase ----------------------------------------------------------------------------
def phase(
    port: int,
    cookie: str,
    clients: int,
    rate: float,
    seconds: float,
    tag: str,
    writers: int,
    compress: bool,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, stop, done, out = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
    target = ctx.Value("q", 0)
    proc = ctx.Process(
        target=_clients, args=(port, cookie, clients, compress, ready, stop, done, target, out)
    )
    proc.start()
    if not ready.wait(400):
        proc.kill()
        raise SystemExit("the clients did not connect")
    # the rate split over `writers` processes (several desks' sessions: one process's commands
    # are sequential, so one writer reaches only what one command's latency allows)
    go, written = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(DB, rate / writers, seconds, f"{tag}w{k}", go, written))
        for k in range(writers)
    ]
    for p in procs:
        p.start()
    time.sleep(3)  # their Django setup, before the clock starts
    go.set()
    committed: dict[int, float] = {}
    n_commands = 0
    elapsed = 0.0
    for _ in procs:
        got, n, took = written.get(timeout=seconds + 120)
        committed.update(got)
        n_commands += n
        elapsed = max(elapsed, took)
    for p in procs:
        p.join(30)
    last = max(committed) if committed else 0
    target.value = last
    done.wait(15)  # every client has seen the last seq (or 15 s passed: the rest is lost)
    stop.set()
    arrivals, received = out.get(timeout=120)
    proc.join(30)
    lags: list[float] = []
    lost = 0
    for got in arrivals:
        for seq, at in committed.items():
            arrived = got.get(seq)
            if arrived is None:
                lost += 1
            else:
                lags.append(max(0.0, arrived - at))
    summary = common.latency_summary(lags)
    return {
        "clients": clients,
        "writers": writers,
        "rate_asked": rate,
        "commands_per_s": round(n_commands / elapsed, 1),
        "events": len(committed),
        "last_seq": last,
        "deliveries": len(lags),
        "lost": lost,
        # what one client received per event (the frames' payload as sent)
        "bytes_per_event": round(received / clients / len(committed)) if committed else None,
        "latency_ms": {k: round(v, 1) for k, v in summary.items() if k != "n"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="10,30,100")
    parser.add_argument("--rates", default="50,200", help="commands/s")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--layers", default="memory,redis")
    parser.add_argument(
        "--frame-ms",
        default="20",
        help="the hub's frame interval(s), e.g. 0,20: 0 = one frame per batch (the baseline)",
    )
    parser.add_argument("--writers", type=int, default=1, help="writer processes sharing the rate")
    parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn"])
    parser.add_argument(
        "--compress",
        default="off",
        help="clients ask for ?compress=deflate (the page does): on, off or off,on",
    )
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=5,
        help="the publisher's idle poll (the writers' commits come from other processes)",
    )
    parser.add_argument(
        "--ws-deflate",
        default="off",
        help="uvicorn's permessage-deflate: on, off or on,off (clients offer it, as browsers do)",
    )
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn processes (Redis only beyond 1)")
    args = parser.parse_args()
    notes = common.machine_notes()
    common.check_durable()
    common.create_db(DB)
    common.django_setup(DB)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.test import Client

    user = User.objects.create_user("bench-desk", password="x")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    results: list[dict[str, Any]] = []
    try:
        for layer, frame_ms, deflate in [
            (la, int(f), d == "on")
            for la in args.layers.split(",")
            for f in args.frame_ms.split(",")
            for d in args.ws_deflate.split(",")
        ]:
            prefix = f"bench-fanout-{uuid.uuid4().hex[:8]}"
            server, port = start_server(
                args.server, layer, prefix, frame_ms, args.web_workers, deflate, args.poll_ms
            )
            try:
                for rate in [float(r) for r in args.rates.split(",")]:
                    for clients, compress in [
                        (int(c), z == "on") for c in args.clients.split(",") for z in args.compress.split(",")
                    ]:
                        tag = f"F{layer[0]}{int(rate)}x{clients}-{uuid.uuid4().hex[:4]}"
                        got = {
                            "server": f"{args.server} x{args.web_workers}"
                            + (" deflate" if deflate and args.server == "uvicorn" else ""),
                            "layer": layer,
                            "frame_ms": frame_ms,
                            "compress": compress,
                            **phase(port, cookie, clients, rate, args.seconds, tag, args.writers, compress),
                        }
                        results.append(got)
                        print(got, flush=True)
            finally:
                stop_server(server)
                if layer == "redis":
                    import redis

                    r = redis.Redis.from_url(REDIS_URL)
                    keys = list(r.scan_iter(match=f"{prefix}*"))
                    if keys:
                        r.delete(*keys)
                    r.close()
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)
    common.print_table(
        [
            "server",
            "layer",
            "frame ms",
            "compress",
            "writers",
            "clients",
            "commands/s asked",
            "commands/s",
            "events",
            "lost",
            "B/event",
            "p50 ms",
            "p99 ms",
            "max ms",
        ],
        [
            [
                r["server"],
                r["layer"],
                r["frame_ms"],
                "on" if r["compress"] else "off",
                r["writers"],
                r["clients"],
                r["rate_asked"],
                r["commands_per_s"],
                r["events"],
                r["lost"],
                r["bytes_per_event"],
                r["latency_ms"].get("p50_ms"),
                r["latency_ms"].get("p99_ms"),
                r["latency_ms"].get("max_ms"),
            ]
            for r in results
        ],
    )
    path = common.save_result("blotter_fanout", {"notes": notes, "args": vars(args), "results": results})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
