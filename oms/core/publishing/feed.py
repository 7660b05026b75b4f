"""The committed event feed in `seq` order, and the sinks' durable cursors.

Why a forward-only reader of this feed never skips an event: see the package docstring
(oms/core/publishing/__init__.py), oms/core/sequence.py and docs/design/publication.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from oms.core import eventfeed, eventstore, sequence
from oms.core.models import PublisherCursor

Event = dict[str, Any]

# --- reading the feed -----------------------------------------------------------------------------


def read_events(after_seq: int, limit: int, as_json: bool = False) -> list[Event]:
    """Events with seq > after_seq across every event table, in seq order, as the feed shows them.

    One statement (UNION ALL), hence one snapshot on PostgreSQL and SQLite alike: separate
    queries per table could see a later commit in one table and miss an earlier one in another;
    on PostgreSQL it comes after the horizon's (`sequence.horizon()`), and returns only events
    at or below it: the batch holds every event of its range that will ever commit, and a hole in
    it (a rolled-back transaction's numbers, a purge) is final. The next `limit` events are
    usually those with seq <= after_seq + limit: that bound keeps every read an index range scan
    of `limit` rows however long the backlog. Only when it finds nothing (caught up, or a hole of
    `limit` numbers) is the open query asked.

    `as_json`: for sinks that send text, each event as its headers plus "json", the whole event
    encoded, spliced from the stored JSON text of data, command and state (never parsed: that
    parse and the encode after it were most of the publisher's CPU). Same content as the dict;
    PostgreSQL's jsonb may order keys differently.
    """
    end = sequence.horizon()
    rows = eventfeed.feed_rows(after_seq, limit, end=end, bounded=True, text=as_json) or eventfeed.feed_rows(
        after_seq, limit, end=end, text=as_json
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
    """The end of the feed: every event at or below it that will ever commit has committed
    (`sequence.feed_end()`; numbers below it may be holes)."""
    return sequence.feed_end()


def holes(after_seq: int, events: Sequence[Event]) -> list[tuple[int, int]]:
    """The runs of numbers missing from `events` after `after_seq`, as (first, last) pairs.

    Below the horizon a hole is final (a rolled-back transaction's numbers, or a purge): the
    reader steps over it at once and counts it."""
    out: list[tuple[int, int]] = []
    expected = after_seq + 1
    for event in events:
        if event["seq"] != expected:
            out.append((expected, event["seq"] - 1))
        expected = event["seq"] + 1
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
