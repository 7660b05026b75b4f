"""The reference data every order's checks read, cached in-process and checked on every order.

Instruments and limits change rarely and are read on every order: each process keeps them in
memory (`Snapshot`) with the `reference_version` they were loaded at. Database triggers move that
version in the transaction of any write of `instruments` or `limits` (rules/migrations/0004), so
the check is exact, not a staleness bound:

    one statement per order: the reference version AND the order's book (books change with the
    market and are read every time, in the same round trip)
    version == cached version -> the cached instruments and limits are current
    otherwise                 -> reload both tables, keep them under the version read first

Why a tightened limit binds at once: the limit's transaction moves the version before it commits;
any order whose statement starts after that commit reads the new version and reloads. An order
already past its version read when the limit committed was ordered before the change (as it would
be with a direct read). Reloading after reading the version can only see newer data than the
version says, never older (read committed), so the worst case is one extra reload. A version a
rolled-back transaction produced is never produced again (a sequence, random()), so a cache
filled inside a transaction that rolled back is never taken for current.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from oms.core import sql
from rules.books import BookView, _levels, book_for
from rules.enums import BookSource
from rules.instruments import InstrumentState
from rules.models import Instrument, Limit, ReferenceVersion

Scope = tuple[str, str]  # (account, symbol) of a limit; (venue, symbol) of an instrument


@dataclass(frozen=True)
class Snapshot:
    version: int | None  # None: not cacheable (the version row was missing)
    limits: dict[Scope, dict[str, Any]] = field(default_factory=dict)  # (account, symbol) -> API doc
    instruments: dict[Scope, InstrumentState] = field(default_factory=dict)  # (venue, symbol) -> state
    by_symbol: dict[str, list[InstrumentState]] = field(default_factory=dict)  # symbol -> by venue
    # what is derived from this data alone, kept with it (rules.limits.limits_of: an order's
    # resolved limits per account and symbol): a moved version is a new snapshot, an empty memo
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


_lock = threading.Lock()
_cache: dict[str, Snapshot] = {}  # database (alias:name) -> snapshot
stats = {"reloads": 0}  # for the tests and the benchmark: how often the snapshot was rebuilt


def db_key() -> str:
    """The database a cache belongs to (alias:name; tests switch the name). One lookup of the
    connection (`connection`'s every attribute is one), three times per order."""
    conn = connections[DEFAULT_DB_ALIAS]
    return f"{conn.alias}:{conn.settings_dict.get('NAME')}"


def _load(version: int | None) -> Snapshot:
    limits = {(r.account, r.symbol): r.doc for r in Limit.objects.only("account", "symbol", "doc")}
    instruments: dict[Scope, InstrumentState] = {}
    by_symbol: dict[str, list[InstrumentState]] = {}
    for row in Instrument.objects.order_by("venue").only("doc"):
        inst = InstrumentState.from_api(row.doc)
        instruments[(inst.venue, inst.symbol)] = inst
        by_symbol.setdefault(inst.symbol, []).append(inst)
    stats["reloads"] += 1
    return Snapshot(version, limits, instruments, by_symbol)


def _current(version: int | None) -> Snapshot:
    key = db_key()
    cached = _cache.get(key)
    if version is not None and cached is not None and cached.version == version:
        return cached
    snapshot = _load(version)
    if version is not None:
        with _lock:
            _cache[key] = snapshot
    return snapshot


# One statement: the version row and the order's book (its venue's, or for a venue-less order the
# freshest of its symbol; one row tagged 0, the book's columns null when there is none), and rows
# the caller appends with UNION ALL in the same shape, a tag then six columns (a new order: the
# controls in force, rules.controls.IN_FORCE_SQL, and the positions the checks read,
# rules.intent.POSITIONS_TAGS).
# Hand-written like the write path's statements (oms.core.sql): the ORM would cost more Python
# than the read. The book's columns come as text (`_book`: parsed once per exact content; the
# driver's timestamptz loader alone cost more than the checks' arithmetic), and so do the
# documents of the appended rows (one column type per position in a UNION).
_BOOK = "b.venue, CAST(b.bids AS TEXT), CAST(b.asks AS TEXT), CAST(b.as_of AS TEXT), b.source"
_READ_AT_VENUE = (
    f"SELECT 0, rv.version, {_BOOK} FROM reference_version rv "
    "LEFT JOIN books b ON b.venue = %s AND b.symbol = %s WHERE rv.id = 1"
)
_READ_ANY_VENUE = (
    f"SELECT * FROM (SELECT 0, rv.version, {_BOOK} FROM reference_version rv "
    "LEFT JOIN books b ON b.symbol = %s WHERE rv.id = 1 ORDER BY b.as_of DESC LIMIT 1) AS r"
)
Read = tuple[Snapshot, BookView | None]


def _as_of(value: Any) -> dt.datetime:
    if isinstance(value, str):  # PostgreSQL's ISO text with its offset; SQLite's, UTC without one
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# (venue, symbol, bids, asks, as_of as read, text) -> the parsed book. Keyed by the row's whole
# content, never by a time or a version, so an entry cannot be stale in any process: a book set
# again (even by another process in the same microsecond) is another key. Orders at a book the
# market did not move share one view (read-only: its callers only read the levels).
_books: dict[tuple[Any, ...], BookView] = {}
_BOOKS_KEPT = 4096


def _book(venue: str, symbol: str, bids: Any, asks: Any, as_of: Any, source: Any) -> BookView:
    key = (venue, symbol, bids, asks, as_of, source)
    view = _books.get(key)
    if view is None:
        view = BookView(
            venue,
            symbol,
            _levels(sql.json_value(bids)),
            _levels(sql.json_value(asks)),
            _as_of(as_of),
            source == BookSource.STREAM,
        )
        if len(_books) >= _BOOKS_KEPT:  # books no longer read at these levels
            _books.clear()
        _books[key] = view
    return view


def send_read(
    venue: str | None,
    symbol: str,
    *,
    also: Sequence[tuple[str, list[Any]]] = (),
    head: tuple[str, list[Any]] | None = None,
) -> Any:
    """Send the statement (inside a pipeline it goes out with the statements around it, e.g. the
    clOrdID reservation), with each of `also` (SQL, params) appended by UNION ALL; `take_read`
    reads its answer. `head`: a statement answering this read's own row (tag 0, for `venue` and
    `symbol`) and possibly others, sent in its place (rules.controls.READ_WITH_IN_FORCE_SQL)."""
    if head is not None:
        query, params = head[0], list(head[1])
    else:
        query, params = (_READ_AT_VENUE, [venue, symbol]) if venue else (_READ_ANY_VENUE, [symbol])
    if also:
        query = " UNION ALL ".join([query, *(q for q, _ in also)])
        params = [*params, *(p for _, ps in also for p in ps)]
    cur = connection.cursor()
    cur.execute(query, params)
    return cur


def take_read(cur: Any, venue: str | None, symbol: str) -> tuple[Read, list[tuple[Any, ...]]]:
    """The reference data and the book, and the appended rows (tags other than 0)."""
    try:
        rows = cur.fetchall()
    finally:
        cur.close()
    own = [r for r in rows if r[0] == 0]
    others = [r for r in rows if r[0] != 0]
    if not own:  # the version row is gone (a test flush truncated it): put it back, read directly
        ReferenceVersion.objects.get_or_create(pk=1, defaults={"version": secrets.randbits(62)})
        return (_load(None), book_for(venue, symbol)), others
    _, version, b_venue, bids, asks, as_of, source = own[0]
    view = _book(b_venue, symbol, bids, asks, as_of, source) if b_venue is not None else None
    return (_current(version), view), others


def read(venue: str | None, symbol: str) -> Read:
    """The current reference data and the order's book, in one round trip when the cache holds."""
    return take_read(send_read(venue, symbol), venue, symbol)[0]


def held() -> Snapshot | None:
    """The snapshot this process holds, unchecked: only to guess which reads an order will need
    (rules.pretrade.prefetch), never to decide."""
    return _cache.get(db_key())


def current() -> Snapshot:
    """The current reference data without a book (the preview's and the admin's explanations)."""
    version = ReferenceVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return _current(version)


def clear() -> None:
    """Forget every snapshot and parsed book (tests that compare a cold and a warm read)."""
    with _lock:
        _cache.clear()
        _books.clear()
