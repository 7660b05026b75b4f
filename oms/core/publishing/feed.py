"""The committed event feed in `seq` order, and the sinks' durable cursors.

Why a forward-only reader of this feed never skips an event: see the package docstring
(oms/core/publishing/__init__.py) and docs/design/publication.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from oms.core import eventfeed, eventstore
from oms.core.models import EventSequence, PublisherCursor

Event = dict[str, Any]

# --- reading the feed -----------------------------------------------------------------------------


def read_events(after_seq: int, limit: int, as_json: bool = False) -> list[Event]:
    """Events with seq > after_seq across every event table, in seq order, as the feed shows them.

    One statement (UNION ALL), hence one snapshot on PostgreSQL and SQLite alike: separate
    queries per table could see a later commit in one table and miss an earlier one in another.
    Since seq has no holes, the next `limit` events are those with seq <= after_seq + limit: that
    bound keeps every read an index range scan of `limit` rows however long the backlog. Only when
    it finds nothing (caught up, or a hole of `limit` events left by a purge) is the open query
    asked.

    `as_json`: for sinks that send text, each event as its headers plus "json", the whole event
    encoded, spliced from the stored JSON text of data, command and state (never parsed: that
    parse and the encode after it were most of the publisher's CPU). Same content as the dict;
    PostgreSQL's jsonb may order keys differently.
    """
    rows = eventfeed.feed_rows(after_seq, limit, bounded=True, text=as_json) or eventfeed.feed_rows(
        after_seq, limit, text=as_json
    )
    if as_json:
        return [_json_event(row) for row in rows]
    return [eventfeed.row_to_api(row) for row in rows]


def _json_event(row: dict[str, Any]) -> Event:
    dumps = json.dumps
    text = (
        f'{{"seq":{row["seq"]},"topic":{dumps(row["topic"])},"type":{dumps(row["type"])},'
        f'"aggregateId":{dumps(row["aggregate_id"])},"version":{row["version"]},'
        f'"data":{row["data_text"]},"command":{row["command_text"]},"state":{row["state_text"]},'
        f'"actor":{dumps(row["actor"])},"correlationId":{dumps(row["correlation_id"])},'
        f'"occurredAt":"{eventstore.iso_z(row["occurred_at"])}","recordedAt":"{eventstore.iso_z(row["recorded_at"])}"}}'
    )
    return {
        "seq": row["seq"],
        "topic": row["topic"],
        "type": row["type"],
        "aggregateId": row["aggregate_id"],
        "version": row["version"],
        "recordedAt": eventstore.iso_z(row["recorded_at"]),
        "json": text,
    }


def last_seq() -> int:
    """The end of the feed: the highest committed seq (the counter row has no holes below it)."""
    return EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0


def contiguous(after_seq: int, events: Sequence[Event]) -> list[Event]:
    """The leading run of `events` that continues `after_seq` without a hole."""
    out: list[Event] = []
    expected = after_seq + 1
    for event in events:
        if event["seq"] != expected:
            break
        out.append(event)
        expected += 1
    return out


# --- durable cursors ------------------------------------------------------------------------------


def cursor_load(name: str) -> int:
    return PublisherCursor.objects.get_or_create(name=name)[0].last_seq


def cursor_advance(name: str, seq: int) -> int:
    """Move the cursor forward to `seq` (never back); returns where it now is."""
    moved = PublisherCursor.objects.filter(name=name, last_seq__lt=seq).update(
        last_seq=seq, updated_at=timezone.now()
    )
    if moved:
        return seq
    return PublisherCursor.objects.filter(name=name).values_list("last_seq", flat=True).first() or seq


def cursor_rewind(name: str, seq: int) -> None:
    PublisherCursor.objects.filter(name=name, last_seq__gt=seq).update(
        last_seq=seq, updated_at=timezone.now()
    )


# --- sinks ----------------------------------------------------------------------------------------
