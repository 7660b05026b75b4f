"""The blotter's snapshot: the desk's working set, read in one database snapshot at a known seq.

    GET /blotter/api/snapshot   -> 200 application/x-ndjson, Content-Encoding: gzip

The working set (docs/design/blotter-snapshot.md) is what a desk works with, not the history:

* orders: every tree (root and descendants) with a working order or an order updated in the
  current trading day (which starts at the last `OMS_TRADING_DAY_END_UTC`);
* executions: updated in the trading day, or held for review (`PendingReview`);
* quote requests: open (`Open`, `Quoted`) or updated in the trading day;
* quotes: `Active`, of an open request, or updated in the trading day.

Older history is read on demand through the query API (`createdAfter`/`createdBefore` and the
other filters, cursor paging), never with the snapshot.

Consistency: every table is read inside ONE transaction (PostgreSQL: REPEATABLE READ, READ ONLY;
SQLite: one deferred read transaction, i.e. one WAL snapshot), and the committed `seq` is read in
that same transaction. A command advances the sequence row in the transaction that writes its
state rows, so the documents are exactly the state after event `seq`: the page applies the live
events with a greater seq and nothing else (no gap, no double apply).

The body is NDJSON, one JSON object per line:

    {"type": "snapshot", "seq": S, "tradingDayStart": ..., "historyFrom": ..., "generatedAt": ...}
    {"type": "docs", "kind": "orders", "docs": [...]}          (chunks of at most CHUNK documents)
    ...
    {"type": "end", "seq": S, "counts": {"orders": n, "executions": n, ...}}

The last line lets the page tell a complete snapshot from a cut one. The documents are the
stored `doc` JSON text, concatenated without being decoded and re-encoded in Python. The whole
body is built once per seq (gzip-compressed) in a worker thread and shared by every page that
opens meanwhile (`SnapshotCache`): thirty desks opening at once cost one read.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Lookup, QuerySet, TextField
from django.db.models.functions import Cast

from blotter.consumers import max_seq
from executions.enums import ExecStatus
from executions.models import Execution
from oms.core.models import EventSequence
from oms.lifecycle.expiry import trading_day_boundary
from oms.orders.enums import WORKING_STATUSES
from oms.orders.models import Order
from oms.quotes.enums import OPEN_REQUEST_STATUSES, QuoteStatus
from oms.quotes.models import Quote, QuoteRequest

log = logging.getLogger(__name__)

CHUNK = 1000  # documents per NDJSON line
KINDS = ("orders", "executions", "quoteRequests", "quotes")


def trading_day_start(now: dt.datetime | None = None) -> dt.datetime:
    """When the current trading day began: the last `OMS_TRADING_DAY_END_UTC` at or before now."""
    return trading_day_boundary(now or dt.datetime.now(dt.UTC))


ROOTS_PER_QUERY = 2000  # root ids per `root_id IN (...)` (SQLite's bound-parameter limit)


def working_roots(day_start: dt.datetime) -> list[str]:
    """The root ids of the trees in the working set.

    Two indexed reads (the partial index of working orders, `updated_at`) rather than one
    `root_id IN (SELECT ... WHERE status IN (...) OR updated_at >= ...)`, which the planner
    answered with a hash semi-join over a scan of the whole table: at 200,000 orders and 10,000
    in the working set, 1.23 s against 0.06 s for the roots plus 0.08 s per chunk of 2,000 roots
    (EXPLAIN ANALYZE, PostgreSQL 15); the scan grows with the history, the index reads do not."""
    working = [s.value for s in WORKING_STATUSES]
    roots: set[str] = set()
    for qs in (
        Order.objects.filter(status__in=working),
        Order.objects.filter(updated_at__gte=day_start),
    ):
        roots.update(qs.values_list("root_id", flat=True))
    return sorted(roots)


def working_set(day_start: dt.datetime) -> dict[str, list[QuerySet[Any]]]:
    """Per kind, the reads whose union is the working set (see the module's docstring).

    Called inside the snapshot's transaction: the root ids are read in it too. Each read is one
    indexed predicate (no `OR` across columns, no `IN (subquery)` beside another predicate): the
    planner answered `status = <active> OR updated_at >= ... OR quote_request_id IN (SELECT ...)`
    with a scan of the whole table, whose cost grows with the history. A document two reads find
    is sent once."""
    roots = working_roots(day_start)
    open_requests = [s.value for s in OPEN_REQUEST_STATUSES]
    open_request_ids = QuoteRequest.objects.filter(status__in=open_requests).values("quote_request_id")
    return {
        # PostgreSQL: one `root_id = ANY(array)`, one parameter (psycopg parsed a statement of
        # 2,000 placeholders per chunk: 0.2 s of the build's CPU); SQLite: IN chunks (its
        # bound-parameter limit)
        "orders": [Order.objects.filter(AnyOf(F("root_id"), roots))]
        if connection.vendor == "postgresql"
        else [
            Order.objects.filter(root_id__in=roots[i : i + ROOTS_PER_QUERY])
            for i in range(0, len(roots), ROOTS_PER_QUERY)
        ],
        "executions": [
            Execution.objects.filter(updated_at__gte=day_start),
            Execution.objects.filter(status=ExecStatus.PENDING_REVIEW.value),
        ],
        "quoteRequests": [
            QuoteRequest.objects.filter(status__in=open_requests),
            QuoteRequest.objects.filter(updated_at__gte=day_start),
        ],
        "quotes": [
            Quote.objects.filter(status=QuoteStatus.ACTIVE.value),
            Quote.objects.filter(updated_at__gte=day_start),
            Quote.objects.filter(quote_request_id__in=open_request_ids),
        ],
    }


def _doc_texts(querysets: list[QuerySet[Any]]) -> list[str]:
    """The stored documents of the reads as JSON text, not decoded (PostgreSQL jsonb::text,
    SQLite's text), each once, the newest first (as the grid sorts them: a presorted list costs
    Tabulator's first sort n comparisons instead of n log n).

    Plain fetches, no ORDER BY and no server-side cursor: the set is bounded (the build holds the
    body anyway), and a cursor is planned for its first 10% of rows (`cursor_tuple_fraction`):
    `root_id IN (2,000 ids) ORDER BY created_at DESC` in a cursor walked the whole `orders_created`
    index and filtered it wherever the working trees are a large share of the table (8,000 rows
    removed per chunk of 2,000 at 10,000 orders: docs/benchmarks.md section 26), a plan whose cost
    is the table's. Sorted here on the time as text (UTC on both backends: its order is the
    time's), not parsed into 10,000 datetimes."""
    rows: dict[str, tuple[str, str, str]] = {}
    for queryset in querysets:
        pk = queryset.model._meta.pk.attname
        texts = queryset.annotate(
            created_text=Cast("created_at", output_field=TextField()),
            doc_text=Cast("doc", output_field=TextField()),
        ).values_list("created_text", pk, "doc_text")
        for created, key, text in cast("list[tuple[str, str, str]]", list(texts)):
            rows[key] = (created, key, text)
    return [row[2] for row in sorted(rows.values(), key=lambda row: (row[0], row[1]), reverse=True)]


class AnyOf(Lookup[str]):
    """`column = ANY(%s)` with the values as one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(self.rhs))


@contextmanager
def read_snapshot() -> Iterator[None]:
    """One read-only database snapshot around the block (see the module's docstring)."""
    if connection.in_atomic_block:  # the caller's transaction is the snapshot (tests, nested use)
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    # SQLite: the settings open write transactions with BEGIN IMMEDIATE (the write lock); a
    # snapshot must not take it, or every command would wait for the page's download. A deferred
    # transaction reads one WAL snapshot from its first SELECT and blocks no writer.
    connection.ensure_connection()
    with connection.cursor() as cur:
        cur.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("COMMIT")


def _json_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def snapshot_lines(day_start: dt.datetime | None = None, pause: Any = None) -> Iterator[str]:
    """The NDJSON lines of one snapshot, read inside one database snapshot.

    `pause(kind)` (tests) is called before each kind is read, inside the transaction."""
    day_start = day_start or trading_day_start()
    with read_snapshot():
        # the first read of the transaction fixes its snapshot: the seq and every table below
        # are as of the same commit
        seq = EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0
        yield (
            f'{{"type":"snapshot","seq":{seq},"tradingDayStart":"{_json_time(day_start)}",'
            f'"historyFrom":"{_json_time(day_start)}","generatedAt":"{_json_time(dt.datetime.now(dt.UTC))}"}}\n'
        )
        counts: dict[str, int] = {}
        for kind, querysets in working_set(day_start).items():
            if pause is not None:
                pause(kind)
            texts = _doc_texts(querysets)
            for i in range(0, len(texts), CHUNK):
                yield f'{{"type":"docs","kind":"{kind}","docs":[{",".join(texts[i : i + CHUNK])}]}}\n'
            counts[kind] = len(texts)
        count_text = ",".join(f'"{k}":{v}' for k, v in counts.items())
        yield f'{{"type":"end","seq":{seq},"counts":{{{count_text}}}}}\n'


@dataclass(frozen=True)
class Snapshot:
    seq: int
    day_start: dt.datetime
    body: bytes  # gzip of the NDJSON
    raw_bytes: int
    built_at: float  # time.monotonic()
    build_seconds: float


def build(day_start: dt.datetime | None = None) -> Snapshot:
    """One snapshot, compressed (runs in a worker thread: never on the event loop)."""
    began = time.perf_counter()
    day_start = day_start or trading_day_start()
    lines = list(snapshot_lines(day_start))
    raw = "".join(lines).encode()
    body = gzip.compress(raw, compresslevel=settings.OMS_BLOTTER_SNAPSHOT_GZIP_LEVEL, mtime=0)
    seq = int(lines[0].split('"seq":', 1)[1].split(",", 1)[0])
    return Snapshot(seq, day_start, body, len(raw), time.monotonic(), time.perf_counter() - began)


class SnapshotCache:
    """The last snapshot, shared by every page that opens while it is current (one per process).

    A cached snapshot is served while it is of the current trading day and either at the
    committed seq or younger than `OMS_BLOTTER_SNAPSHOT_MAX_AGE` seconds (and at most
    `OMS_BLOTTER_SNAPSHOT_MAX_LAG` events behind): the page catches up from the event feed after its
    seq, as after any gap. One build at a time (the others wait for it and share it).

    After a page's open the cache keeps itself warm (`keep_warm`) for `OMS_BLOTTER_SNAPSHOT_WARM`
    seconds: the next page shares a build instead of waiting for one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self.builds = 0
        self.hits = 0
        self.warm_builds = 0  # of `builds`: made ahead of a page by the warming thread
        self._warm_lock = threading.Lock()
        self._warm_until = 0.0  # time.monotonic()
        self._warmer: threading.Thread | None = None

    def _fresh(self, snap: Snapshot | None, seq: int, day_start: dt.datetime) -> bool:
        if snap is None or snap.day_start != day_start or snap.seq > seq:
            return False  # none, yesterday's, or of another (reset) database
        if snap.seq == seq:
            return True
        young = time.monotonic() - snap.built_at <= settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE
        return young and seq - snap.seq <= settings.OMS_BLOTTER_SNAPSHOT_MAX_LAG

    def get(self) -> Snapshot:
        return self.get_built()[0]

    def get_built(self) -> tuple[Snapshot, bool]:
        """The snapshot to serve, and whether this call built it (else it is shared)."""
        day_start = trading_day_start()
        seq = max_seq()
        snap = self._current
        if self._fresh(snap, seq, day_start):
            self.hits += 1
            assert snap is not None
            return snap, False
        with self._lock:  # single flight: whoever waited here takes the build that just finished
            snap = self._current
            if self._fresh(snap, seq, day_start):
                self.hits += 1
                assert snap is not None
                return snap, False
            snap = build(day_start)
            self._current = snap
            self.builds += 1
            return snap, True

    def keep_warm(self) -> None:
        """A page opened: for the next `OMS_BLOTTER_SNAPSHOT_WARM` seconds, rebuild the snapshot in
        the background whenever the committed seq moved, every half of the shareable age. A page
        that opens meanwhile finds a build young enough to share (`_fresh`) instead of waiting for
        its own: a cold build was most of a page's wait under load (docs/benchmarks.md, sections
        26 and 30). Pages come in bursts (a desk's morning, reconnects after a network drop), so
        warming follows the opens, and costs nothing while no page opens or nothing commits."""
        warm, max_age = settings.OMS_BLOTTER_SNAPSHOT_WARM, settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE
        if warm <= 0 or max_age <= 0:  # off, or only a build at the committed seq is shared
            return
        with self._warm_lock:
            self._warm_until = time.monotonic() + warm
            if self._warmer is None:
                self._warmer = threading.Thread(target=self._warm, name="blotter-snapshot-warm", daemon=True)
                self._warmer.start()

    def _warm(self) -> None:
        try:
            while True:
                time.sleep(settings.OMS_BLOTTER_SNAPSHOT_MAX_AGE / 2)
                with self._warm_lock:
                    if time.monotonic() >= self._warm_until:
                        return
                self._refresh()
        except Exception:  # a failed read: pages build their own again, as without warming
            log.exception("blotter snapshot: warming stopped")
        finally:
            with self._warm_lock:
                self._warmer = None
            connection.close()  # this thread's own connection (back to the pool)

    def _refresh(self) -> None:
        """Build at the committed seq unless the cached snapshot is at it (single flight with pages)."""
        day_start = trading_day_start()
        seq = max_seq()
        snap = self._current
        if snap is not None and snap.day_start == day_start and snap.seq == seq:
            return
        with self._lock:
            snap = self._current
            if snap is not None and snap.day_start == day_start and snap.seq >= seq:
                return  # a page built it meanwhile
            self._current = build(day_start)
            self.builds += 1
            self.warm_builds += 1

    def clear(self) -> None:
        with self._warm_lock:
            self._warm_until = 0.0  # a warming thread stops at its next turn
        with self._lock:
            self._current = None
            self.builds = self.hits = self.warm_builds = 0


SNAPSHOTS = SnapshotCache()
