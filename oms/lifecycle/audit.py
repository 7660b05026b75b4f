"""Database-enforced audit on PostgreSQL: the event tables are append-only.

A generic trigger function refuses, in the database itself, every UPDATE of an event table and
every DELETE, except a DELETE inside a purge transaction that names a *running* `PurgeRun`
(`SELECT set_config('oms.purge_run', '<id>', true)`, transaction-local). TRUNCATE is refused too
unless the session says `SET oms.allow_truncate = 'on'` (what `manage.py flush` and the test
suite's flush between transactional tests need: TRUNCATE is a schema-owner's tool, not a path the
application has). The purge-run table itself refuses DELETE and TRUNCATE the same way.

The triggers are statement-level (one check per statement, not per row) and installed after
every `migrate` on each registered aggregate's event table (`install_after_migrate`), so a domain
app added later (quotes) is covered without a migration that depends on it.

What this does not stop: a role that owns the tables can drop or disable the triggers. Run the
application as a role that does not own them (migrations as the owner) for that. SQLite has no
such triggers: there the application path (dispatch appends, the purge job deletes) is the only
writer by construction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

FUNCTION = "oms_audit_guard"
PURGE_SETTING = "oms.purge_run"
TRUNCATE_SETTING = "oms.allow_truncate"
PURGE_RUNS_TABLE = "lifecycle_purge_runs"

# TG_ARGV[0]: 'events' (an event table), 'purge_runs' (the purge audit itself, statement-level:
# no DELETE) or 'purge_run_row' (row-level: only a running purge run may be updated, to finish it)
_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('{TRUNCATE_SETTING}', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'TRUNCATE on % refused: audited table (SET {TRUNCATE_SETTING} = on to flush)',
            TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' AND TG_ARGV[0] = 'events' THEN
        run := coalesce(current_setting('{PURGE_SETTING}', true), '');
        IF run ~ '^[0-9]{{1,18}}$' AND EXISTS (
            SELECT 1 FROM {PURGE_RUNS_TABLE} WHERE id = run::bigint AND status = 'running'
        ) THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'DELETE on % refused: events are append-only; only a recorded purge run deletes',
            TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] = 'purge_run_row' THEN
        -- a purge run is finished once, in its own transaction; a finished record is history
        IF OLD.status = 'running' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'UPDATE of finished purge run % refused', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION '% on % refused: audited table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _trigger_sql(connection: BaseDatabaseWrapper, table: str, kind: str) -> list[str]:
    q = connection.ops.quote_name
    changes = f"{table}_audit_changes"[:63]
    whole = f"{table}_audit_truncate"[:63]
    if kind == "events":
        statements = [
            f"CREATE OR REPLACE TRIGGER {q(changes)} BEFORE UPDATE OR DELETE ON {q(table)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}('events')"
        ]
    else:
        statements = [
            f"CREATE OR REPLACE TRIGGER {q(changes)} BEFORE DELETE ON {q(table)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}('purge_runs')",
            f"CREATE OR REPLACE TRIGGER {q(table + '_audit_finish')} BEFORE UPDATE ON {q(table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}('purge_run_row')",
        ]
    statements.append(
        f"CREATE OR REPLACE TRIGGER {q(whole)} BEFORE TRUNCATE ON {q(table)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}('{kind}')"
    )
    return statements


def event_tables() -> list[str]:
    from oms.core.eventstore import aggregate_types

    return sorted({agg.event_model._meta.db_table for agg in aggregate_types()})


def install(connection: BaseDatabaseWrapper = default_connection) -> list[str]:
    """Create the function and attach the triggers to every existing event table (idempotent).

    Returns the tables guarded; nothing on other backends than PostgreSQL.
    """
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    guarded = [t for t in event_tables() if t in existing]
    with connection.cursor() as cur:
        cur.execute(_FUNCTION_SQL)
        for table in guarded:
            for statement in _trigger_sql(connection, table, "events"):
                cur.execute(statement)
        if PURGE_RUNS_TABLE in existing:
            for statement in _trigger_sql(connection, PURGE_RUNS_TABLE, "purge_runs"):
                cur.execute(statement)
    return guarded


def install_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    install(connections[using])


def guarded_tables(connection: BaseDatabaseWrapper = default_connection) -> dict[str, set[str]]:
    """{table: {trigger events}} of the audit triggers present (PostgreSQL), for checks and tests."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = %s AND NOT t.tgisinternal",
            [FUNCTION],
        )
        out: dict[str, set[str]] = {}
        for table, name in cur.fetchall():
            out.setdefault(table, set()).add(name)
        return out


def mark_purge_run(run_id: int, connection: BaseDatabaseWrapper = default_connection) -> None:
    """Name the running purge run for the rest of this transaction (PostgreSQL; no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    assert connection.in_atomic_block, "the purge run setting must be transaction-local"
    with connection.cursor() as cur:
        cur.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, str(run_id)])


def allow_truncate(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """A `connection_created` receiver for test suites and `manage.py flush` setups: lets TRUNCATE
    (the flush between transactional tests) through the audit triggers on this connection."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SET {TRUNCATE_SETTING} = 'on'")


@contextlib.contextmanager
def triggers_disabled(*tables: str, connection: BaseDatabaseWrapper = default_connection) -> Iterator[None]:
    """Switch the audit triggers of `tables` off inside the current transaction (PostgreSQL).

    For tests that damage the event log on purpose (as a table owner could): ALTER TABLE is
    transactional, so the triggers come back at the end of the block, or at rollback.
    """
    if connection.vendor != "postgresql":
        yield
        return
    q = connection.ops.quote_name
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"ALTER TABLE {q(table)} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            for table in tables:
                cur.execute(f"ALTER TABLE {q(table)} ENABLE TRIGGER USER")
