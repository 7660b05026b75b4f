"""Event publication: the committed event feed, in `seq` order, to downstream sinks.

The event tables are the outbox. Each sink has a cursor (the last `seq` it confirmed); a runner
reads the feed after it, hands the batch to the sink and advances the cursor only once the sink
confirmed (at least once). Sinks are configured in `settings.OMS_EVENT_SINKS`:

- `RedisStreamSink` (durable): one Redis Stream per topic (`order-events`, `execution-events`,
  `quote-request-events`, `quote-events`, with `OMS_STREAM_PREFIX`), entry id `<seq>-0`. Redis
  refuses an id at or below a stream's top, so a re-sent event is refused and skipped: restarts
  and overlapping publishers never duplicate an entry, and each stream stays a gap-free prefix of
  its topic. Its cursor is a `PublisherCursor` row.
- `ChannelLayerSink` (live, best effort): the channel layer group its settings entry names (the
  blotter's, in `OMS_EVENT_SINKS`), one message per batch. Its cursor lives in memory and starts
  at the current end of the feed.

Why a reader that only moves forward never skips an event: `seq` numbers come from one counter
row, updated as the last write of every appending transaction and locked until commit, so
transactions commit in `seq` order and the numbers have no holes (a rollback also rolls the
counter back). The feed is read with ONE statement (a UNION ALL over the event tables: one
snapshot), so a batch is always a contiguous run. A hole is therefore a broken invariant, not a
late commit; the runner still waits for one (up to `gap_timeout`) before moving past it, loudly.
docs/design/publication.md has the argument and the measurements.

The package: `feed` (reading the feed, cursors), `sinks` (the destinations), `runner` (a
`SinkRunner` per sink and the `Publisher` that runs them). The names below are the public ones.
"""

from __future__ import annotations

from oms.core.publishing.feed import (
    Event,
    contiguous,
    cursor_advance,
    cursor_load,
    cursor_rewind,
    last_seq,
    read_events,
)
from oms.core.publishing.runner import Publisher, SinkRunner, SinkStats, _Db
from oms.core.publishing.sinks import ChannelLayerSink, RedisStreamSink, Sink, build_sinks

__all__ = [
    "ChannelLayerSink",
    "Event",
    "Publisher",
    "RedisStreamSink",
    "Sink",
    "SinkRunner",
    "SinkStats",
    "_Db",
    "build_sinks",
    "contiguous",
    "cursor_advance",
    "cursor_load",
    "cursor_rewind",
    "last_seq",
    "read_events",
]
