"""Stream ingestion: one consumer per venue turns its execution stream into OMS commands.

    consumer = StreamConsumer("SIM", adapter)
    while True:
        consumer.step(timeout=1.0)

- fills are deduped by execID (a bounded memory of execIDs seen saves the database the repeat;
  ExecuteOrderCommand's own execID check is the authority, so a restart cannot double-count);
- messages carry the venue's `seq`: one ahead of the last applied is applied at once; one
  further ahead is held while the missing seq may still arrive (reordering), for
  OMS_VENUE_GAP_HOLD_MS; a hole that outlives that is a gap: the consumer resyncs from the REST
  snapshot (the venue's view of every order the OMS has working there, and its fills since the
  last fill seen), then applies what it held and moves on. A seq at or below the last applied is
  a duplicate or a late straggler: applied (idempotent) and counted;
- it starts with a resync (what happened while no consumer ran), and resyncs every
  OMS_VENUE_RESYNC_SECONDS as a safety net;
- the feed watchdog: Healthy while the stream answers; Stale after OMS_VENUE_STALE_SECONDS of
  silence (no answer from the stream), Down after OMS_VENUE_DOWN_SECONDS; each change is logged,
  counted (`oms_venue_feed_alerts_total`) and recorded on the venue registry with lastSeq and
  lastMessageAt (`RecordVenueFeedCommand`, a venue-events event).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.conf import settings

from oms.core import ambient
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from oms.venues import reports
from oms.venues.adapter import StreamMessage, VenueAdapter, VenueBook, VenueError, VenueFill, VenueOrderReport
from oms.venues.bookfeed import BookFeed
from oms.venues.metrics import DUPLICATE_FILLS, FEED_ALERTS, FEED_STATE, STREAM_GAPS, STREAM_MESSAGES
from oms.venues.routing import adapter_for, streamed_venues
from rules.venues import venue_state

log = logging.getLogger(__name__)

WORKING = ("PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingReplace")
FEED_CODES = {"Healthy": 0, "Stale": 1, "Down": 2}
SEEN_EXEC_IDS = 100_000
RECORD_SECONDS = 1.0  # progress (lastSeq) reported to the registry at most this often


# after(venue, why): called once a resync finished (why: "start", a reconnect; "gap"; "periodic").
# Reconciliation registers here (it sits above the venue I/O, which does not import it).
ResyncHook = Callable[[str, str], None]
_AFTER_RESYNC: list[ResyncHook] = []


def after_resync(fn: ResyncHook) -> ResyncHook:
    if fn not in _AFTER_RESYNC:
        _AFTER_RESYNC.append(fn)
    return fn


class StreamConsumer:
    """Its clocks are `oms.core.ambient`'s and its construction and each step are drivers of a
    session tape: a recorded session replays through a consumer in the same state."""

    def __init__(self, venue: str, adapter: VenueAdapter) -> None:
        with ambient.driver("consumer", {"venue": venue}):
            self._start(venue, adapter)

    def _start(self, venue: str, adapter: VenueAdapter) -> None:
        self.venue = venue
        self.adapter = adapter
        self.last_seq: int | None = None
        self.held: dict[int, StreamMessage] = {}
        self.gap_since: float | None = None
        self.last_message_at: dt.datetime | None = None  # venue time of the last message
        self.last_alive = ambient.monotonic()  # the stream last answered (a message or an empty poll)
        self.heard_at = ambient.now()  # the same, as a time for the registry
        self.last_resync: float | None = None
        self.last_fill_at: dt.datetime | None = None
        self.feed = "Healthy"
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.stats = {"messages": 0, "fills": 0, "duplicates": 0, "gaps": 0, "resyncs": 0}
        self._recorded: tuple[str, int | None, float] | None = None
        # the venue's books into rules.books (ccxt); SIM's come with SimSetMarketCommand itself
        self.books = (
            BookFeed(venue, adapter) if adapter.feeds_books and adapter.has.get("watchBook") else None
        )

    # --- the loop ------------------------------------------------------------------------------

    def step(self, timeout: float = 1.0) -> int:
        """Read what the stream has (waiting up to `timeout`), apply it, resync if needed; the
        number of messages read."""
        with ambient.driver("step", {"venue": self.venue, "timeout": timeout}):
            return self._step(timeout)

    def _step(self, timeout: float) -> int:
        if self.last_resync is None:
            self.resync("start")
        if self.books is not None:  # books are read between two waits: wait no longer than a write
            timeout = min(timeout, settings.OMS_VENUE_BOOK_WRITE_MS / 1000)
        try:
            messages = self.adapter.watch_executions(timeout=timeout)
        except VenueError as exc:
            log.warning("venue %s stream: %s", self.venue, exc)
            messages = []
        else:
            self.last_alive = ambient.monotonic()
            self.heard_at = ambient.now()
        # health is judged when the stream answers or fails, before the batch is applied: the
        # time spent applying a large batch (or a resync) is lag, not silence of the venue
        self.watch_health()
        for message in messages:
            self.on_message(message)
        now = ambient.monotonic()
        if self.gap_since is not None and now - self.gap_since >= settings.OMS_VENUE_GAP_HOLD_MS / 1000:
            self._resolve_gap()
        elif self.last_resync is not None and now - self.last_resync >= settings.OMS_VENUE_RESYNC_SECONDS:
            self.resync("periodic")
        self.record_feed()  # progress (lastSeq) after the batch
        if self.books is not None:
            self.books.step(timeout=0)
        return len(messages)

    def on_message(self, message: StreamMessage) -> None:
        self.stats["messages"] += 1
        self.last_message_at = message.ts_event
        kind = (
            "fill"
            if isinstance(message, VenueFill)
            else "book"
            if isinstance(message, VenueBook)
            else "order"
        )
        STREAM_MESSAGES.labels(self.venue, kind).inc()
        seq = message.seq
        if seq is None:
            self._apply(message)
            return
        if self.last_seq is None:
            self.last_seq = seq - 1  # the first message after connecting sets the baseline
        if seq <= self.last_seq:
            self._apply(message)  # a duplicate or a straggler: harmless, applied idempotently
            return
        if seq > self.last_seq + 1:
            self.held[seq] = message  # hold: the missing seq may still come (reordered)
            if self.gap_since is None:
                self.gap_since = ambient.monotonic()
            return
        self._apply(message)
        self.last_seq = seq
        while self.last_seq + 1 in self.held:
            self.last_seq += 1
            self._apply(self.held.pop(self.last_seq))
        if not self.held:
            self.gap_since = None

    def _resolve_gap(self) -> None:
        """The missing seq never came: take the venue's snapshot, then what was held."""
        self.stats["gaps"] += 1
        STREAM_GAPS.labels(self.venue).inc()
        log.warning("venue %s stream gap after seq %s: resync from REST", self.venue, self.last_seq)
        self.resync("gap")
        for seq in sorted(self.held):
            self._apply(self.held[seq])
            self.last_seq = seq
        self.held.clear()
        self.gap_since = None

    def resync(self, why: str) -> None:
        """Bring every OMS order working at the venue to the venue's snapshot: fills first (by
        execID, so nothing counts twice), then each order's status."""
        self.stats["resyncs"] += 1
        self.last_resync = ambient.monotonic()
        try:
            since = None if self.last_fill_at is None else self.last_fill_at - dt.timedelta(minutes=5)
            for fill in self.adapter.fetch_fills(since=since):
                self._apply(fill)
            working = Order.objects.filter(venue=self.venue, kind__in=("Market", "Slice"), status__in=WORKING)
            for cl_ord_id, symbol in working.values_list("cl_ord_id", "symbol"):
                report = self.adapter.fetch_order(cl_ord_id=cl_ord_id, symbol=symbol)
                if report is not None:
                    reports.apply_order_report(report)
        except VenueError as exc:
            log.warning("venue %s resync (%s) failed: %s", self.venue, why, exc)
            self.last_resync = None if why == "start" else self.last_resync
            return
        for hook in _AFTER_RESYNC:
            try:
                hook(self.venue, why)
            except Exception:  # a hook must not stop the stream (it is an alert path itself)
                log.exception("venue %s: after-resync hook failed", self.venue)

    def _apply(self, message: StreamMessage) -> None:
        if isinstance(message, VenueBook):
            # it counts for the sequence; SIM's book is set by SimSetMarketCommand itself (a venue
            # whose books come only by stream would set them here)
            return
        if isinstance(message, VenueOrderReport):
            reports.apply_order_report(message)
            return
        if message.exec_id in self.seen:
            self.stats["duplicates"] += 1
            DUPLICATE_FILLS.labels(self.venue).inc()
            return
        if reports.apply_fill(message):
            self.stats["fills"] += 1
            self.seen[message.exec_id] = None
            if len(self.seen) > SEEN_EXEC_IDS:
                self.seen.popitem(last=False)
        if self.last_fill_at is None or message.ts_event > self.last_fill_at:
            self.last_fill_at = message.ts_event

    # --- feed health ---------------------------------------------------------------------------

    def watch_health(self) -> str:
        silence = ambient.monotonic() - self.last_alive
        feed = "Healthy"
        if silence >= settings.OMS_VENUE_DOWN_SECONDS:
            feed = "Down"
        elif silence >= settings.OMS_VENUE_STALE_SECONDS:
            feed = "Stale"
        if feed != self.feed:
            log.log(
                logging.INFO if feed == "Healthy" else logging.ERROR,
                "ALERT venue %s feed %s -> %s (silent %.1fs)",
                self.venue,
                self.feed,
                feed,
                silence,
            )
            FEED_ALERTS.labels(self.venue, feed).inc()
            self.feed = feed
        FEED_STATE.labels(self.venue).set(FEED_CODES[feed])
        self.record_feed()
        return feed

    def record_feed(self) -> None:
        """The feed state, lastSeq and lastMessageAt (the last time the stream was heard from) on
        the venue registry: at once when the health changes, else every RECORD_SECONDS (the
        registry itself keeps an event only every OMS_VENUE_FEED_RECORD_SECONDS)."""
        heard = self.heard_at
        FEEDS[self.venue] = {"feed": self.feed, "lastSeq": self.last_seq, "lastMessageAt": heard}
        now = ambient.monotonic()
        if self._recorded is not None:
            feed, seq, at = self._recorded
            quiet = seq == self.last_seq or now - at < RECORD_SECONDS
            if feed == self.feed and quiet and now - at < RECORD_SECONDS * 5:
                return
        self._recorded = (self.feed, self.last_seq, now)
        if venue_state(self.venue) is None:
            return  # not registered: nothing to record (SIM before the demo registers it)
        body = {
            "commandType": "RecordVenueFeedCommand",
            "venue": self.venue,
            "feed": self.feed,
            "lastMessageAt": heard.isoformat().replace("+00:00", "Z"),
            "lastSeq": self.last_seq,
        }
        try:
            dispatch("venues", body, actor=reports.actor_for(self.venue))
        except ApplicationError as exc:
            log.warning("venue %s feed record refused: %s %s", self.venue, exc.code, exc.message)


FEEDS: dict[str, dict[str, Any]] = {}  # this process's view, until the venue registry records it
_CONSUMERS: dict[str, StreamConsumer] = {}


def consumer_for(venue: str) -> StreamConsumer | None:
    consumer = _CONSUMERS.get(venue)
    if consumer is None:
        adapter = adapter_for(venue)
        if adapter is None or not adapter.has.get("watchExecutions"):
            return None
        consumer = _CONSUMERS[venue] = StreamConsumer(venue, adapter)
    return consumer


def consumers() -> list[StreamConsumer]:
    """This process's consumers of every venue with a stream (created on first use)."""
    found = [consumer_for(v) for v in streamed_venues()]
    return [c for c in found if c is not None]


def reset_consumers() -> None:
    _CONSUMERS.clear()
    FEEDS.clear()


def watchdog(now: dt.datetime | None = None) -> dict[str, str]:
    """The feed watchdog seen from outside the consumers (a Celery beat task): a venue whose
    consumer stopped reporting (its process died) goes Stale, then Down, by the time its
    lastMessageAt was last recorded. The registry records a heartbeat at most every
    OMS_VENUE_FEED_RECORD_SECONDS, so that much is added to each threshold."""
    from rules.models import Venue

    now = now or dt.datetime.now(dt.UTC)
    slack = settings.OMS_VENUE_FEED_RECORD_SECONDS
    changed = {}
    for doc in Venue.objects.exclude(adapter="MANUAL").values_list("doc", flat=True):
        state = venue_state(doc["venue"])
        if state is None or state.last_message_at is None:
            continue
        silence = (now - state.last_message_at).total_seconds()
        feed = state.feed.value
        if silence >= settings.OMS_VENUE_DOWN_SECONDS + slack:
            feed = "Down"
        elif silence >= settings.OMS_VENUE_STALE_SECONDS + slack and feed == "Healthy":
            feed = "Stale"
        if feed == state.feed.value:
            continue
        log.error(
            "ALERT venue %s feed %s -> %s (no report for %.0fs)", state.venue, state.feed.value, feed, silence
        )
        FEED_ALERTS.labels(state.venue, feed).inc()
        FEED_STATE.labels(state.venue).set(FEED_CODES[feed])
        body = {"commandType": "RecordVenueFeedCommand", "venue": state.venue, "feed": feed}
        dispatch("venues", body, actor="system:venue-watchdog")
        changed[state.venue] = feed
    return changed
