"""Orders through the API to the SIM venue on Celery workers, beside dispatch with no venue.

    .venv/bin/python -m bench.venues [--orders 200] [--baseline 300] [--fills 300] [--workers 2] [--serial 20]

In one run, on a fresh PostgreSQL database (oms_bench_venues or BENCH_DB, dropped after) and Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/4; keys under a prefix of this run, deleted):

1. baseline: CreateOrderCommand through `dispatch` in this process, a Desk client order at
   MANUAL (no venue, no task): creates/s and p50/p99;
2. venue flow: `--workers` real Celery workers (`--pool=solo`) and one `manage.py venue_stream SIM`;
   Auto client orders at SIM POSTed one after another through the API (DRF's test client: the
   whole view stack in this process, no socket); each goes worker (placement, then the send in
   the same task) -> SIM -> stream -> consumer -> Filled. Per order: POST to the client order Filled (its
   `updatedAt`, server clock, same host); throughput: orders / (last Filled - first POST);
   then `--serial` orders one at a time, each waiting for Filled (the latency without a queue),
   split into stages by the recorded times of its events and its send claim (`trace`);
3. fill ingestion: `--fills` orders rest at SIM (no size at the ask), then one SimSetMarket fills
   them all at once: fills ingested per second by the one stream consumer (SimSetMarket's commit
   to the last OMS order Filled).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench import _common as common

DB = os.environ.get("BENCH_DB", "oms_bench_venues")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
RUN = uuid.uuid4().hex[:8]
QUEUE, PREFIX = f"bench-venues-{RUN}", f"bench-sim-{RUN}"
ACTOR, SUPER = "bench-desk", "system:bench"


def env() -> dict[str, str]:
    out = common.django_env(DB)
    out.update(
        REDIS_URL=REDIS,
        CELERY_TASK_DEFAULT_QUEUE=QUEUE,
        CELERY_TASK_ALWAYS_EAGER="0",
        OMS_SIM_PREFIX=PREFIX,
        OMS_INPROCESS_WORKERS="0",
        OMS_EVENT_SINKS="blotter",
        PYTHONUNBUFFERED="1",
    )
    return out


def django_setup() -> None:
    """common.django_setup without dropping REDIS_URL: this run's tasks go to the workers."""
    import django
    from django.core.management import call_command

    os.environ.update(env())
    if str(common.ROOT) not in sys.path:
        sys.path.insert(0, str(common.ROOT))
    django.setup()
    call_command("migrate", verbosity=0)


def spawn(command: list[str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=common.ROOT, env=env(), stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while ready not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"{command} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=300)
    parser.add_argument("--fills", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--serial", type=int, default=20, help="orders sent one at a time (latency without a queue)"
    )
    args = parser.parse_args()
    notes = common.machine_notes()
    common.create_db(DB)
    os.environ.update(env())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        django_setup()
        logs = common.RESULTS_DIR
        logs.mkdir(parents=True, exist_ok=True)
        for n in range(args.workers):
            processes.append(
                spawn(
                    [sys.executable, "-m", "celery", "-A", "oms", "worker", "--pool=solo", "-Q", QUEUE,
                     "-n", f"bench{n}-{RUN}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                     "--loglevel=INFO"],
                    logs / f"venues_worker{n}.log",
                    "ready.",
                )
            )  # fmt: skip
        processes.append(
            spawn(
                [sys.executable, "manage.py", "venue_stream", "SIM", "--poll", "0.05"],
                logs / "venues_stream.log",
                "consuming",
            )
        )
        result = run(args.orders, args.baseline, args.fills, args.serial)
        result["machine"] = notes
        result["args"] = vars(args)
        path = common.save_result("venues", result)
        print(f"saved {path}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        from django.db import connections

        connections.close_all()
        common.drop_db(DB)
        import redis

        client = redis.Redis.from_url(REDIS)
        keys = [*client.scan_iter(match=f"{PREFIX}:*"), *client.scan_iter(match=f"*{QUEUE}*")]
        if keys:
            client.delete(*keys)


def run(orders: int, baseline: int, fills: int, serial: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from oms.core.dispatch import dispatch
    from oms.orders.models import Order
    from rules.venues import venue_state

    User.objects.create_user(ACTOR, is_superuser=True)
    api = APIClient()
    api.force_authenticate(User.objects.get(username=ACTOR))
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor=SUPER,
    )
    dispatch(
        "instruments",
        {"commandType": "UpsertInstrumentCommand", "venue": "SIM", "symbol": "BENCH-PERP", "kind": "Perpetual",
         "tickSize": "0.01", "lotSize": "1"},
        actor=SUPER,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while venue_state("SIM").feed.value != "Healthy":  # type: ignore[union-attr]  # the venue is registered here: never None
        if time.monotonic() > deadline:
            sys.exit("the SIM feed never became Healthy (venue_stream)")
        time.sleep(0.1)

    def market(ask_size: str) -> None:
        body = {"commandType": "SimSetMarketCommand", "symbol": "BENCH-PERP", "bidPx": "99", "askPx": "101",
                "bidSize": "1000000", "askSize": ask_size}  # fmt: skip
        dispatch("sim", body, actor=SUPER)

    # 1. baseline: dispatch, no venue
    base: list[float] = []
    for i in range(baseline):
        body = {"commandType": "CreateOrderCommand", "clOrdID": f"BASE-{i}", "symbol": "AAPL", "side": "Buy",
                "orderQty": "10", "ordType": "Market", "account": "ACC", "venue": "MANUAL", "handling": "Desk"}  # fmt: skip
        t0 = time.perf_counter()
        dispatch("orders", body, actor=ACTOR)
        base.append(time.perf_counter() - t0)

    # 2. API -> worker -> SIM -> Filled
    market("100000000")
    sent: dict[str, dt.datetime] = {}
    post: list[float] = []
    for i in range(orders):
        body = {"commandType": "CreateOrderCommand", "clOrdID": f"FLOW-{i}", "symbol": "BENCH-PERP", "side": "Buy",
                "orderQty": "5", "ordType": "Market", "account": "ACC", "venue": "SIM", "handling": "Auto"}  # fmt: skip
        at = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        response = api.post("/api/commands/orders", body, format="json")
        post.append(time.perf_counter() - t0)
        assert response.status_code == 201, response.content
        sent[response.json()["order"]["orderId"]] = at
    filled = wait_filled(list(sent), timeout=120 + orders)
    flow = [(filled[o] - sent[o]).total_seconds() for o in sent if o in filled]
    flow_span = (max(filled.values()) - min(sent.values())).total_seconds() if filled else float("nan")

    # 2b. the same one order at a time (each waits for Filled): latency without a queue
    single: list[float] = []
    stages: list[dict[str, float]] = []
    for i in range(serial):
        body = {"commandType": "CreateOrderCommand", "clOrdID": f"ONE-{i}", "symbol": "BENCH-PERP", "side": "Buy",
                "orderQty": "5", "ordType": "Market", "account": "ACC", "venue": "SIM", "handling": "Auto"}  # fmt: skip
        at = dt.datetime.now(dt.UTC)
        order_id = api.post("/api/commands/orders", body, format="json").json()["order"]["orderId"]
        done = wait_filled([order_id], timeout=60)
        if order_id in done:
            single.append((done[order_id] - at).total_seconds())
            stages.append(trace(order_id, at))

    # 3. fill ingestion: orders rest, then one market fills them all
    market("0")
    resting: list[str] = []
    for i in range(fills):
        body = {"commandType": "CreateOrderCommand", "clOrdID": f"ING-{i}", "symbol": "BENCH-PERP", "side": "Buy",
                "orderQty": "1", "ordType": "Market", "account": "ACC", "venue": "SIM", "handling": "Auto"}  # fmt: skip
        resting.append(dispatch("orders", body, actor=ACTOR).body["order"]["orderId"])
    deadline = time.monotonic() + 120 + fills
    while (
        Order.objects.filter(parent_id__in=resting, status="New").count() < fills
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    t0 = dt.datetime.now(dt.UTC)
    market("100000000")
    ingested = wait_filled(resting, timeout=120 + fills)
    ingest_span = (max(ingested.values()) - t0).total_seconds() if ingested else float("nan")

    result = {
        "baseline_dispatch_no_venue": {
            "creates_per_s": len(base) / sum(base),
            **common.latency_summary(base),
        },
        "api_worker_sim_filled": {
            "orders": orders,
            "filled": len(flow),
            "orders_per_s": len(flow) / flow_span,
            **common.latency_summary(flow),
            "api_post": common.latency_summary(post),
        },
        "api_worker_sim_filled_one_at_a_time": common.latency_summary(single),
        "one_at_a_time_stages_p50_ms": {
            k: 1000 * sorted(st[k] for st in stages)[len(stages) // 2] for k in (stages[0] if stages else {})
        },
        "fill_ingestion": {
            "fills": len(ingested),
            "seconds": ingest_span,
            "fills_per_s": len(ingested) / ingest_span,
        },
    }
    b, f, g = result["baseline_dispatch_no_venue"], result["api_worker_sim_filled"], result["fill_ingestion"]
    print(f"dispatch, no venue           : {b['creates_per_s']:7.1f} creates/s   {common.fmt_lat(b)}")
    print(
        f"API -> worker -> SIM -> Filled: {f['orders_per_s']:7.1f} orders/s    {common.fmt_lat(f)}  (POST {common.fmt_lat(f['api_post'])})"
    )
    one = result["api_worker_sim_filled_one_at_a_time"]
    print(f"  the same, one at a time     :                   {common.fmt_lat(one)}")
    for stage, ms in result["one_at_a_time_stages_p50_ms"].items():
        print(f"    {stage:<44}: p50 {ms:7.1f} ms")
    print(
        f"fill ingestion (one consumer): {g['fills_per_s']:7.1f} fills/s     ({g['fills']} fills in {g['seconds']:.2f} s)"
    )
    return result


def trace(client_id: str, posted: dt.datetime) -> dict[str, float]:
    """Where one order's time went, from the events' and the send claim's recorded times (server
    clock, same host): each stage is the time since the previous mark."""
    from oms.orders.models import Order, OrderEvent
    from oms.venues.models import VenueSend

    child = Order.objects.filter(parent_id=client_id).values_list("order_id", flat=True).first()
    events = {
        (e.aggregate_id, e.type): e.recorded_at
        for e in OrderEvent.objects.filter(aggregate_id__in=[client_id, child]).order_by("-seq")
    }  # the first event of each type wins (newest first, overwritten by older)
    send = VenueSend.objects.filter(order_id=child, action="Place").first()
    marks = [
        ("POST -> client OrderCreated committed", events.get((client_id, "OrderCreated"))),
        ("-> market child created (placement task)", events.get((child, "OrderCreated"))),
        ("-> send claimed (placement committed, then claimed)", send.created_at if send else None),
        ("-> child accepted (SIM answered the send)", events.get((child, "OrderAccepted"))),
        ("-> child filled (stream -> consumer)", events.get((child, "OrderFilled"))),
        ("-> client Filled", events.get((client_id, "OrderFilled"))),
    ]
    out: dict[str, float] = {}
    previous = posted
    for name, at in marks:
        if at is None:
            continue
        out[name] = (at - previous).total_seconds()
        previous = at
    return out


def wait_filled(client_ids: list[str], timeout: float) -> dict[str, dt.datetime]:
    """Client order id -> when it became Filled (its updatedAt), waiting at most `timeout`."""
    from oms.orders.models import Order

    deadline = time.monotonic() + timeout
    while True:
        done = Order.objects.filter(pk__in=client_ids, status="Filled").count()
        if done == len(client_ids) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    rows = Order.objects.filter(pk__in=client_ids, status="Filled").values_list("order_id", "updated_at")
    return dict(rows)


if __name__ == "__main__":
    main()
