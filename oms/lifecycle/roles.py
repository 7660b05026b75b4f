"""PostgreSQL roles: the owner migrates, the application runs as a role that cannot rewrite history.

Two roles (`docs/design/lifecycle-audit.md`, "Roles"):

- the **owner** (`DATABASE_OWNER_URL`) owns the schema, runs `manage.py migrate`, owns the audit
  triggers and the purge functions;
- the **application role** (the user of `DATABASE_URL`), what daphne, the Celery worker and beat
  and the publisher connect as. After every `migrate` (a `post_migrate` receiver, as for the
  triggers, so tables of domains added later are covered) it is created if missing and granted,
  table by table: SELECT and INSERT on every registered event table, SELECT on the purge runs
  and the migration history, SELECT/INSERT/UPDATE/DELETE on every other table (state rows,
  derived indexes, the event sequence row, auth, sessions), USAGE on the sequences and EXECUTE on
  the purge functions and on the pre-trade read (`rules_pretrade_read`: it reads with the
  caller's own table privileges; its migration revoked EXECUTE from PUBLIC). Every other
  privilege on the schema's tables is revoked first, so the grants are exactly these whatever
  happened before. There are no default privileges: a table created by a migration is closed to
  the application until the same `migrate` grants it (fail closed), which it does before it
  returns.

Without `DATABASE_OWNER_URL` the application and the migrations share one role (what the
embedded defaults and the test suite do): the triggers still refuse, but that role owns the
tables and could switch them off.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from oms.lifecycle import audit
from rules.controls import PRETRADE_READ_FUNCTION

READ_ONLY_TABLES = (audit.PURGE_RUNS_TABLE, "django_migrations")


def app_role() -> tuple[str, str]:
    """(name, password) of the application role to grant after `migrate`; name '' for none."""
    return settings.OMS_DATABASE_APP_ROLE, settings.OMS_DATABASE_APP_PASSWORD


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _current_user(connection: BaseDatabaseWrapper) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        return str(cur.fetchone()[0])


def ensure_role(connection: BaseDatabaseWrapper, role: str, password: str = "") -> bool:
    """Create `role` (LOGIN, no other attribute) if it does not exist; True if created.

    Needs the connection's role to have CREATEROLE (or to be a superuser); an existing role is
    left as it is and checked by `problems`.
    """
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone():
            return False
        statement = (
            f"CREATE ROLE {_quoted(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS NOINHERIT"
        )
        if password:
            # CREATE ROLE takes no bind parameters: the password as a quoted literal
            statement += " PASSWORD " + "'" + password.replace("'", "''") + "'"
        cur.execute(statement)
    return True


def problems(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """What would let `role` get around the audit, in words; [] when it cannot."""
    found: list[str] = []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls, rolreplication FROM pg_roles WHERE rolname = %s",
            [role],
        )
        row = cur.fetchone()
        if row is None:
            return [f"role {role} does not exist"]
        for flag, name in zip(row, ("SUPERUSER", "CREATEROLE", "BYPASSRLS", "REPLICATION"), strict=True):
            if flag:
                found.append(f"role {role} has {name}")
        cur.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [role])
        if cur.fetchone()[0]:
            found.append(
                f"role {role} may create objects in the schema (REVOKE CREATE ON SCHEMA ... FROM PUBLIC)"
            )
        cur.execute(
            "SELECT DISTINCT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relname = ANY(%s) AND pg_has_role(%s, c.relowner, 'MEMBER')",
            [[*audit.event_tables(), audit.PURGE_RUNS_TABLE], role],
        )
        for (table,) in cur.fetchall():
            found.append(f"role {role} owns (or is a member of the owner of) {table}")
    return found


def grant(connection: BaseDatabaseWrapper, role: str) -> dict[str, list[str]]:
    """Give `role` exactly the application's privileges on this schema (idempotent, one
    transaction). Returns {privileges: tables} as granted."""
    existing = set(connection.introspection.table_names())
    events = [t for t in audit.event_tables() if t in existing]
    read_only = [t for t in READ_ONLY_TABLES if t in existing]
    others = sorted(existing - set(events) - set(read_only))
    granted = {"SELECT, INSERT": events, "SELECT": read_only, "SELECT, INSERT, UPDATE, DELETE": others}
    r = _quoted(role)
    with transaction.atomic(using=connection.alias), connection.cursor() as cur:
        cur.execute("SELECT current_schema()")
        schema = _quoted(cur.fetchone()[0])
        cur.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {r}")
        cur.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {r}")
        cur.execute(f"GRANT USAGE ON SCHEMA {schema} TO {r}")
        for privileges, tables in granted.items():
            if tables:
                names = ", ".join(connection.ops.quote_name(t) for t in tables)
                cur.execute(f"GRANT {privileges} ON TABLE {names} TO {r}")
        cur.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r}")
        if audit.PURGE_RUNS_TABLE in existing:
            for name, args in audit.PURGE_FUNCTIONS.items():
                cur.execute(f"GRANT EXECUTE ON FUNCTION {name}({args}) TO {r}")
        # every create at a venue calls it (rules.pretrade): absent only below its migration
        name, args = PRETRADE_READ_FUNCTION
        cur.execute("SELECT to_regprocedure(%s) IS NOT NULL", [f"{name}({args})"])
        if cur.fetchone()[0]:
            cur.execute(f"GRANT EXECUTE ON FUNCTION {name}({args}) TO {r}")
    return granted


def grant_after_migrate(connection: BaseDatabaseWrapper) -> None:
    """After `migrate` (PostgreSQL, an application role configured and not the migrating role):
    create the application role if missing, refuse one that could get around the audit, grant."""
    role, password = app_role()
    if connection.vendor != "postgresql" or not role or role == _current_user(connection):
        return
    ensure_role(connection, role, password)
    found = problems(connection, role)
    if found:
        raise ImproperlyConfigured(
            "the application role must not be able to get around the audit: " + "; ".join(found)
        )
    grant(connection, role)


@contextlib.contextmanager
def connected_as(connection: BaseDatabaseWrapper, params: dict[str, Any]) -> Iterator[None]:
    """Run the block on `connection` with other connection settings (USER, PASSWORD, ...), without
    the pool (a pool's connections belong to the settings it was made with); restored after."""
    saved = copy.deepcopy(connection.settings_dict)
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    connection.settings_dict.update(params)
    connection.settings_dict["OPTIONS"] = {
        k: v for k, v in connection.settings_dict.get("OPTIONS", {}).items() if k != "pool"
    }
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
