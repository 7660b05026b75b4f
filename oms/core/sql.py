"""Hand-written SQL for the write path: the statements every command issues, prepared once.

The ORM builds each query anew (about 0.2-0.3 ms of Python per statement here); the write path
issues a handful per command, so it uses fixed statements whose parameters are still adapted by
the model fields (`get_db_prep_save`), keeping SQLite and PostgreSQL behaviour identical to the
ORM's. On PostgreSQL the statements of one commit go out in one psycopg pipeline: one network
round trip instead of one per statement.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any, Generic, TypeVar

from django.db import connection, models


@cache
def state_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    """The columns a state (or event) row is written with: every concrete field but an auto key."""
    return tuple(
        f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))
    )


def _quoted(field: models.Field[Any, Any]) -> str:
    assert field.column is not None  # a concrete field has its column
    return connection.ops.quote_name(field.column)


def _columns(model: type[models.Model]) -> str:
    return ", ".join(_quoted(f) for f in state_fields(model))


@cache
def insert_sql(model: type[models.Model]) -> str:
    marks = ", ".join(["%s"] * len(state_fields(model)))
    return (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({_columns(model)}) VALUES ({marks})"
    )


@cache
def update_sql(model: type[models.Model]) -> str:
    """UPDATE ... WHERE pk = %s AND version = %s: a compare-and-set on the version loaded."""
    pk = model._meta.pk
    assert pk is not None
    sets = ", ".join(f"{_quoted(f)} = %s" for f in state_fields(model) if not f.primary_key)
    return f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {sets} WHERE {pk.column} = %s AND version = %s"


Adapter = Callable[[Any], Any]
JSON = None  # marker: a JSON column, encoded once per object per commit (see `Encoded`)


def _adapter(field: models.Field[Any, Any]) -> Adapter | None:
    """The field's own database adaptation, resolved once (what `get_db_prep_save` would do).

    Resolving it per value costs more than the statement itself on the hot path, mostly in
    looking up the thread-local connection again for every column. JSON columns answer None:
    they are encoded by `Encoded`, once per object.
    """
    ops = connection.ops
    if isinstance(field, models.JSONField):
        return JSON
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        return lambda v: ops.adapt_decimalfield_value(v, digits, places)
    if isinstance(field, models.CharField | models.IntegerField | models.BooleanField):
        return lambda v: v
    return lambda v: field.get_db_prep_save(v, connection)


class Encoded:
    """JSON text per object for one commit: the command is stored on every event, and each state
    document both on its row and on its last event; encoding each once saves a third of the
    write path's Python time. Text works for jsonb on PostgreSQL (cast on input) and SQLite."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}
        self._keep: list[Any] = []  # ids are only unique while the objects live

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return None
        key = id(value)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = json.dumps(value)
            self._keep.append(value)
        return text


@cache
def _adapters(
    model: type[models.Model], vendor: str, for_update: bool
) -> tuple[tuple[str, Adapter | None], ...]:
    fields = state_fields(model)
    if for_update:
        fields = tuple(f for f in fields if not f.primary_key)
    return tuple((f.attname, _adapter(f)) for f in fields)


def _params(
    adapters: tuple[tuple[str, Adapter | None], ...], row: dict[str, Any], encode: Encoded
) -> list[Any]:
    return [encode(row[name]) if adapt is JSON else adapt(row[name]) for name, adapt in adapters]


def row_params(
    model: type[models.Model], row: dict[str, Any], encode: Encoded, *, for_update: bool = False
) -> list[Any]:
    return _params(_adapters(model, connection.vendor, for_update), row, encode)


@cache
def _event_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    return tuple(f for f in state_fields(model) if f.attname != "seq")


@cache
def event_insert_sql(model: type[models.Model], rows: int) -> str:
    """Multi-row event INSERT whose seq is read from the sequence row this transaction just advanced."""
    table = connection.ops.quote_name(model._meta.db_table)
    fields = _event_fields(model)
    columns = ", ".join(["seq", *(_quoted(f) for f in fields)])
    one = (
        "((SELECT last_seq FROM oms_event_sequence WHERE id = 1) - %s, "
        + ", ".join(["%s"] * len(fields))
        + ")"
    )
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([one] * rows)


@cache
def _event_adapters(model: type[models.Model], vendor: str) -> tuple[tuple[str, Adapter | None], ...]:
    return tuple((f.attname, _adapter(f)) for f in _event_fields(model))


def event_params(model: type[models.Model], row: dict[str, Any], encode: Encoded) -> list[Any]:
    return _params(_event_adapters(model, connection.vendor), row, encode)


@contextlib.contextmanager
def pipeline() -> Iterator[None]:
    """Batch the statements inside into one round trip on PostgreSQL; a no-op elsewhere."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    # errors surface when the pipeline syncs, outside Django's cursor wrapper: translate them here
    # too (a unique violation is an IntegrityError that dispatch retries, not a driver error)
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows: list[tuple[Any, ...]] = cur.fetchall()  # the DB-API cursor is untyped
        return rows


def execute(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        count: int = cur.rowcount  # the DB-API cursor is untyped
        return count


def json_value(value: Any) -> Any:
    """A JSON column as Python (psycopg decodes jsonb itself; SQLite gives text)."""
    return json.loads(value) if isinstance(value, str) else value


T = TypeVar("T")


class ByText(Generic[T]):
    """What is built from a JSON column, kept under the column's exact text (the statement casts
    it to text): a row read again unchanged, by any order in this process, is not decoded and
    built again. Keyed by the content itself, not by a version or a time, so an entry can never
    be stale, whatever another process wrote: a changed row is a different text, a miss. The
    objects are shared between readers: `build` must answer immutable ones."""

    def __init__(self, build: Callable[[Any], T], limit: int = 4096):
        self._build = build
        self._limit = limit  # distinct texts kept; past it the cache starts afresh (rows change)
        self._kept: dict[str, T] = {}

    def __call__(self, value: Any) -> T:
        if not isinstance(value, str):  # already decoded (a jsonb column not cast): build only
            return self._build(value)
        kept = self._kept.get(value)
        if kept is None:
            if len(self._kept) >= self._limit:
                self._kept.clear()
            kept = self._kept[value] = self._build(json.loads(value))
        return kept
