"""The event tables are append-only in the database itself (PostgreSQL triggers): UPDATE, DELETE
and TRUNCATE are refused from the ORM and from a plain connection; only a purge transaction that
names a running PurgeRun may DELETE. The PurgeRun records themselves cannot be deleted or
rewritten once finished.

SQLite has no such triggers (the application path is the only writer there): these tests run on
PostgreSQL only, and one test states what SQLite does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from executions.models import ExecutionEvent
from oms.lifecycle import audit
from oms.lifecycle.models import PurgeRun
from oms.lifecycle.purge import purge
from oms.orders.models import Order, OrderEvent
from tests.lifecycle import Desk

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")

EVENT_TABLES = {"order_events", "execution_events", "quote_request_events", "quote_events"}


def plain_connection() -> Any:
    """A psycopg connection of its own to the test database (not Django's, no session settings)."""
    import psycopg

    s = connection.settings_dict
    kwargs = {
        "dbname": s["NAME"],
        "user": s["USER"] or None,
        "host": s["HOST"] or None,
        "port": s["PORT"] or None,
    }
    if s.get("PASSWORD"):
        kwargs["password"] = s["PASSWORD"]
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None}, autocommit=True)


@pytest.fixture
def refused() -> Iterator[Any]:
    """`with refused():` the statement inside must be refused by the audit trigger (savepoint)."""

    def check() -> Any:
        return pytest.raises(DatabaseError, match="refused")

    yield check


@postgres_only
def test_every_registered_event_table_and_the_purge_runs_are_guarded() -> None:
    guarded = audit.guarded_tables()
    assert set(audit.event_tables()) == EVENT_TABLES
    for table in EVENT_TABLES:
        assert guarded[table] == {f"{table}_audit_changes", f"{table}_audit_truncate"}, table
    assert guarded["lifecycle_purge_runs"] == {
        "lifecycle_purge_runs_audit_changes",
        "lifecycle_purge_runs_audit_finish",
        "lifecycle_purge_runs_audit_truncate",
    }
    assert audit.install() == sorted(EVENT_TABLES)  # idempotent: installing again changes nothing
    assert audit.guarded_tables() == guarded


@postgres_only
def test_orm_update_and_delete_of_events_are_refused(trader: Desk, refused: Any) -> None:
    order = trader.client_order(10)
    event = OrderEvent.objects.get(aggregate_id=order["orderId"])
    for attempt in (
        lambda: OrderEvent.objects.filter(pk=event.pk).update(actor="mallory"),
        lambda: OrderEvent.objects.filter(pk=event.pk).delete(),
        lambda: ExecutionEvent.objects.all().delete(),
    ):
        with refused(), transaction.atomic():
            attempt()
    assert OrderEvent.objects.get(pk=event.pk).actor == "trader"
    with refused(), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL oms.allow_truncate = 'off'")
        cur.execute("TRUNCATE order_events")
    assert OrderEvent.objects.filter(pk=event.pk).exists()


@postgres_only
def test_a_stale_or_unknown_purge_run_does_not_open_the_door(
    trader: Desk, refused: Any, tmp_path: Path
) -> None:
    order = trader.client_order(10)
    done = PurgeRun.objects.create(
        actor="x", as_of=dt.datetime.now(dt.UTC), started_at=dt.datetime.now(dt.UTC), status="done"
    )
    for run_id in ("999999999", str(done.pk), "1; DROP TABLE orders", ""):
        with refused(), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SELECT set_config('oms.purge_run', %s, true)", [run_id])
            OrderEvent.objects.filter(aggregate_id=order["orderId"]).delete()
    # a running purge run does, inside its own transaction
    with transaction.atomic():
        running = PurgeRun.objects.create(
            actor="x", as_of=dt.datetime.now(dt.UTC), started_at=dt.datetime.now(dt.UTC), status="running"
        )
        audit.mark_purge_run(running.pk)
        assert OrderEvent.objects.filter(aggregate_id=order["orderId"]).delete()[0] == 1
        transaction.set_rollback(True)
    assert OrderEvent.objects.filter(aggregate_id=order["orderId"]).count() == 1


@postgres_only
def test_purge_runs_cannot_be_deleted_or_rewritten_once_finished(refused: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    run = PurgeRun.objects.create(actor="ops", as_of=now, started_at=now, status="running")
    PurgeRun.objects.filter(pk=run.pk).update(status="done", counts={"orders": 1})  # finishing: allowed
    with refused(), transaction.atomic():
        PurgeRun.objects.filter(pk=run.pk).update(counts={"orders": 0})
    with refused(), transaction.atomic():
        PurgeRun.objects.filter(pk=run.pk).delete()
    assert PurgeRun.objects.get(pk=run.pk).counts == {"orders": 1}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_plain_connection_is_refused_and_the_purge_path_is_not(tmp_path: Path, settings: Any) -> None:
    """Committed events, a second client that is not the application: the database says no."""
    settings.OMS_ARCHIVE_DIR = tmp_path
    trader = Desk("dispatch")
    market = trader.venue_order(10)
    trader.fill(market, 10)
    root_id = market["parentId"]
    ids = list(Order.objects.filter(root_id=root_id).values_list("order_id", flat=True))
    events = OrderEvent.objects.filter(aggregate_id__in=ids).count()
    with plain_connection() as other:
        for statement in (
            "UPDATE order_events SET actor = 'mallory'",
            "DELETE FROM order_events",
            "DELETE FROM execution_events WHERE seq > 0",
            "TRUNCATE order_events",
            "TRUNCATE execution_events CASCADE",
            "DELETE FROM lifecycle_purge_runs",
        ):
            with pytest.raises(Exception, match="refused"):
                other.execute(statement)
        other.execute("SET oms.purge_run = '1'")  # no such running run
        with pytest.raises(Exception, match="refused"):
            other.execute("DELETE FROM order_events")
    assert OrderEvent.objects.filter(aggregate_id__in=ids).count() == events

    latest = max(Order.objects.filter(root_id=root_id).values_list("updated_at", flat=True))
    report = purge(now=latest + dt.timedelta(days=91))
    assert report.counts["order_events"] == events
    assert not OrderEvent.objects.filter(aggregate_id__in=ids).exists()
    run = PurgeRun.objects.get(pk=report.runs[0])
    assert run.status == "done"
    # the door closed again with the purge transaction
    other_event = trader.client_order(5)
    with plain_connection() as other:
        other.execute("SELECT set_config('oms.purge_run', %s, false)", [str(run.pk)])
        with pytest.raises(Exception, match="refused"):
            other.execute("DELETE FROM order_events")
    assert OrderEvent.objects.filter(aggregate_id=other_event["orderId"]).exists()


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite statement of fact")
def test_sqlite_relies_on_the_application_path() -> None:
    assert audit.install() == []
    assert audit.guarded_tables() == {}
