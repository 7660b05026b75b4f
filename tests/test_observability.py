"""Operations: `/metrics` (each family, after the event that feeds it; who may read it), `/healthz`
and `/readyz` (including the checks that fail).

Metric values are process-wide and other tests of the same worker move them too: each test reads
a sample before and after and asserts the difference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from oms.core import metrics, publishing
from oms.core.models import PublisherCursor
from oms.lifecycle.tasks import expire_due
from tests.conftest import uid
from tests.lifecycle import Desk
from tests.test_blotter_consumer import communicator
from tests.test_publication import REPO, _ListSink

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def staff(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _create_body() -> dict[str, Any]:
    return {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("OBS"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "100",
        "ordType": "Limit",
        "price": "10",
        "account": "ACC1",
        "venue": "MANUAL",
        "handling": "Desk",
    }


# --- commands -------------------------------------------------------------------------------------

COUNT = "oms_command_duration_seconds_count"
CREATE = {"topic": "orders", "command_type": "CreateOrderCommand"}


def test_a_command_is_counted_and_timed_by_topic_type_and_outcome(staff: Client, post: Any) -> None:
    before = scrape(staff)
    body = _create_body()
    assert post("orders", body)[0] == 201
    assert post("orders", body)[1]["duplicate"] is True  # the same content again
    after = scrape(staff)
    assert value(after, COUNT, **CREATE, outcome="ok") - value(before, COUNT, **CREATE, outcome="ok") == 1
    assert (
        value(after, COUNT, **CREATE, outcome="duplicate")
        - value(before, COUNT, **CREATE, outcome="duplicate")
        == 1
    )
    bucket = "oms_command_duration_seconds_bucket"
    assert value(after, bucket, **CREATE, outcome="ok", le="+Inf") == value(
        after, COUNT, **CREATE, outcome="ok"
    )
    assert value(after, "oms_command_duration_seconds_sum", **CREATE, outcome="ok") > 0


def test_an_idempotency_key_replay_counts_as_a_duplicate(staff: Client, post: Any) -> None:
    before = scrape(staff)
    body = _create_body()
    key = uid("IDEM")
    assert post("orders", body, **{"Idempotency-Key": key})[0] == 201
    assert post("orders", body, **{"Idempotency-Key": key})[0] == 201  # the stored answer
    after = scrape(staff)
    assert (
        value(after, COUNT, **CREATE, outcome="duplicate")
        - value(before, COUNT, **CREATE, outcome="duplicate")
        == 1
    )


def test_an_error_is_counted_by_its_code_and_an_unknown_command_type_is_not_a_label(
    staff: Client, post: Any
) -> None:
    before = scrape(staff)
    assert post("orders", {"commandType": "NoSuchCommand-" + uid()})[0] == 400
    assert post("orders", {**_create_body(), "orderQty": "-1"})[0] == 400
    after = scrape(staff)
    unknown = {"topic": "orders", "command_type": "unknown", "outcome": "validation_failed"}
    assert value(after, COUNT, **unknown) - value(before, COUNT, **unknown) == 1
    assert (
        value(after, COUNT, **CREATE, outcome="validation_failed")
        - value(before, COUNT, **CREATE, outcome="validation_failed")
        == 1
    )
    refusals = {"topic": "orders", "code": "validation_failed", "rule": ""}
    assert (
        value(after, "oms_command_refusals_total", **refusals)
        - value(before, "oms_command_refusals_total", **refusals)
        == 2
    )
    assert not any("NoSuchCommand" in str(labels) for _, labels in after)


def test_a_rule_refusal_is_counted_under_its_rule(staff: Client, trader: Desk) -> None:
    before = scrape(staff)
    parent = trader.client_order(100, ordType="Limit", price="10")
    trader.refused("orders", trader.child_command(parent, 10, ordType="Market"), 422, "rule_refused")
    after = scrape(staff)
    labels = {"topic": "orders", "code": "rule_refused", "rule": "child_within_parent_limit"}
    name = "oms_command_refusals_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert (
        value(after, COUNT, **CREATE, outcome="rule_refused")
        - value(before, COUNT, **CREATE, outcome="rule_refused")
        == 1
    )


# --- publisher ------------------------------------------------------------------------------------


def test_published_events_record_their_lag_since_commit(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_seconds_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    feed = [{"seq": s, "recordedAt": two_seconds_ago} for s in (1, 2, 3)]
    monkeypatch.setattr(publishing.feed, "last_seq", lambda: 0)
    monkeypatch.setattr(
        publishing.feed,
        "read_events",
        lambda after, n, as_json=False: [e for e in feed if e["seq"] > after][:n],
    )
    sink = _ListSink()
    sink.name = "list-" + uid()
    runner = publishing.SinkRunner(sink, publishing._Db(), gap_timeout=1)
    assert asyncio.run(runner.step()) == 3
    after = scrape(staff)
    assert value(after, "oms_publisher_events_total", sink=sink.name) == 3
    assert value(after, "oms_publisher_lag_seconds_count", sink=sink.name) == 3
    assert value(after, "oms_publisher_lag_seconds_bucket", sink=sink.name, le="1.0") == 0
    assert value(after, "oms_publisher_lag_seconds_bucket", sink=sink.name, le="5.0") == 3
    assert 6 <= value(after, "oms_publisher_lag_seconds_sum", sink=sink.name) < 30


def test_backlog_is_the_distance_of_each_durable_cursor_from_the_end_of_the_feed(
    staff: Client, trader: Desk
) -> None:
    trader.client_order(100)
    end = publishing.last_seq()
    name = "obs-test-" + uid()
    PublisherCursor.objects.create(name=name, last_seq=end - 1)
    assert value(scrape(staff), "oms_publisher_backlog_events", sink=name) == 1
    trader.client_order(100)
    assert value(scrape(staff), "oms_publisher_backlog_events", sink=name) == 1 + publishing.last_seq() - end


# --- websocket, celery, pool ----------------------------------------------------------------------


def test_websocket_clients_are_a_gauge_of_open_connections(transactional_db: Any, admin_user: User) -> None:
    staff = Client()
    staff.force_login(admin_user)
    gauge = "oms_websocket_clients"
    before = value(scrape(staff), gauge)
    comm = communicator(admin_user)

    async def body() -> tuple[float, float]:
        connected, _ = await comm.connect()
        assert connected
        assert (await comm.receive_json_from())["type"] == "hello"
        while_open = value(await sync_to_async(scrape)(staff), gauge)
        await comm.disconnect()
        return while_open, value(await sync_to_async(scrape)(staff), gauge)

    while_open, after_close = async_to_sync(body)()
    assert while_open - before == 1
    assert after_close == before


def test_celery_task_outcomes_are_counted_per_task_and_state(staff: Client) -> None:
    before = scrape(staff)
    expire_due.delay()
    # a worker's failure; an eager task that propagates (`delay` in the embedded default, `apply`
    # with throw=True) raises before Celery's failure handling, so it sends no signal
    assert expire_due.apply(kwargs={"now": "not a time"}, throw=False).failed()
    after = scrape(staff)
    name = "oms_celery_tasks_total"
    for state in ("success", "failure"):
        labels = {"task": "lifecycle.expire_due", "state": state}
        assert value(after, name, **labels) - value(before, name, **labels) == 1, state


def test_db_pool_gauges_are_exposed_where_a_pool_is_used(staff: Client, settings: Any) -> None:
    body = staff.get("/metrics").content.decode()
    for family in ("oms_db_pool_size", "oms_db_pool_available", "oms_db_pool_requests_waiting"):
        assert f"# TYPE {family} gauge" in body
    if "pool" in settings.DATABASES["default"].get("OPTIONS", {}):
        samples = scrape(staff)
        assert value(samples, "oms_db_pool_size", alias="default") >= 1
        assert value(samples, "oms_db_pool_max", alias="default") >= value(
            samples, "oms_db_pool_size", alias="default"
        )


# --- who may read /metrics ------------------------------------------------------------------------


def test_metrics_need_staff_or_the_bearer_secret(
    db: Any, desk_user: User, admin_user: User, settings: Any
) -> None:
    settings.OMS_METRICS_TOKEN = "s3cret-for-prometheus"
    anonymous = Client()
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        anonymous.get("/metrics", headers={"Authorization": "Bearer s3cret-for-prometheus"}).status_code
        == 200
    )
    assert (
        anonymous.get(
            "/metrics", headers={"Authorization": f"Token {Token.objects.create(user=desk_user).key}"}
        )
    ).status_code == 403
    assert (
        anonymous.get(
            "/metrics", headers={"Authorization": f"Token {Token.objects.create(user=admin_user).key}"}
        )
    ).status_code == 200
    assert anonymous.get("/metrics", headers={"Authorization": "Token not-a-token"}).status_code == 401
    desk = Client()
    desk.force_login(desk_user)
    assert desk.get("/metrics").status_code == 403
    assert (
        anonymous.post("/metrics", headers={"Authorization": "Bearer s3cret-for-prometheus"}).status_code
        == 405
    )


def test_without_a_configured_secret_no_bearer_is_accepted(db: Any, settings: Any) -> None:
    settings.OMS_METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


# --- probes ---------------------------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database() -> None:
    # no `db` fixture: pytest-django fails any query here
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_with_database_migrations_and_redis(db: Any, settings: Any) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["migrations"] == "ok"
    assert checks["redis"] == ("ok" if settings.REDIS_URL else "skipped: not configured")


def test_readyz_names_redis_when_it_is_unreachable(db: Any, settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"].startswith("failed: ")
    assert body["checks"]["database"] == "ok"


def test_readyz_names_an_unapplied_migration(db: Any) -> None:
    latest = MigrationRecorder.Migration.objects.filter(app="core").order_by("-id").first()
    assert latest is not None
    MigrationRecorder.Migration.objects.filter(pk=latest.pk).delete()  # rolled back after the test
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"].startswith("failed: ")
    assert f"core.{latest.name}" in response.json()["checks"]["migrations"]


def test_readyz_names_the_database_when_it_is_unreachable(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> Any:
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:  # undone before the test database is torn down
        patched.setattr(connection, "cursor", unreachable)
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed: OperationalError"
    assert response.json()["checks"]["migrations"] == "skipped: no database"


# --- several processes ----------------------------------------------------------------------------

_WRITER = """
import django
django.setup()
from oms.core import metrics
metrics.celery_task_outcome("obs.multiprocess", "success")
metrics.websocket_connected()
"""
_READER = """
import django
django.setup()
from prometheus_client import generate_latest
from oms.core import metrics
print(generate_latest(metrics.registry()).decode())
"""


def test_with_a_multiprocess_directory_one_scrape_sums_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "oms.settings"}

    def python(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(_WRITER)
    python(_WRITER)
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(python(_READER))
        for s in family.samples
    }
    assert (
        samples[("oms_celery_tasks_total", frozenset({("task", "obs.multiprocess"), ("state", "success")}))]
        == 2
    )
    # livesum: the writers have exited, so no client of theirs counts any more
    assert samples.get(("oms_websocket_clients", frozenset()), 0) == 0


def test_a_process_without_http_serves_its_metrics_on_a_port_of_its_own() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.celery_task_outcome("obs.exporter", "success")
    metrics.serve(port, "127.0.0.1")  # a daemon thread, as in publish_events and the Celery worker
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert 'oms_celery_tasks_total{state="success",task="obs.exporter"}' in body
