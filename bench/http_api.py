"""Command throughput over HTTP: daphne + Django + DRF, 1 and 4 keep-alive clients.

    .venv/bin/python -m bench.http_api [--seconds 10] [--rounds 2] [--clients 4]

Starts `.venv/bin/daphne -b 127.0.0.1 -p <free port> oms.asgi:application` on a fresh bench
database (DATABASE_URL set, DEBUG=0, ALLOWED_HOSTS=127.0.0.1, no REDIS_URL: Celery eager and the
in-memory channel layer), creates a superuser with a DRF token, then runs in rounds:

- in-process: `dispatch` on the same database from this process (the same command path without
  HTTP/ASGI/DRF): the baseline the HTTP figures are compared with;
- in-process DRF: the same through Django's test client (APIClient, token auth, middleware,
  DRF view, JSON in and out) without a server: what Django + DRF add to `dispatch`;
- in-process ASGI: the same request handed straight to `oms.asgi.application` (what daphne
  calls: Django's ASGIHandler, middleware in async mode, the sync view in a worker thread)
  without Twisted or a socket: what ASGI adds to the WSGI-style test client;
- http x1: one client thread posting the per-order sequence (bench/workload.py) to
  POST /api/commands/<type>, one keep-alive http.client connection;
- http xN: N client threads, each its own connection and its own orders;
- GET floor (once per round, short): authenticated GET /api/queries/orders/<id> with 1 and N
  clients: what daphne + Django + DRF + token auth cost per request without a write.

Each phase runs for a fixed time (orders in flight are completed). The server is killed at the
end, whatever happens; its log is var/bench/daphne.log.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import socket
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import _common as common
from bench import workload as wl

CLOCK = time.perf_counter
DAPHNE = common.ROOT / ".venv" / "bin" / "daphne"
UVICORN = common.ROOT / ".venv" / "bin" / "uvicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """One keep-alive connection with the token; send() matches workload.Send."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def send(self, topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.conn.request("POST", f"/api/commands/{topic}", json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else {}

    def get(self, path: str) -> int:
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status

    def close(self) -> None:
        self.conn.close()


async def asgi_request(app: Any, method: str, path: str, body: bytes, token: str) -> tuple[int, bytes]:
    """One HTTP request through an ASGI application, in-process (no server, no socket)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Token {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client never disconnects; Django cancels this wait
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def server_command(server: str, port: int) -> list[str]:
    """`daphne` (one process) or `uvicorn:N` (N worker processes, as scripts/serve.sh runs it)."""
    if server == "daphne":
        return [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "oms.asgi:application"]
    kind, _, workers = server.partition(":")
    if kind != "uvicorn":
        raise SystemExit(f"unknown server {server!r}: daphne or uvicorn:N")
    return [
        str(UVICORN), "--host", "127.0.0.1", "--port", str(port), "--workers", workers or "1",
        "--http", "httptools", "--loop", "uvloop", "--lifespan", "on", "--no-access-log",
        "oms.asgi:application",
    ]  # fmt: skip


def start_server(db: str, port: int, log: Path, server: str = "daphne") -> subprocess.Popen[bytes]:
    env = common.django_env(db)
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    out = log.open("ab")
    return subprocess.Popen(
        server_command(server, port),
        cwd=common.ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_ready(proc: subprocess.Popen[bytes], port: int, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}; see var/bench/daphne.log")
        try:
            c = Client(port, token)
            status = c.get("/api/queries/orders?limit=1")
            c.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("daphne did not answer in time")


def drive(n_clients: int, seconds: float, work: Any) -> dict[str, Any]:
    """Run `work(client_index, deadline, lat, counts)` in n threads until the deadline."""
    lat: dict[str, list[float]] = defaultdict(list)
    counts = [0] * n_clients
    errors: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        local: dict[str, list[float]] = defaultdict(list)
        try:
            counts[k] = work(k, deadline, local)
        except Exception as exc:  # reported, not raised: the other threads finish their phase
            errors.append(f"client {k}: {exc!r}")
        with lock:
            for label, values in local.items():
                lat[label].extend(values)

    start = CLOCK()
    deadline = start + seconds
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = CLOCK() - start
    return {
        "count": sum(counts),
        "seconds": elapsed,
        "rate": sum(counts) / elapsed,
        "lat": lat,
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=common.DEFAULT_DB + "_http")
    ap.add_argument("--seconds", type=float, default=10.0, help="per phase and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--get-seconds", type=float, default=3.0)
    ap.add_argument(
        "--servers",
        default="daphne,uvicorn:2",
        help="servers measured in the same run: daphne (one process, the baseline) and uvicorn:N",
    )
    args = ap.parse_args()
    servers = args.servers.split(",")

    notes = common.machine_notes()
    common.create_db(args.db)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        common.django_setup(args.db)
        from django.contrib.auth.models import User
        from django.db import connections
        from rest_framework.authtoken.models import Token

        from oms.core.dispatch import dispatch

        user = User.objects.create_superuser("bench", "bench@example.com", "bench-password")
        token = Token.objects.create(user=user).key
        common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        log = common.RESULTS_DIR / "daphne.log"
        log.write_bytes(b"")
        ports: dict[str, int] = {}
        for server in servers:
            ports[server] = free_port()
            proc = start_server(args.db, ports[server], log, server)
            procs.append(proc)
            wait_ready(proc, ports[server], token)
            print(f"{server} pid {proc.pid} on 127.0.0.1:{ports[server]}")

        tag = f"h{int(time.time()) % 100000:05d}"
        seq = [0]
        seq_lock = threading.Lock()

        def next_i() -> int:
            with seq_lock:
                seq[0] += 1
                return seq[0]

        def orders_until(send: Any, deadline: float, local: dict[str, list[float]]) -> int:
            """Drive whole orders through `send` until the deadline; returns the commands sent."""
            n = 0
            while CLOCK() < deadline:
                wl.run_order(send, lambda label, s: local[label].append(s), tag, next_i(), CLOCK)
                n += wl.COMMANDS_PER_ORDER
            return n

        def http_orders(port: int) -> Any:
            def work(k: int, deadline: float, local: dict[str, list[float]]) -> int:
                client = Client(port, token)
                try:
                    return orders_until(client.send, deadline, local)
                finally:
                    client.close()

            return work

        def inproc_orders(k: int, deadline: float, local: dict[str, list[float]]) -> int:
            def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                r = dispatch(topic, body, actor="bench")
                return r.status_code, r.body

            try:
                return orders_until(send, deadline, local)
            finally:
                connections.close_all()

        def drf_orders(k: int, deadline: float, local: dict[str, list[float]]) -> int:
            from rest_framework.test import APIClient

            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

            def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                r = api.post(f"/api/commands/{topic}", body, format="json")
                return r.status_code, r.json()

            try:
                return orders_until(send, deadline, local)
            finally:
                connections.close_all()

        def asgi_orders(k: int, deadline: float, local: dict[str, list[float]]) -> int:
            from oms.asgi import application

            loop = asyncio.new_event_loop()

            def send(topic: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                status, data = loop.run_until_complete(
                    asgi_request(
                        application, "POST", f"/api/commands/{topic}", json.dumps(body).encode(), token
                    )
                )
                return status, json.loads(data)

            try:
                return orders_until(send, deadline, local)
            finally:
                loop.close()

        # a known order for the GET floor; warm the server and this process up (untimed)
        for server in servers:
            c = Client(ports[server], token)
            warm = wl.run_order(c.send, lambda label, s: None, tag, next_i(), CLOCK)
            for _ in range(10):
                wl.run_order(c.send, lambda label, s: None, tag, next_i(), CLOCK)
            c.close()
        order_path = f"/api/queries/orders/{warm['client']['order']['orderId']}"
        drive(1, 2.0, inproc_orders)
        drive(1, 2.0, drf_orders)
        drive(1, 2.0, asgi_orders)

        def gets(port: int) -> Any:
            def work(k: int, deadline: float, local: dict[str, list[float]]) -> int:
                client = Client(port, token)
                n = 0
                try:
                    while CLOCK() < deadline:
                        t = CLOCK()
                        status = client.get(order_path)
                        local["GET order"].append(CLOCK() - t)
                        if status != 200:
                            raise RuntimeError(f"GET {order_path}: {status}")
                        n += 1
                finally:
                    client.close()
                return n

            return work

        phases: dict[str, list[dict[str, Any]]] = defaultdict(list)
        plan = [
            ("in-process x1", 1, args.seconds, inproc_orders),
            ("in-process DRF x1", 1, args.seconds, drf_orders),
            ("in-process ASGI x1", 1, args.seconds, asgi_orders),
        ]
        for server in servers:
            port = ports[server]
            plan += [
                (f"http x1 [{server}]", 1, args.seconds, http_orders(port)),
                (f"http x{args.clients} [{server}]", args.clients, args.seconds, http_orders(port)),
                (f"GET floor x1 [{server}]", 1, args.get_seconds, gets(port)),
                (f"GET floor x{args.clients} [{server}]", args.clients, args.get_seconds, gets(port)),
            ]
        for r in range(args.rounds):
            line = []
            for name, n, secs, work in plan:
                res = drive(n, secs, work)
                phases[name].append(res)
                line.append(f"{name} {res['rate']:,.0f}/s")
                if res["errors"]:
                    print(f"  {name}: errors {res['errors'][:3]}")
            print(f"round {r + 1}: " + ", ".join(line))
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        try:
            from django.db import connections as _c

            _c.close_all()
        except Exception:
            pass
        common.drop_db(args.db)

    result: dict[str, Any] = {
        "machine": notes,
        "servers": servers,
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
        "phases": {},
    }
    rows = []
    base = None
    for name, runs in phases.items():
        count = sum(x["count"] for x in runs)
        secs = sum(x["seconds"] for x in runs)
        rate = count / secs
        merged: dict[str, list[float]] = defaultdict(list)
        for x in runs:
            for label, values in x["lat"].items():
                merged[label].extend(values)
        all_lat = [v for values in merged.values() for v in values]
        summary = common.latency_summary(all_lat)
        result["phases"][name] = {
            "requests_or_commands": count,
            "seconds": secs,
            "per_s": rate,
            "per_round": [x["rate"] for x in runs],
            "latency_all": summary,
            "latency": {k: common.latency_summary(v) for k, v in merged.items()},
            "errors": [e for x in runs for e in x["errors"]],
        }
        if name == "in-process x1":
            base = rate
        rows.append(
            [
                name,
                f"{rate:,.0f}",
                " / ".join(f"{x['rate']:,.0f}" for x in runs),
                f"{summary.get('p50_ms', 0):.2f}",
                f"{summary.get('p99_ms', 0):.2f}",
                f"{rate / base:.2f}" if base and not name.startswith("GET") else "",
            ]
        )
    print("\nCommands (or GETs) per second, latency per request")
    common.print_table(["phase", "per s", "per round", "p50 ms", "p99 ms", "/ in-process"], rows)
    print("\nLatency per command type, p50 / p99 ms")
    labels = list(wl.COMMAND_LABELS)
    common.print_table(
        ["phase", *labels],
        [
            [name, *(common_fmt(p["latency"].get(label)) for label in labels)]
            for name, p in result["phases"].items()
            if not name.startswith("GET")
        ],
    )
    path = common.save_result("http_api", result)
    print(f"\nresults: {path}")


def common_fmt(s: dict[str, float] | None) -> str:
    if not s or not s.get("n"):
        return "-"
    return f"{s['p50_ms']:.2f} / {s['p99_ms']:.2f}"


if __name__ == "__main__":
    main()
