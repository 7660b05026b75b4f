"""Database-enforced audit on PostgreSQL: the event tables are append-only.

Two locks, one inside the other:

- **Privileges** (`oms/lifecycle/roles.py`): the application connects as a role that does not own
  the tables. It may SELECT and INSERT event rows, nothing else: no UPDATE, DELETE or TRUNCATE,
  no ALTER TABLE (so no DISABLE TRIGGER), no INSERT or UPDATE of `lifecycle_purge_runs`. The only
  way it has to delete events is to EXECUTE the purge functions below.
- **Triggers** (this module), against the owner's own mistakes: a generic trigger function
  refuses every UPDATE of an event table and every DELETE, except a DELETE by a role with the
  owner's privileges inside a transaction that names a *running* `PurgeRun`
  (`set_config('oms.purge_run', '<id>', true)`, which the purge function does). TRUNCATE is
  refused too unless the owner's session says `SET oms.allow_truncate = 'on'` (what the test
  suite's flush between transactional tests needs). The purge-run table itself refuses DELETE
  and TRUNCATE the same way, and UPDATE of a finished run. Both switches are custom settings any
  session may set: they open nothing for a role without the privilege and without the owner's
  rights, which is why they are checked together.

The purge (`oms/lifecycle/purge.py`) goes through four `SECURITY DEFINER` functions owned by the
owner, which the application role may EXECUTE (and PUBLIC may not): `oms_purge_begin` records a
running run, `oms_purge_delete(run, table, ids)` deletes the events of those aggregates from one
audited event table and adds what it deleted (count, seq range) to the run itself,
`oms_purge_finish` closes it and `oms_purge_failed` records a failed attempt. A run deletes and
is finished only in the transaction that began it. Every event that
leaves the database is therefore counted in a PurgeRun row written by the database, not by the
caller.

The triggers and functions are installed after every `migrate` on each registered aggregate's
event table (`install_after_migrate`), so a domain app added later (quotes) is covered without
a migration that depends on it. SQLite has neither roles nor triggers: there the application
path (dispatch appends, the purge job deletes) is the only writer by construction, and the
purge helpers below use the ORM.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django.db import connection as default_connection
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

FUNCTION = "oms_audit_guard"
PURGE_SETTING = "oms.purge_run"
TRUNCATE_SETTING = "oms.allow_truncate"
PURGE_RUNS_TABLE = "lifecycle_purge_runs"
# the SECURITY DEFINER functions the application role may EXECUTE: {name: argument types}
PURGE_FUNCTIONS = {
    "oms_purge_begin": "text, timestamptz, timestamptz, jsonb",
    "oms_purge_delete": "bigint, regclass, text[]",
    "oms_purge_finish": "bigint, jsonb, text, text, bigint",
    "oms_purge_failed": "text, timestamptz, timestamptz, jsonb, text",
}

# the current role has the rights of the table's owner (a superuser has every role's rights)
_OWNER_RIGHTS = "pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE')"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# TG_ARGV[0]: 'events' (an event table), 'purge_runs' (the purge audit itself, statement-level:
# no DELETE) or 'purge_run_row' (row-level: only a running purge run may be updated, to finish it)
def _guard_function_sql(schema: str) -> str:
    """The trigger function; the purge-run table is named with its schema and the search path
    pinned, so no temporary table of the same name can stand in for it."""
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    run text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('{TRUNCATE_SETTING}', true), '') = 'on' AND {_OWNER_RIGHTS} THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'TRUNCATE on % refused: audited table (the owner may SET {TRUNCATE_SETTING} = on to flush)',
            TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' AND TG_ARGV[0] = 'events' THEN
        run := coalesce(current_setting('{PURGE_SETTING}', true), '');
        IF run ~ '^[0-9]{{1,18}}$' AND {_OWNER_RIGHTS} AND EXISTS (
            SELECT 1 FROM {_quoted(schema)}.{PURGE_RUNS_TABLE} WHERE id = run::bigint AND status = 'running'
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


def _purge_functions_sql(schema: str) -> list[str]:
    """The purge functions, owned by whoever runs `migrate` (the owner) and run with its rights.

    `search_path` is pinned (the caller's cannot redirect a name to a table of its own), and
    every table name is qualified with the schema the tables were migrated into.
    """
    runs = f"{_quoted(schema)}.{PURGE_RUNS_TABLE}"
    header = "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$"
    return [
        f"""
CREATE OR REPLACE FUNCTION oms_purge_begin(p_actor text, p_as_of timestamptz,
    p_started_at timestamptz, p_retention jsonb) RETURNS bigint {header}
DECLARE
    run bigint;
BEGIN
    INSERT INTO {runs} (actor, status, as_of, started_at, finished_at, retention_days, counts,
        archive_path, archive_sha256, archive_bytes, seq_min, seq_max, error, txid)
    VALUES (p_actor, 'running', p_as_of, p_started_at, NULL, coalesce(p_retention, '{{}}'), '{{}}',
        '', '', 0, NULL, NULL, '', txid_current())
    RETURNING id INTO run;
    RETURN run;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION oms_purge_delete(p_run bigint, p_table regclass, p_ids text[])
    RETURNS bigint {header}
DECLARE
    n bigint;
    lo bigint;
    hi bigint;
    name text;
BEGIN
    PERFORM 1 FROM {runs} WHERE id = p_run AND status = 'running' AND txid = txid_current() FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purge run % is not running in this transaction: nothing deleted', p_run
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- only an audited event table of this schema: not a state table, not the purge runs
    SELECT c.relname INTO name FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
    WHERE c.oid = p_table AND ns.nspname = '{schema}' AND c.relname <> '{PURGE_RUNS_TABLE}'
      AND EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
                  WHERE t.tgrelid = c.oid AND f.proname = '{FUNCTION}'
                    AND t.tgname = left(c.relname || '_audit_changes', 63));
    IF name IS NULL THEN
        RAISE EXCEPTION '% is not an audited event table: nothing deleted', p_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('{PURGE_SETTING}', p_run::text, true);
    EXECUTE format('WITH gone AS (DELETE FROM %s WHERE aggregate_id = ANY($1) RETURNING seq) '
                   'SELECT count(*), min(seq), max(seq) FROM gone', p_table)
        INTO n, lo, hi USING p_ids;
    PERFORM set_config('{PURGE_SETTING}', '', true);  -- the door closes with the statement
    UPDATE {runs} SET
        counts = counts || jsonb_build_object(name, coalesce((counts ->> name)::bigint, 0) + n),
        seq_min = CASE WHEN lo IS NULL THEN seq_min ELSE least(seq_min, lo) END,
        seq_max = CASE WHEN hi IS NULL THEN seq_max ELSE greatest(seq_max, hi) END
    WHERE id = p_run;
    RETURN n;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION oms_purge_finish(p_run bigint, p_counts jsonb, p_archive_path text,
    p_archive_sha256 text, p_archive_bytes bigint) RETURNS void {header}
BEGIN
    -- the event counts and seq range are the ones oms_purge_delete recorded: the caller's
    -- figures only add the tables it deletes from itself (state rows, derived indexes)
    UPDATE {runs} SET status = 'done', finished_at = clock_timestamp(),
        counts = coalesce(p_counts, '{{}}') || counts, archive_path = p_archive_path,
        archive_sha256 = p_archive_sha256, archive_bytes = p_archive_bytes
    WHERE id = p_run AND status = 'running' AND txid = txid_current();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purge run % is not running in this transaction', p_run USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION oms_purge_failed(p_actor text, p_as_of timestamptz,
    p_started_at timestamptz, p_retention jsonb, p_error text) RETURNS bigint {header}
DECLARE
    run bigint;
BEGIN
    INSERT INTO {runs} (actor, status, as_of, started_at, finished_at, retention_days, counts,
        archive_path, archive_sha256, archive_bytes, seq_min, seq_max, error)
    VALUES (p_actor, 'failed', p_as_of, p_started_at, clock_timestamp(),
        coalesce(p_retention, '{{}}'), '{{}}', '', '', 0, NULL, NULL, left(p_error, 2000))
    RETURNING id INTO run;
    RETURN run;
END
$$""",
    ]


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
    """Create the trigger function, the purge functions and attach the triggers to every existing
    event table (idempotent).

    Returns the tables guarded; nothing on other backends than PostgreSQL.
    """
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    guarded = [t for t in event_tables() if t in existing]
    with connection.cursor() as cur:
        cur.execute("SELECT current_schema()")
        schema = cur.fetchone()[0]
        cur.execute(_guard_function_sql(schema))
        for table in guarded:
            for statement in _trigger_sql(connection, table, "events"):
                cur.execute(statement)
        if PURGE_RUNS_TABLE in existing:
            for statement in _trigger_sql(connection, PURGE_RUNS_TABLE, "purge_runs"):
                cur.execute(statement)
            for statement in _purge_functions_sql(schema):
                cur.execute(statement)
            for name, args in PURGE_FUNCTIONS.items():
                # EXECUTE is granted to PUBLIC at creation: only the roles granted it may purge
                cur.execute(f"REVOKE ALL ON FUNCTION {name}({args}) FROM PUBLIC")
    return guarded


def install_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    from oms.lifecycle import roles

    connection = connections[using]
    install(connection)
    roles.grant_after_migrate(connection)


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
    """Name the running purge run for the rest of this transaction (PostgreSQL; no-op elsewhere).

    Opens the trigger's door for the owner only (the purge functions do this themselves); a role
    without DELETE privilege on the event tables gets nothing from it.
    """
    if connection.vendor != "postgresql":
        return
    assert connection.in_atomic_block, "the purge run setting must be transaction-local"
    with connection.cursor() as cur:
        cur.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, str(run_id)])


# --- the purge's database side: the functions on PostgreSQL, the ORM on SQLite ------------------


def purge_begin(*, actor: str, as_of: dt.datetime, started_at: dt.datetime, retention: dict[str, int]) -> int:
    """Record a running purge run; returns its id."""
    from oms.lifecycle.models import PurgeRun, PurgeStatus

    if default_connection.vendor != "postgresql":
        return int(
            PurgeRun.objects.create(
                actor=actor,
                as_of=as_of,
                started_at=started_at,
                retention_days=retention,
                status=PurgeStatus.RUNNING,
            ).pk
        )
    with default_connection.cursor() as cur:
        cur.execute(
            "SELECT oms_purge_begin(%s, %s, %s, %s::jsonb)", [actor, as_of, started_at, json.dumps(retention)]
        )
        return int(cur.fetchone()[0])


def purge_delete_events(run_id: int, event_model: type[models.Model], aggregate_ids: list[str]) -> int:
    """Delete every event of these aggregates from `event_model`'s table under the running purge
    run `run_id`; returns the number of events deleted."""
    if default_connection.vendor != "postgresql":
        from oms.lifecycle.models import PurgeRun

        run = PurgeRun.objects.get(pk=run_id)
        table = event_model._meta.db_table
        rows = event_model._default_manager.filter(aggregate_id__in=aggregate_ids)
        seqs = list(rows.values_list("seq", flat=True))
        deleted = int(rows.delete()[0])
        if seqs:
            run.seq_min = min([*seqs, run.seq_min]) if run.seq_min is not None else min(seqs)
            run.seq_max = max([*seqs, run.seq_max]) if run.seq_max is not None else max(seqs)
        run.counts = {**run.counts, table: run.counts.get(table, 0) + deleted}
        run.save(update_fields=["seq_min", "seq_max", "counts"])
        return deleted
    with default_connection.cursor() as cur:
        cur.execute(
            "SELECT oms_purge_delete(%s, %s::regclass, %s::text[])",
            [run_id, default_connection.ops.quote_name(event_model._meta.db_table), list(aggregate_ids)],
        )
        return int(cur.fetchone()[0])


def purge_finish(run_id: int, *, counts: dict[str, int], archive_path: str, sha256: str, size: int) -> None:
    """Close the running purge run: `counts` adds the tables the caller deleted from itself; the
    event counts and seq range stay the ones recorded by `purge_delete_events`."""
    from oms.lifecycle.models import PurgeRun, PurgeStatus

    if default_connection.vendor != "postgresql":
        run = PurgeRun.objects.get(pk=run_id)
        run.status = PurgeStatus.DONE
        run.finished_at = dt.datetime.now(dt.UTC)
        run.counts = {**counts, **run.counts}
        run.archive_path, run.archive_sha256, run.archive_bytes = archive_path, sha256, size
        run.save()
        return
    with default_connection.cursor() as cur:
        cur.execute(
            "SELECT oms_purge_finish(%s, %s::jsonb, %s, %s, %s)",
            [run_id, json.dumps(counts), archive_path, sha256, size],
        )


def purge_failed(
    *, actor: str, as_of: dt.datetime, started_at: dt.datetime, retention: dict[str, int], error: str
) -> int:
    """Record a failed purge attempt (its own transaction, after the failed one rolled back)."""
    from oms.lifecycle.models import PurgeRun, PurgeStatus

    if default_connection.vendor != "postgresql":
        return int(
            PurgeRun.objects.create(
                actor=actor,
                as_of=as_of,
                started_at=started_at,
                finished_at=dt.datetime.now(dt.UTC),
                retention_days=retention,
                status=PurgeStatus.FAILED,
                error=error[:2000],
            ).pk
        )
    with default_connection.cursor() as cur:
        cur.execute(
            "SELECT oms_purge_failed(%s, %s, %s, %s::jsonb, %s)",
            [actor, as_of, started_at, json.dumps(retention), error],
        )
        return int(cur.fetchone()[0])


def allow_truncate(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """A `connection_created` receiver for test suites and `manage.py flush` setups: lets TRUNCATE
    (the flush between transactional tests) through the audit triggers on this connection, when it
    is the owner's (a role without the owner's rights gains nothing from it)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SET {TRUNCATE_SETTING} = 'on'")


@contextlib.contextmanager
def triggers_disabled(*tables: str, connection: BaseDatabaseWrapper = default_connection) -> Iterator[None]:
    """Switch the audit triggers of `tables` off inside the current transaction (PostgreSQL).

    For tests that damage the event log on purpose (as the table owner could; the application
    role may not): ALTER TABLE is transactional, so the triggers come back at the end of the
    block, or at rollback.
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
