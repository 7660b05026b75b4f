"""Fixed-window counters in the database, and the clock the throttles read (rules.throttles).

A counter (`bucket`) row holds its latest window's start (epoch seconds) and the count in it. One
upsert adds to it and answers the count, so every process shares one count and the count is part
of the command's transaction (a refused or failed command counts nothing). The upsert's row lock
serializes the writers of one bucket until commit: that is what makes the count exact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection
from django.db.models import F

from oms.core import ambient
from oms.core.parsing import iso
from rules.models import ThrottleCount

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _system_clock() -> dt.datetime:
    return ambient.now()  # the system's, or a replayed session's


_clock: list[Callable[[], dt.datetime]] = [_system_clock]


def now() -> dt.datetime:
    return _clock[0]()


@contextlib.contextmanager
def clock(source: Callable[[], dt.datetime]) -> Iterator[None]:
    """Run with another clock (tests): `with clock(lambda: t): ...`."""
    _clock.insert(0, source)
    try:
        yield
    finally:
        _clock.remove(source)


def window_start(at: dt.datetime, seconds: int) -> int:
    """The start (epoch seconds) of the fixed window holding `at`: exact integer arithmetic, so an
    order at 12:00:01.000000 is in the next second's window and one a microsecond before is not."""
    return ((at - _EPOCH) // dt.timedelta(seconds=seconds)) * seconds


def at(start: int) -> str | None:
    """A window's start as the API writes times."""
    return iso(_EPOCH + dt.timedelta(seconds=start))


_TABLE = ThrottleCount._meta.db_table
# A bucket's row holds its latest window: a newer window restarts the count at 1; the same window
# (or an older one, from a process whose clock lags) adds to it, so a lagging clock never
# undercounts. SET reads the old row on both PostgreSQL and SQLite.
_COUNT_SQL = (
    f"INSERT INTO {_TABLE} (bucket, window_start, count) VALUES {{values}} "
    f"ON CONFLICT (bucket) DO UPDATE SET "
    f"count = CASE WHEN {_TABLE}.window_start >= excluded.window_start THEN {_TABLE}.count + 1 ELSE 1 END, "
    f"window_start = CASE WHEN {_TABLE}.window_start >= excluded.window_start "
    f"THEN {_TABLE}.window_start ELSE excluded.window_start END "
    f"RETURNING bucket, count"
)


def send_count(buckets: list[str], start: int) -> Any:
    """Send the upsert adding one to each bucket in the window starting at `start` (inside a
    pipeline it goes out with the statements around it); `take_count` reads its answer."""
    ordered = sorted(set(buckets))  # one lock order for every statement: no deadlock between them
    sql = _COUNT_SQL.format(values=", ".join(["(%s, %s, 1)"] * len(ordered)))
    params: list[Any] = [p for bucket in ordered for p in (bucket, start)]
    cur = connection.cursor()
    cur.execute(sql, params)
    return cur


def take_count(cur: Any) -> dict[str, int]:
    try:
        return {bucket: n for bucket, n in cur.fetchall()}
    finally:
        cur.close()


def count(buckets: list[str], start: int) -> dict[str, int]:
    """Add one to each bucket in the window starting at `start`; their counts, this one included."""
    return take_count(send_count(buckets, start))


def uncount(bucket: str, start: int) -> None:
    """Take back one `count` of this window (an order counted ahead that is not written)."""
    ThrottleCount.objects.filter(bucket=bucket, window_start=start, count__gt=0).update(count=F("count") - 1)


def peek(buckets: list[str], start: int) -> dict[str, int]:
    """What `count` would answer, counting nothing (the preview)."""
    rows = dict(
        ThrottleCount.objects.filter(bucket__in=buckets, window_start__gte=start).values_list(
            "bucket", "count"
        )
    )
    return {bucket: rows.get(bucket, 0) + 1 for bucket in buckets}


def purge_idle(older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Delete the counters idle for longer than any window (the orders' buckets end with them)."""
    cutoff = window_start(now() - older_than, 1)
    deleted, _ = ThrottleCount.objects.filter(window_start__lt=cutoff).delete()
    return deleted
