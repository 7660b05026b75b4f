"""The event feed, read side of the event store: every aggregate's events in one `seq` order
(`GET /api/queries/events?afterSeq=`, the publisher's batches) and one event as the API shows it.
Writes are `oms.core.eventstore`'s; this module only reads the event tables it registered."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from oms.core.eventstore import aggregate_types, iso_z
from oms.core.sql import json_value


def event_to_api(row: Any, topic: str) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "topic": topic,
        "type": row.type,
        "aggregateId": row.aggregate_id,
        "version": row.version,
        "data": row.data,
        "command": row.command,
        "state": row.state,
        "actor": row.actor,
        "correlationId": row.correlation_id,
        "occurredAt": iso_z(row.occurred_at),
        "recordedAt": iso_z(row.recorded_at),
    }


EVENT_COLUMNS = (
    "seq",
    "aggregate_id",
    "version",
    "type",
    "data",
    "command",
    "state",
    "actor",
    "correlation_id",
    "occurred_at",
    "recorded_at",
)


def events_after(after_seq: int, limit: int, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The global feed: events with seq > after_seq across every event table, in seq order."""
    return [row_to_api(row) for row in feed_rows(after_seq, limit, topics)]


# the event columns but the JSON ones, for `feed_rows(..., text=True)`
_HEADER_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in ("data", "command", "state"))


def feed_rows(
    after_seq: int,
    limit: int,
    topics: Iterable[str] | None = None,
    *,
    bounded: bool = False,
    text: bool = False,
) -> list[dict[str, Any]]:
    """The next `limit` event rows after `after_seq` across every event table, in seq order, each
    with its `topic`.

    One statement (UNION ALL over the event tables), hence one snapshot: a query per table could
    see a commit in one table and miss an earlier-seq commit in another that landed between the
    two reads, and a reader continuing after the page's last seq would never see it.

    `bounded`: only seq <= after_seq + limit (seq has no holes, so that range holds the next
    `limit` events unless a purge left a hole): an index range scan however long the backlog.
    `text`: data, command and state as their stored JSON text (`data_text`, ...), never parsed.

    The statement is fixed SQL built once per shape (`_feed_sql`): the publisher reads the feed
    after every commit, and building the UNION of every event table through the ORM cost a few
    milliseconds of CPU each time, held under the GIL beside the threads serving requests.
    """
    wanted = frozenset(topics) if topics else None
    statement, per_part = _feed_sql(wanted, bounded, text, connection.vendor)
    if statement is None:
        return []
    params: list[Any] = []
    for _ in range(per_part[0]):
        params.append(after_seq)
        if bounded:
            params.append(after_seq + limit)
        if per_part[1]:
            params.append(limit)
    params.append(limit)
    columns = _TEXT_ROW if text else _ROW
    with connection.cursor() as cur:
        cur.execute(statement, params)
        raw = cur.fetchall()
    rows = [dict(zip(columns, r, strict=True)) for r in raw]
    for row in rows:
        row["occurred_at"] = _aware(row["occurred_at"])
        row["recorded_at"] = _aware(row["recorded_at"])
        if not text:
            row["data"] = json_value(row["data"])
            row["command"] = json_value(row["command"])
            row["state"] = json_value(row["state"])
    return rows


_TOPIC = re.compile(r"^[a-z0-9_.-]+$")
_ROW = (*EVENT_COLUMNS, "topic")
_TEXT_ROW = (*_HEADER_COLUMNS, "topic", "data_text", "command_text", "state_text")


@lru_cache(maxsize=64)
def _feed_sql(
    wanted: frozenset[str] | None, bounded: bool, text: bool, vendor: str
) -> tuple[str | None, tuple[int, bool]]:
    """The feed statement for one shape, and (parts, whether each part takes its own LIMIT)."""
    qn = connection.ops.quote_name
    if text:
        select = [qn(c) for c in _HEADER_COLUMNS]
    else:
        select = [qn(c) for c in EVENT_COLUMNS]
    parts = []
    for agg in aggregate_types():
        if wanted is not None and agg.topic not in wanted:
            continue
        assert _TOPIC.match(agg.topic), agg.topic  # a literal of the statement: code's own names
        columns = [*select, f"'{agg.topic}' AS topic"]
        if text:
            columns += [f"CAST({qn(c)} AS TEXT) AS {c}_text" for c in ("data", "command", "state")]
        where = f"{qn('seq')} > %s" + (f" AND {qn('seq')} <= %s" if bounded else "")
        parts.append(f"SELECT {', '.join(columns)} FROM {qn(agg.event_model._meta.db_table)} WHERE {where}")
    if not parts:
        return None, (0, False)
    # PostgreSQL: each part an index range scan that stops after `limit` rows (SQLite cannot
    # order and limit the parts of a compound statement)
    limited = len(parts) > 1 and not bounded and vendor == "postgresql"
    if limited:
        parts = [f"({part} ORDER BY {qn('seq')} LIMIT %s)" for part in parts]
    union = " UNION ALL ".join(parts)
    return f"SELECT * FROM ({union}) AS feed ORDER BY {qn('seq')} LIMIT %s", (len(parts), limited)


def _aware(value: Any) -> dt.datetime:
    """A timestamp column as an aware UTC datetime (SQLite's raw cursor gives naive UTC or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def row_to_api(row: dict[str, Any]) -> dict[str, Any]:
    """A `feed_rows` row as the feed shows it."""
    return {
        "seq": row["seq"],
        "topic": row["topic"],
        "type": row["type"],
        "aggregateId": row["aggregate_id"],
        "version": row["version"],
        "data": row["data"],
        "command": row["command"],
        "state": row["state"],
        "actor": row["actor"],
        "correlationId": row["correlation_id"],
        "occurredAt": iso_z(row["occurred_at"]),
        "recordedAt": iso_z(row["recorded_at"]),
    }


def count_events_after(after_seq: int, topics: Iterable[str] | None = None) -> int:
    wanted = set(topics) if topics else None
    return sum(
        agg.event_model._default_manager.filter(seq__gt=after_seq).count()
        for agg in aggregate_types()
        if wanted is None or agg.topic in wanted
    )


def topics() -> list[str]:
    return [agg.topic for agg in aggregate_types()]
