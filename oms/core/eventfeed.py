"""The event feed, read side of the event store: every aggregate's events in one `seq` order
(`GET /api/queries/events?afterSeq=`, the publisher's batches) and one event as the API shows it.
Writes are `oms.core.eventstore`'s; this module only reads the event tables it registered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models
from django.db.models.functions import Cast

from oms.core.eventstore import aggregate_types, iso_z


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
    """
    wanted = set(topics) if topics else None
    parts: list[models.QuerySet[Any, dict[str, Any]]] = []
    for agg in aggregate_types():
        if wanted is not None and agg.topic not in wanted:
            continue
        events = agg.event_model._default_manager.filter(seq__gt=after_seq)
        if bounded:
            events = events.filter(seq__lte=after_seq + limit)
        tagged = events.annotate(topic=models.Value(agg.topic, output_field=models.CharField()))
        part: models.QuerySet[Any, dict[str, Any]]
        if text:
            part = tagged.annotate(
                data_text=Cast("data", models.TextField()),
                command_text=Cast("command", models.TextField()),
                state_text=Cast("state", models.TextField()),
            ).values(*_HEADER_COLUMNS, "topic", "data_text", "command_text", "state_text")
        else:
            part = tagged.values(*EVENT_COLUMNS, "topic")
        parts.append(part.order_by())
    if not parts:
        return []
    if len(parts) == 1:
        query = parts[0]
    else:
        if not bounded and connection.features.supports_slicing_ordering_in_compound:
            # PostgreSQL: each part an index range scan that stops after `limit` rows
            parts = [part.order_by("seq")[:limit] for part in parts]
        query = parts[0].union(*parts[1:], all=True)
    return list(query.order_by("seq")[:limit])


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
