"""Replay: rebuild every state table from the event tables with the `apply` that runs live.

    report = replay()                      # verify: compare, change nothing
    report = replay(rebuild=True)          # rewrite what differs, in one transaction

For each registered `AggregateType`, the events are streamed in `(aggregate_id, version)` order
(a server-side cursor on PostgreSQL, so memory stays bounded) and folded with `agg.apply`. Verify
compares every replayed state with the state row (its `doc` and its typed columns) and with the
`state` stored on each event, checks that versions run 1..n with n = the row's version, and
reports state rows that have no events. Rebuild writes the rows that differ (and creates missing
ones, deletes rows without events) and rebuilds the derived indexes (`DerivedIndex`, e.g. the
ClOrdID index of orders), refusing to run over a damaged event log (a gap, an event `apply`
cannot take).

Domain apps contribute derived indexes from a `replay` module (`<app>/replay.py`) that their
AppConfig.ready imports (it registers them), so the core stays ignorant of orders.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef

from oms.core.eventstore import AggregateType, aggregate_types
from oms.core.fold import Envelope
from oms.core.models import EventSequence
from oms.core.replay_report import (  # re-exported: replay's public names stay importable here
    DerivedIndex,
    Difference,
    ReplayAborted,
    ReplayReport,
    TypeReport,
    derived_indexes,
    format_report,
    register_index,
)

__all__ = [
    "DerivedIndex",
    "Difference",
    "ReplayAborted",
    "ReplayReport",
    "TypeReport",
    "derived_indexes",
    "format_report",
    "register_index",
    "replay",
]

_MISSING = object()


@dataclass
class _Folded:
    aggregate_id: str
    state: Any
    doc: dict[str, Any] | None
    count: int
    broken: bool


class _Run:
    def __init__(self, report: ReplayReport, *, rebuild: bool, max_differences: int):
        self.report = report
        self.rebuild = rebuild
        self.max_differences = max_differences
        self.sqlite: bool = connection.vendor == "sqlite"

    def differ(self, tr: TypeReport, diff: Difference, *, log_damage: bool = False) -> None:
        tr.differences += 1
        self.report.difference_count += 1
        if log_damage:
            self.report.broken_log += 1
        if len(self.report.differences) < self.max_differences:
            self.report.differences.append(diff)

    def same_value(self, live: Any, replayed: Any) -> bool:
        if isinstance(live, Decimal) and isinstance(replayed, Decimal):
            if live == replayed:
                return True
            # SQLite keeps decimal columns as REAL (15 significant digits): `doc` holds the exact
            # value, the column only needs to be as close as SQLite can store it
            return self.sqlite and abs(live - replayed) <= max(abs(live), abs(replayed)) * Decimal("1e-14")
        return bool(live == replayed)  # column values of any type: their own __eq__


def replay(
    *,
    types: Iterable[str] | None = None,
    only: Mapping[str, Collection[str]] | None = None,
    rebuild: bool = False,
    chunk_size: int = 2000,
    batch_size: int = 500,
    max_differences: int = 1000,
) -> ReplayReport:
    """Replay the event tables; verify (default) or rebuild the state tables and derived indexes.

    `only` = {type name: aggregate ids} replays just those aggregates (the types not named are
    skipped); rows and index entries that no event explains are then not looked for.
    """
    if only is not None:
        types = [name for name, ids in only.items() if ids]
    wanted = set(types) if types is not None else None
    aggs = [a for a in aggregate_types() if wanted is None or a.name in wanted]
    if wanted is not None and len(aggs) != len(wanted):
        known = ", ".join(a.name for a in aggregate_types())
        raise ValueError(
            f"unknown aggregate type(s) {sorted(wanted - {a.name for a in aggs})}; known: {known}"
        )
    indexes = derived_indexes()
    report = ReplayReport(mode="rebuild" if rebuild else "verify")
    run = _Run(report, rebuild=rebuild, max_differences=max_differences)
    started = time.perf_counter()
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        if rebuild:
            _hold_writers(indexes)
        elif fresh and connection.vendor == "postgresql":
            # one snapshot for every table read, so commands running meanwhile cause no false alarms
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for agg in aggs:
            tr = TypeReport(agg.name)
            report.types.append(tr)
            t0 = time.perf_counter()
            ids = sorted(only[agg.name]) if only is not None else None
            scoped = [ix for ix in indexes if ix.aggregate == agg.name]
            _replay_type(run, tr, agg, scoped, chunk_size, batch_size, ids)
            tr.seconds = time.perf_counter() - t0
        if rebuild and report.broken_log:
            raise ReplayAborted(report)
    report.seconds = time.perf_counter() - started
    return report


def _hold_writers(indexes: list[DerivedIndex]) -> None:
    """Make commands wait for the rebuild, without deadlocking with the ones in flight.

    Commands lock state rows (and claim index rows) first and the event sequence row last. So
    the rebuild takes the tables first (PostgreSQL: EXCLUSIVE still lets readers in; it waits for
    the commands in flight to commit), then the sequence row. SQLite's write lock, taken when the
    transaction began, already excludes every other writer.
    """
    if connection.vendor == "postgresql":
        tables = [a.state_model._meta.db_table for a in aggregate_types()]
        tables += [ix.model._meta.db_table for ix in indexes]
        names = ", ".join(connection.ops.quote_name(t) for t in dict.fromkeys(tables))
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
    with connection.cursor() as cur:
        table = connection.ops.quote_name(EventSequence._meta.db_table)
        cur.execute(f"UPDATE {table} SET last_seq = last_seq WHERE id = 1")


def _stream(
    agg: AggregateType[Any], chunk_size: int, with_state: bool, ids: list[str] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Events as (aggregate_id, version, type, data, occurred_at, recorded_at[, state]) tuples.

    The ORM builds the query; the rows are read from a chunked cursor (server-side on
    PostgreSQL) and converted here, because the ORM's generic per-value converters cost as much
    as the replay itself. Both backends hand JSON over as text and SQLite datetimes as text.
    """
    cols = ["aggregate_id", "version", "type", "data", "occurred_at", "recorded_at"]
    if with_state:
        cols.append("state")
    qs = agg.event_model._default_manager.all()
    if ids is not None:
        qs = qs.filter(aggregate_id__in=ids)
    sql, params = qs.order_by("aggregate_id", "version").values_list(*cols).query.sql_with_params()
    loads = json.loads
    when = _DatetimeParser()
    with connection.chunked_cursor() as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(chunk_size):
            for r in rows:
                data = r[3] if isinstance(r[3], dict) else loads(r[3])
                if with_state:
                    state = r[6] if isinstance(r[6], dict) else loads(r[6])
                    yield r[0], r[1], r[2], data, when(r[4]), when(r[5]), state
                else:
                    yield r[0], r[1], r[2], data, when(r[4]), when(r[5])


class _DatetimeParser:
    """Database datetime values to aware UTC datetimes; the events of one command share theirs."""

    def __init__(self) -> None:
        self.last_raw: Any = None
        self.last: dt.datetime | None = None

    def __call__(self, raw: Any) -> dt.datetime:
        if raw == self.last_raw and self.last is not None:
            return self.last
        if isinstance(raw, dt.datetime):
            value = raw
        else:
            value = dt.datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)  # stored in UTC (USE_TZ), naive on SQLite
        self.last_raw, self.last = raw, value
        return value


def _replay_type(
    run: _Run,
    tr: TypeReport,
    agg: AggregateType[Any],
    indexes: list[DerivedIndex],
    chunk_size: int,
    batch_size: int,
    ids: list[str] | None,
) -> None:
    verify_events = not run.rebuild
    apply, to_api = agg.apply, agg.to_api
    name = agg.name
    batch: list[_Folded] = []
    replayed: set[str] = set()
    index_rows: list[dict[str, tuple[str, dict[str, Any]]]] = [{} for _ in indexes]
    index_found = [0 for _ in indexes]  # implied rows present in the index table
    current: str | None = None
    state: Any = None
    doc: dict[str, Any] | None = None
    count = 0
    last_version = 0
    broken = False

    def close() -> None:
        if current is None:
            return
        batch.append(_Folded(current, state, doc, count, broken))
        if ids is not None:
            replayed.add(current)
        tr.aggregates += 1
        if len(batch) >= batch_size:
            _flush(run, tr, agg, batch, indexes, index_rows, index_found)
            batch.clear()
            for rows in index_rows:
                rows.clear()

    for row in _stream(agg, chunk_size, verify_events, ids):
        aggregate_id, version, event_type, data, occurred_at, recorded_at = row[:6]
        if aggregate_id != current:
            close()
            current, state, doc, count, last_version, broken = aggregate_id, None, None, 0, 0, False
        count += 1
        tr.events += 1
        if broken:
            continue
        if version != last_version + 1:
            # versions must run 1..n: a gap (or a duplicate) means events are missing
            run.differ(
                tr,
                Difference(name, aggregate_id, "events", "version", version, last_version + 1),
                log_damage=True,
            )
        last_version = version
        env = Envelope(event_type, data, aggregate_id, version, occurred_at, recorded_at)
        try:
            state = apply(state, env)
        except Exception as exc:  # a damaged log: report it, skip the rest of this aggregate
            run.differ(
                tr,
                Difference(name, aggregate_id, f"event v{version}", "apply", event_type, repr(exc)),
                log_damage=True,
            )
            broken = True
            continue
        if verify_events:
            doc = to_api(state)
            stored = row[6]
            if doc != stored:
                # an event keeps the document as it was written: a field the document gained
                # later (e.g. allowedActions) is absent there, and that is not damage
                for key, was, now in _dict_diff(stored, doc, added_later_ok=True):
                    run.differ(tr, Difference(name, aggregate_id, f"event v{version}", key, was, now))
        else:
            doc = None
        for i, ix in enumerate(indexes):
            rows = index_rows[i]
            for key, values in ix.rows(env):
                seen = rows.get(key)
                if seen is None:
                    rows[key] = (aggregate_id, values)
                elif seen[0] != aggregate_id:
                    run.differ(
                        tr,
                        Difference(name, aggregate_id, f"index {ix.name}", key, seen[0], aggregate_id),
                        log_damage=True,
                    )
    close()
    if batch:
        _flush(run, tr, agg, batch, indexes, index_rows, index_found)
    if ids is not None:
        # aggregates named but without events: their rows (if any) are explained by nothing
        missing = set(ids) - replayed
        for aggregate_id in agg.state_model._default_manager.filter(pk__in=missing).values_list(
            "pk", flat=True
        ):
            run.differ(tr, Difference(name, aggregate_id, "state row", "(row)", "present", None))
        return
    _orphans(run, tr, agg)
    for i, ix in enumerate(indexes):
        _index_extras(run, tr, agg, ix, index_found[i], chunk_size)


# What the code derives from the state for the desk, not a fact of the order: the actions the
# transition tables and their guards allow. An event keeps what the code of its day derived (a
# guard added since, e.g. no desk fill before the venue's acknowledgement, changes it), and that is
# not damage; the state rows are compared in full (a data migration brings them up to date).
_DERIVED_FOR_THE_DESK = frozenset({"allowedActions"})


def _dict_diff(
    live: Any, replayed: dict[str, Any], *, added_later_ok: bool = False
) -> Iterator[tuple[str, Any, Any]]:
    if not isinstance(live, dict):
        yield "(document)", live, replayed
        return
    for key in sorted(live.keys() | replayed.keys()):
        a, b = live.get(key, _MISSING), replayed.get(key, _MISSING)
        if added_later_ok and (a is _MISSING or key in _DERIVED_FOR_THE_DESK):
            continue
        if a != b:
            yield key, (None if a is _MISSING else a), (None if b is _MISSING else b)


def _flush(
    run: _Run,
    tr: TypeReport,
    agg: AggregateType[Any],
    batch: list[_Folded],
    indexes: list[DerivedIndex],
    index_rows: list[dict[str, tuple[str, dict[str, Any]]]],
    index_found: list[int],
) -> None:
    name = agg.name
    model = agg.state_model
    pk_name = model._meta.pk.name
    good = [f for f in batch if not f.broken]
    if good:
        rows = [(f, f.doc if f.doc is not None else agg.to_api(f.state)) for f in good]
        wanted = [agg.to_row(f.state, doc) for f, doc in rows]
        columns = list(wanted[0])
        if pk_name not in columns:
            columns.append(pk_name)
        live = {
            r[pk_name]: r
            for r in model._default_manager.filter(pk__in=[f.aggregate_id for f in good]).values(*columns)
        }
        to_create: list[models.Model] = []
        for (f, doc), values in zip(rows, wanted, strict=True):
            tr.rows_checked += 1
            have = live.get(f.aggregate_id)
            if have is None:
                run.differ(tr, Difference(name, f.aggregate_id, "state row", "(row)", None, "present"))
                to_create.append(model(**values))
                continue
            changed = False
            if have["version"] != f.count:
                # every event bumps the version by one: the row must be at version = event count
                run.differ(tr, Difference(name, f.aggregate_id, "events", "count", have["version"], f.count))
                changed = True
            if have["doc"] != doc:
                changed = True
                for key, a, b in _dict_diff(have["doc"], doc):
                    run.differ(tr, Difference(name, f.aggregate_id, "state row", key, a, b))
            for column, value in values.items():
                if column == "doc":
                    continue
                if not run.same_value(have[column], value):
                    changed = True
                    run.differ(tr, Difference(name, f.aggregate_id, "column", column, have[column], value))
            if changed and run.rebuild:
                model._default_manager.filter(pk=f.aggregate_id).update(**values)
                tr.rows_updated += 1
        if to_create and run.rebuild:
            model._default_manager.bulk_create(to_create, batch_size=500)
            tr.rows_created += len(to_create)
    for i, (ix, keyed) in enumerate(zip(indexes, index_rows, strict=True)):
        index_found[i] += _flush_index(run, tr, agg, ix, keyed)


def _flush_index(
    run: _Run,
    tr: TypeReport,
    agg: AggregateType[Any],
    ix: DerivedIndex,
    rows: dict[str, tuple[str, dict[str, Any]]],
) -> int:
    """Check (and in a rebuild, write) the index rows implied by a batch; returns how many exist."""
    if not rows:
        return 0
    pk_name = ix.model._meta.pk.name
    live = {
        r[pk_name]: r for r in ix.model._default_manager.filter(pk__in=list(rows)).values(pk_name, *ix.fields)
    }
    to_create: list[models.Model] = []
    where = f"index {ix.name}"
    for key, (aggregate_id, values) in rows.items():
        tr.index_rows += 1
        have = live.get(key)
        if have is None:
            run.differ(tr, Difference(agg.name, aggregate_id, where, key, None, values))
            to_create.append(ix.model(**{pk_name: key, **values}))
            continue
        changed = {c: v for c, v in values.items() if have[c] != v}
        if changed:
            run.differ(
                tr,
                Difference(agg.name, aggregate_id, where, key, {c: have[c] for c in changed}, changed),
            )
            if run.rebuild:
                ix.model._default_manager.filter(pk=key).update(**values)
                tr.index_updated += 1
    if to_create and run.rebuild:
        ix.model._default_manager.bulk_create(to_create, batch_size=500)
        tr.index_created += len(to_create)
        return len(live) + len(to_create)
    return len(live)


def _orphans(run: _Run, tr: TypeReport, agg: AggregateType[Any]) -> None:
    """State rows that no event explains: reported; a rebuild deletes them."""
    model = agg.state_model
    orphans = model._default_manager.filter(
        ~Exists(agg.event_model._default_manager.filter(aggregate_id=OuterRef("pk")))
    )
    ids = list(orphans.values_list("pk", flat=True))
    for aggregate_id in ids:
        run.differ(tr, Difference(agg.name, aggregate_id, "state row", "(row)", "present", None))
    if ids and run.rebuild:
        for i in range(0, len(ids), 500):
            model._default_manager.filter(pk__in=ids[i : i + 500]).delete()
        tr.rows_deleted += len(ids)


def _index_extras(
    run: _Run, tr: TypeReport, agg: AggregateType[Any], ix: DerivedIndex, found: int, chunk_size: int
) -> None:
    """Index rows no event implies. Each implied row was looked up per batch (`found` of them
    exist), so the table has extra rows iff it holds more than `found`; only then are the implied
    keys collected to name them."""
    if ix.model._default_manager.count() <= found:
        return
    keys: set[str] = set()
    for aggregate_id, version, event_type, data, occurred_at, recorded_at in _stream(agg, chunk_size, False):
        env = Envelope(event_type, data, aggregate_id, version, occurred_at, recorded_at)
        keys.update(key for key, _ in ix.rows(env))
    pk_name = ix.model._meta.pk.name
    extras = [
        r
        for r in ix.model._default_manager.values_list(pk_name, *ix.fields).iterator(chunk_size=chunk_size)
        if r[0] not in keys
    ]
    for key, *values in extras:
        owner = values[0] if values else ""
        run.differ(
            tr,
            Difference(
                agg.name, str(owner), f"index {ix.name}", key, dict(zip(ix.fields, values, strict=True)), None
            ),
        )
    if extras and run.rebuild:
        extra_keys = [r[0] for r in extras]
        for i in range(0, len(extra_keys), 500):
            ix.model._default_manager.filter(pk__in=extra_keys[i : i + 500]).delete()
        tr.index_deleted += len(extra_keys)
