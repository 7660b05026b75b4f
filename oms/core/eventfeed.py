"""The event feed, read side of the event store: every aggregate's events in one `seq` order
(`GET /api/queries/events?afterSeq=`, the publisher's batches) and one event as the API shows it.
Writes are `oms.core.eventstore`'s; this module only reads the event tables it registered.

Every read stops at the horizon (`oms.core.sequence.horizon()`, PostgreSQL): below it, every
event that will ever commit is visible, so a page is complete up to its last seq and a reader
resuming after it never skips an event; holes below it (rolled-back numbers) are final."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models
from django.db.models.functions import Cast

from oms.core import sequence
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


def events_after(
    after_seq: int, limit: int, topics: Iterable[str] | None = None, *, end: int | None = None
) -> list[dict[str, Any]]:
    """The global feed: events with seq > after_seq across every event table, in seq order, up to
    `end` (a `sequence.horizon()` the caller read; read here when not given)."""
    if end is None:
        end = sequence.horizon()
    return [row_to_api(row) for row in feed_rows(after_seq, limit, topics, end=end)]


# the event columns but the JSON ones, for `feed_rows(..., text=True)`
_HEADER_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in ("data", "command", "state"))


def feed_rows(
    after_seq: int,
    limit: int,
    topics: Iterable[str] | None = None,
    *,
    end: int | None,
    bounded: bool = False,
    text: bool = False,
) -> list[dict[str, Any]]:
    """The next `limit` event rows after `after_seq` across every event table, in seq order, each
    with its `topic`.

    One statement (UNION ALL over the event tables), hence one snapshot: a query per table could
    see a commit in one table and miss an earlier-seq commit in another that landed between the
    two reads, and a reader continuing after the page's last seq would never see it.

    `end`: only seq <= end, the horizon read BEFORE this call (`sequence.horizon()`; None on
    SQLite, where commits are serialized and none is needed). `bounded`: only seq <= after_seq +
    limit (the next `limit` events unless holes are in that range): an index range scan however
    long the backlog. `text`: data, command and state as their stored JSON text (`data_text`,
    ...), never parsed.
    """
    if end is not None and end <= after_seq:
        return []
    wanted = set(topics) if topics else None
    parts: list[models.QuerySet[Any, dict[str, Any]]] = []
    for agg in aggregate_types():
        if wanted is not None and agg.topic not in wanted:
            continue
        events = agg.event_model._default_manager.filter(seq__gt=after_seq)
        upto = [bound for bound in (after_seq + limit if bounded else None, end) if bound is not None]
        if upto:
            events = events.filter(seq__lte=min(upto))
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


def count_events_after(after_seq: int, topics: Iterable[str] | None = None, *, end: int | None = None) -> int:
    """How many events the feed holds after `after_seq`, up to `end` (see `events_after`)."""
    wanted = set(topics) if topics else None
    events = [
        agg.event_model._default_manager.filter(seq__gt=after_seq)
        for agg in aggregate_types()
        if wanted is None or agg.topic in wanted
    ]
    if end is not None:
        events = [e.filter(seq__lte=end) for e in events]
    return sum(e.count() for e in events)


def topics() -> list[str]:
    return [agg.topic for agg in aggregate_types()]
