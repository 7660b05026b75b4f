"""The event tables are append-only in the database itself (PostgreSQL triggers): UPDATE, DELETE
and TRUNCATE are refused from the ORM and from a plain connection; only a purge transaction that
names a running PurgeRun may DELETE. The PurgeRun records themselves cannot be deleted or
rewritten once finished.

The application role (oms/lifecycle/roles.py; the suite itself runs as the owner, a superuser)
is refused more: UPDATE, DELETE, TRUNCATE, a forged purge, DISABLE TRIGGER; it deletes events
only through the purge functions, and `manage.py purge` run as that role still purges.

SQLite has no such triggers (the application path is the only writer there): these tests run on
PostgreSQL only, and one test states what SQLite does.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from executions.models import ExecutionEvent
from oms.lifecycle import audit, roles
from oms.lifecycle.models import PurgeRun
from oms.lifecycle.purge import purge
from oms.orders.models import Order, OrderEvent
from rules.controls import PRETRADE_READ_FUNCTION, READ_WITH_IN_FORCE_SQL, read_with_in_force_params
from rules.models import ReferenceVersion
from tests.lifecycle import Desk

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")

EVENT_TABLES = {
    "order_events",
    "execution_events",
    "quote_request_events",
    "quote_events",
    # the trading controls' aggregates (rules/): guarded like the others
    "instrument_events",
    "limit_events",
    "refusal_events",
    "rule_events",
    "venue_events",
    "control_events",
    "cancel_all_events",
    "position_events",
    # reconciliation (oms/reconciliation/)
    "discrepancy_events",
    "reconciliation_run_events",
}


def plain_connection(user: str | None = None, password: str = "") -> Any:
    """A psycopg connection of its own to the test database (not Django's, no session settings),
    as the suite's user (the owner) or as `user`."""
    import psycopg

    s = connection.settings_dict
    kwargs = {
        "dbname": s["NAME"],
        "user": user or s["USER"] or None,
        "host": s["HOST"] or None,
        "port": s["PORT"] or None,
    }
    if user is not None:
        kwargs["password"] = password or None
    elif s.get("PASSWORD"):
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


# --- the application role ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_role(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[str, str]]:
    """(name, password) of an application role on this worker's test database, created and granted
    by `manage.py migrate` itself (its post_migrate step), as in a deployment; dropped after."""
    import secrets

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL roles")
    role = f"{connection.settings_dict['NAME']}_app"[:63]
    password = secrets.token_urlsafe(16)
    with django_db_blocker.unblock():
        if _role_exists(role):  # left by an interrupted run
            with connection.cursor() as cur:
                cur.execute(f'DROP OWNED BY "{role}"')
                cur.execute(f'DROP ROLE "{role}"')
        with override_settings(OMS_DATABASE_APP_ROLE=role, OMS_DATABASE_APP_PASSWORD=password):
            call_command("migrate", verbosity=0, interactive=False)
    yield role, password
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(f'DROP OWNED BY "{role}"')
        cur.execute(f'DROP ROLE IF EXISTS "{role}"')


def _role_exists(role: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        return cur.fetchone() is not None


def as_app(app_role: tuple[str, str]) -> Any:
    return plain_connection(*app_role)


@postgres_only
def test_migrate_grants_the_application_role_exactly_what_the_application_needs(
    app_role: tuple[str, str],
) -> None:
    role = app_role[0]
    assert roles.problems(connection, role) == []
    with connection.cursor() as cur:

        def privileges(table: str) -> set[str]:
            kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
            cur.execute(
                "SELECT " + ", ".join(f"has_table_privilege(%s, %s, '{k}')" for k in kinds),
                [role, table] * len(kinds),
            )
            return {k for k, ok in zip(kinds, cur.fetchone(), strict=True) if ok}

        for table in EVENT_TABLES:
            assert privileges(table) == {"SELECT", "INSERT"}, table
        assert privileges("lifecycle_purge_runs") == {"SELECT"}
        for table in ("orders", "executions", "order_cl_ord_ids", "oms_event_sequence", "auth_user"):
            assert privileges(table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
        # the purge functions, and the pre-trade read every create at a venue calls (rules.pretrade)
        for name, args in [*audit.PURGE_FUNCTIONS.items(), PRETRADE_READ_FUNCTION]:
            cur.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", [role, f"{name}({args})"])
            assert cur.fetchone()[0], name
            # nobody else: EXECUTE was revoked from PUBLIC (the owner keeps it)
            cur.execute("SELECT proacl::text FROM pg_proc WHERE proname = %s", [name])
            acl = cur.fetchone()[0]
            grantees = {item.split("=")[0] for item in acl.strip("{}").split(",")}
            assert "" not in grantees and role in grantees, acl  # "" is PUBLIC
    # the owner itself would not do as the application role
    owner = connection.settings_dict["USER"] or os.environ.get("PGUSER", "")
    if owner:
        assert any("SUPERUSER" in p or "owns" in p for p in roles.problems(connection, owner))


@postgres_only
@pytest.mark.django_db(transaction=True)  # committed: the application role's connection reads it
def test_the_application_role_reads_the_pre_trade_rows_with_its_own_privileges(
    app_role: tuple[str, str],
) -> None:
    """The services run as the application role (CI's smoke too): the pre-trade read's function
    answers it what it answers the owner, not a permission error on every create."""
    ReferenceVersion.objects.get_or_create(pk=1, defaults={"version": 1})  # a flush may have taken it
    params = read_with_in_force_params("XNAS", "ACC1", "ACME")
    with connection.cursor() as cur:
        cur.execute(READ_WITH_IN_FORCE_SQL, params)
        as_owner = sorted(cur.fetchall(), key=repr)
    with as_app(app_role) as app:
        as_application = sorted(app.execute(READ_WITH_IN_FORCE_SQL, params).fetchall(), key=repr)
    assert as_application == as_owner and [row[0] for row in as_owner].count(0) == 1, as_owner


def _current_user() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        return str(cur.fetchone()[0])


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_migrate_runs_as_the_owner_of_database_owner_url(app_role: tuple[str, str]) -> None:
    """The services' settings name the application role; `migrate` switches to the owner's."""
    role, password = app_role
    owner = _current_user()
    with roles.connected_as(connection, {"USER": role, "PASSWORD": password}):
        assert _current_user() == role
        with pytest.raises(DatabaseError, match=r"permission denied|must be owner"):
            call_command("migrate", verbosity=0, interactive=False)  # as the application role
        with override_settings(
            OMS_DATABASE_OWNER={"USER": owner, "PASSWORD": connection.settings_dict.get("PASSWORD") or ""},
            OMS_DATABASE_APP_ROLE=role,
            OMS_DATABASE_APP_PASSWORD=password,
        ):
            call_command("migrate", verbosity=0, interactive=False)
        assert _current_user() == role  # back to the services' own settings afterwards
    assert _current_user() == owner
    assert roles.problems(connection, role) == []


@postgres_only
def test_the_application_role_cannot_update_delete_truncate_or_disable_the_triggers(
    app_role: tuple[str, str],
) -> None:
    denied = "permission denied|must be owner|refused"
    with as_app(app_role) as app:
        for table in sorted(EVENT_TABLES):
            for statement in (
                f"UPDATE {table} SET actor = 'mallory'",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
                f"ALTER TABLE {table} DISABLE TRIGGER USER",
                f"ALTER TABLE {table} DISABLE TRIGGER {table}_audit_changes",
                f"DROP TRIGGER {table}_audit_changes ON {table}",
            ):
                with pytest.raises(Exception, match=denied):
                    app.execute(statement)
        # the truncate switch is a setting any session may set: it opens nothing for this role
        app.execute("SET oms.allow_truncate = 'on'")
        for statement in ("TRUNCATE order_events", "TRUNCATE lifecycle_purge_runs CASCADE"):
            with pytest.raises(Exception, match=denied):
                app.execute(statement)
        # nor can it replace what guards the tables
        for statement in (
            "CREATE OR REPLACE FUNCTION oms_audit_guard() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NULL; END $$",
            "DROP FUNCTION oms_audit_guard() CASCADE",
            "ALTER FUNCTION oms_purge_delete(bigint, regclass, text[]) OWNER TO CURRENT_USER",
        ):
            with pytest.raises(Exception, match=denied):
                app.execute(statement)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_forged_purge_by_the_application_role_is_refused(
    app_role: tuple[str, str], settings: Any, tmp_path: Path
) -> None:
    settings.OMS_ARCHIVE_DIR = tmp_path
    trader = Desk("dispatch")
    order = trader.client_order(10)
    oid = order["orderId"]
    events = OrderEvent.objects.filter(aggregate_id=oid).count()
    now = dt.datetime.now(dt.UTC)
    # a running run left behind (committed), and a finished one, both written by the owner
    left = PurgeRun.objects.create(actor="x", as_of=now, started_at=now, status="running")
    done = PurgeRun.objects.create(actor="x", as_of=now, started_at=now, status="done")
    denied = "permission denied|refused|not running|not an audited event table"
    from psycopg import Rollback

    with as_app(app_role) as app:
        # the old door: insert a running run, name it, DELETE
        with pytest.raises(Exception, match="permission denied"):
            app.execute(
                "INSERT INTO lifecycle_purge_runs (actor, status, as_of, started_at, retention_days, counts, "
                "archive_path, archive_sha256, archive_bytes, error) "
                "VALUES ('mallory', 'running', now(), now(), '{}', '{}', '', '', 0, '')"
            )
        for run in (left, done):
            with app.transaction():
                app.execute("SELECT set_config('oms.purge_run', %s, true)", [str(run.pk)])
                with pytest.raises(Exception, match="permission denied"):
                    with app.transaction():
                        app.execute("DELETE FROM order_events WHERE aggregate_id = %s", [oid])
        for statement in (
            "UPDATE lifecycle_purge_runs SET status = 'running'",
            "DELETE FROM lifecycle_purge_runs",
        ):
            with pytest.raises(Exception, match="permission denied"):
                app.execute(statement)
        # the purge function: only under a run begun in this very transaction, only event tables
        for run_id in (left.pk, done.pk, 999_999_999):
            with pytest.raises(Exception, match=denied):
                app.execute("SELECT oms_purge_delete(%s, 'order_events', %s)", [run_id, [oid]])
        with app.transaction():
            (begun,) = app.execute("SELECT oms_purge_begin('mallory', now(), now(), '{}')").fetchone()
            for table in ("orders", "lifecycle_purge_runs", "order_cl_ord_ids"):
                with pytest.raises(Exception, match=denied), app.transaction():
                    app.execute("SELECT oms_purge_delete(%s, %s::regclass, %s)", [begun, table, [oid]])
            with pytest.raises(Exception, match=denied), app.transaction():
                app.execute("SELECT oms_purge_delete(%s, 'order_events', %s)", [left.pk, [oid]])
            # and what it does delete, the database counts in the run (then we roll it all back)
            (n,) = app.execute("SELECT oms_purge_delete(%s, 'order_events', %s)", [begun, [oid]]).fetchone()
            (counts,) = app.execute(
                "SELECT counts FROM lifecycle_purge_runs WHERE id = %s", [begun]
            ).fetchone()
            assert n == events and counts == {"order_events": events}
            # after the function the switch is closed again, even for the rest of this transaction
            with pytest.raises(Exception, match="permission denied"), app.transaction():
                app.execute("DELETE FROM order_events")
            raise Rollback()  # psycopg: leave the transaction block rolling it back
    assert OrderEvent.objects.filter(aggregate_id=oid).count() == events
    assert not PurgeRun.objects.filter(actor="mallory").exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_manage_py_purge_run_as_the_application_role_purges(
    app_role: tuple[str, str], tmp_path: Path
) -> None:
    trader = Desk("dispatch")
    market = trader.venue_order(10)
    trader.fill(market, 10)
    root_id = market["parentId"]
    ids = list(Order.objects.filter(root_id=root_id).values_list("order_id", flat=True))
    events = OrderEvent.objects.filter(aggregate_id__in=ids).count()
    latest = max(Order.objects.filter(root_id=root_id).values_list("updated_at", flat=True))
    s = connection.settings_dict
    role, password = app_role
    host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{role}:{password}@{host}/{s['NAME']}",
        "OMS_ARCHIVE_DIR": str(tmp_path),
        "DB_POOL": "0",
    }
    env.pop("DATABASE_OWNER_URL", None)
    now = (latest + dt.timedelta(days=91)).isoformat()
    done = subprocess.run(
        [sys.executable, "manage.py", "purge", "--now", now, "--allow-future-now", "--actor", "ops:app"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not OrderEvent.objects.filter(aggregate_id__in=ids).exists()
    assert not Order.objects.filter(order_id__in=ids).exists()
    run = PurgeRun.objects.filter(actor="ops:app").get()
    assert run.status == "done" and run.counts["order_events"] == events
    assert (
        Path(run.archive_path).parent == tmp_path
        and Path(run.archive_path).stat().st_size == run.archive_bytes
    )


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite statement of fact")
def test_sqlite_relies_on_the_application_path() -> None:
    assert audit.install() == []
    assert audit.guarded_tables() == {}
