"""Automatic placement runs as a Celery task after commit: on a real worker over Redis, in-process
without it.

With `REDIS_URL` set, a module fixture starts a real `celery -A oms worker --pool=solo` on a queue
of its own (no cross-talk with other sessions or the default `celery` queue), pointed at the test
database pytest-django created for this xdist worker. The test commits a client order handled
`Auto` at venue XNAS and waits (bounded) for the worker's task to create the market order.
Without `REDIS_URL` the same test checks the embedded default: the task runs in-process, once the
transaction has committed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import transaction

from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.orders.models import Order, OrderEvent
from tests.conftest import uid

REPO = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT = 60.0  # seconds: Django and Celery start-up on a slow CI box
PLACEMENT_TIMEOUT = 20.0  # seconds: from commit to the market order written by the worker
TASK = "oms.orders.tasks.place_client_order"


@dataclass
class Worker:
    queue: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _postgres_url(db: dict[str, Any]) -> str:
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(db.get("HOST") or "localhost", safe="")  # a socket directory is percent-encoded
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


def _worker_database_env(db: dict[str, Any]) -> dict[str, str]:
    """Environment that points the worker's settings at the database this test process uses."""
    if db["ENGINE"] == "django.db.backends.postgresql":
        return {"DATABASE_URL": _postgres_url(db)}
    name = str(db["NAME"])
    if db["ENGINE"] == "django.db.backends.sqlite3" and "memory" not in name and name != ":memory:":
        return {"DATABASE_URL": "", "SQLITE_PATH": name}
    pytest.skip("a worker process cannot share an in-memory SQLite test database: set DATABASE_URL")


def _wait_ready(worker: Worker) -> None:
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"celery worker exited with {worker.process.returncode}:\n{worker.output()[-4000:]}")
        if " ready." in worker.output():
            return
        time.sleep(0.2)
    pytest.fail(f"celery worker not ready after {WORKER_READY_TIMEOUT:.0f}s:\n{worker.output()[-4000:]}")


def _die_with_parent() -> Callable[[], None] | None:
    """A hook run in the worker before exec: if pytest is killed without teardown (a CI time
    limit), the kernel stops the worker too. Resolved here, so the child only calls into libc."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # warm shutdown: finish the current task, then exit
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker | None]:
    """A real Celery worker on its own queue when REDIS_URL is set; None on the embedded default."""
    if not settings.REDIS_URL:
        yield None
        return
    # read only now: django_db_setup has replaced NAME with this xdist worker's test database
    db_env = _worker_database_env(settings.DATABASES["default"])
    queue = f"oms-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        **db_env,
        "DJANGO_SETTINGS_MODULE": "oms.settings",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DB_POOL_MIN": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "oms", "worker",
        "--pool=solo", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )  # fmt: skip
    worker = Worker(queue, process, log)
    try:
        _wait_ready(worker)
        yield worker
    finally:
        _stop(process)
        _forget_queue(queue)


def _forget_queue(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.delete(queue, *client.scan_iter(match=f"_kombu.binding*.{queue}"))
    finally:
        client.close()


def _children(order_id: str) -> list[dict[str, Any]]:
    return list(Order.objects.filter(parent_id=order_id).values_list("doc", flat=True))


def _wait_for_children(order_id: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        children = _children(order_id)
        if children or time.monotonic() >= deadline:
            return children
        time.sleep(0.1)


@pytest.fixture
def task_queue(celery_worker: Worker | None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Send this test's tasks to the worker's own queue (the app's config is read once: set both)."""
    if celery_worker is None:
        return str(celery_app.conf.task_default_queue)
    settings.CELERY_TASK_DEFAULT_QUEUE = celery_worker.queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", celery_worker.queue)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    return celery_worker.queue


@pytest.mark.django_db(transaction=True)  # committed rows: the worker reads them from its own connection
def test_auto_client_order_is_placed_at_its_venue_by_the_celery_task_after_commit(
    celery_worker: Worker | None, task_queue: str
) -> None:
    if celery_worker is None:
        assert celery_app.conf.task_always_eager, "without REDIS_URL tasks run in-process"

    with transaction.atomic():
        result = dispatch(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": uid("AUTO"),
                "symbol": "AAPL",
                "side": "Buy",
                "orderQty": "100",
                "ordType": "Market",
                "account": "ACC-CELERY",
                "venue": "XNAS",
                "handling": "Auto",
            },
            actor="tester",
        )
        client = result.body["order"]
        assert (client["kind"], client["handling"]) == ("Client", "Auto")
        assert _children(client["orderId"]) == [], "nothing may be placed before the order commits"

    children = _wait_for_children(client["orderId"], PLACEMENT_TIMEOUT if celery_worker else 0)

    log = f"\nworker log:\n{celery_worker.output()[-4000:]}" if celery_worker else ""
    assert len(children) == 1, f"no market order for {client['orderId']} on queue {task_queue}{log}"
    child = children[0]
    assert child["kind"] == "Market"
    assert child["parentId"] == client["orderId"]
    assert child["rootId"] == client["orderId"]
    assert child["venue"] == "XNAS"
    assert float(child["orderQty"]) == 100
    actors = set(OrderEvent.objects.filter(aggregate_id=child["orderId"]).values_list("actor", flat=True))
    assert actors == {"system:auto-placement"}
    if celery_worker is not None:
        # the worker, not this process, ran the task (its log line may trail the commit a little)
        succeeded = re.compile(rf"Task {re.escape(TASK)}\[[^\]]+\] succeeded")
        deadline = time.monotonic() + 5
        while not succeeded.search(celery_worker.output()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert succeeded.search(celery_worker.output()), log
        assert celery_worker.process.poll() is None, "the worker must still be running" + log
