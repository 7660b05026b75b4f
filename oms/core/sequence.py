"""The global `seq`: how a commit takes its numbers, and up to where a reader may trust them.

PostgreSQL: numbers come from a `SEQUENCE` (`oms_event_seq`, CACHE 1), so commits no longer
queue on one row lock held through their WAL flush and concurrent writers share flushes (group
commit). A sequence hands numbers out in one order and transactions commit in another, and a
rolled-back transaction leaves a hole; so every writer marks itself in flight, and every reader
reads only below the *horizon*, the smallest number a transaction still in flight may hold:

- a writer, in its write pipeline after the state rows and before the events, reads the number
  the sequence will hand out next (`k`) and takes a transaction-scoped SHARED advisory lock keyed
  by `k` (`MARK_SQL`; shared, so writers never wait on each other), then takes its numbers with
  `nextval` in the event INSERTs: every number it takes is >= k, and the lock is visible in
  `pg_locks` from before its first number until after its commit is visible (PostgreSQL releases
  a transaction's locks after `ProcArrayEndTransaction`);
- a reader first reads the sequence's last number `L`, then (a correlated subquery: after `L`)
  the smallest marked `k` of other sessions, `h` (`HORIZON_SQL`); the feed's end is
  `min(L, h - 1)`, and the events up to it are read by a LATER statement (a new snapshot under
  READ COMMITTED).

Why an event with seq `s <= end` that ever commits is visible to that later statement: `s <= L`,
so its `nextval` ran before `L` was read, and its transaction's mark `k <= s` was taken before
that. If the mark was still held when the locks were read, `h <= k <= s`, so `s > end`: a
contradiction. So the transaction had ended before: committed (visible to any later snapshot) or
rolled back (a hole for ever). A page read up to the end is therefore complete: a reader resuming
after its last seq never skips an event, and a hole below the end is final and stepped over at
once. docs/architecture.md ("Global seq") has the argument in full and its tests.

SQLite (one writer at a time, `BEGIN IMMEDIATE`) keeps the one-row counter `oms_event_sequence`,
advanced in the committing transaction: commits are serialized, so seq order is commit order,
there are no holes, and a reader needs no horizon (`horizon()` answers None).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

SEQUENCE = "oms_event_seq"
# our advisory lock keys: (TAG << 32) + k, so pg_locks shows classid = TAG + (k >> 32) and objid =
# the low 32 bits (objsubid 1: the one-bigint form); seq below 2**40 keeps classid in TAG..TAG+255.
# Other advisory locks of the schema (the purge's) use small keys.
_TAG = 0x6F6D7300  # "oms\0"
_KEY_BASE = _TAG << 32

# the writer's mark: the next number the sequence will hand out, locked shared until commit
MARK_SQL = (
    f"SELECT pg_advisory_xact_lock_shared({_KEY_BASE} + last_value + CASE WHEN is_called THEN 1 ELSE 0 END)"
    f" FROM {SEQUENCE}"
)

# the reader's horizon: the sequence's end, THEN (correlated on it, so evaluated after it) the
# smallest mark of another session in this database; one's own marks are one's own writes,
# visible to oneself (a test or command reading the feed inside its own transaction)
HORIZON_SQL = f"""
SELECT s.last_value, s.is_called, (
    SELECT min(((l.classid::bigint - {_TAG}) << 32) | l.objid::bigint)
    FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.objsubid = 1
      AND l.classid::bigint BETWEEN {_TAG} AND {_TAG + 255}
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid IS DISTINCT FROM pg_backend_pid()
      AND s.last_value IS NOT NULL
) FROM {SEQUENCE} s
"""

# the counter row, advanced by n and locked to commit: SQLite's seq; on PostgreSQL only the
# baseline of bench/writers.py (OMS_SEQ_ROW_LOCK: commits queue on the row again, numbers still
# come from the sequence, so the switch is safe to flip at any time). An upsert rather than a plain
# UPDATE: the row is recreated if a flush (tests) removed it.
ADVANCE_ROW_SQL = (
    "INSERT INTO oms_event_sequence (id, last_seq) VALUES (1, %s) "
    "ON CONFLICT (id) DO UPDATE SET last_seq = oms_event_sequence.last_seq + excluded.last_seq "
    "RETURNING last_seq"
)


def uses_horizon() -> bool:
    """Numbers from the sequence with in-flight marks (PostgreSQL), or the counter row (SQLite)."""
    return connection.vendor == "postgresql"


def row_lock() -> bool:
    """The benchmark baseline: serialize commits on the counter row as well (PostgreSQL)."""
    return bool(getattr(settings, "OMS_SEQ_ROW_LOCK", False))


def feed_end() -> int:
    """The highest seq up to which the feed is final: every event at or below it that will ever
    commit is visible to any statement that starts after this call returns (0: none yet).

    PostgreSQL: `min(L, h - 1)` (see the module docstring); the caller must read the events in a
    LATER statement under READ COMMITTED, never in a snapshot taken before this call (a REPEATABLE
    READ transaction whose first statement this is would not see what committed meanwhile).
    SQLite: the counter row (commits are serialized and hole-free)."""
    with connection.cursor() as cur:
        if not uses_horizon():
            cur.execute("SELECT last_seq FROM oms_event_sequence WHERE id = 1")
            row = cur.fetchone()
            return int(row[0]) if row else 0
        cur.execute(HORIZON_SQL)
        last_value, is_called, marked = cur.fetchone()
    end = int(last_value) if is_called else int(last_value) - 1
    if marked is not None:
        end = min(end, int(marked) - 1)
    return max(end, 0)


def horizon() -> int | None:
    """The bound a feed read must respect (`seq <= horizon()`), or None when it needs none (SQLite)."""
    return feed_end() if uses_horizon() else None


def advance_past(seq: int) -> None:
    """Make every number handed out from now on greater than `seq` (benchmarks that copy events
    with seqs of their own); never moves the counter back."""
    with connection.cursor() as cur:
        cur.execute("UPDATE oms_event_sequence SET last_seq = %s WHERE id = 1 AND last_seq < %s", [seq, seq])
        if uses_horizon():
            cur.execute(
                f"SELECT setval('{SEQUENCE}', %s) FROM {SEQUENCE} WHERE last_value < %s OR NOT is_called",
                [seq, seq],
            )
