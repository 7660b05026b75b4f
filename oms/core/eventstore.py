"""The generic event store and the unit of work behind every command handler.

A handler loads state, decides events with pure domain code and hands them to a `UnitOfWork`,
which applies them with the aggregate's pure `apply`, then in one transaction writes the state
rows (compare-and-set on `version`), takes the next global `seq` numbers and appends the events.
After commit, subscribers (the blotter feed, publishers, reactions such as automatic placement)
receive the committed events. The core knows nothing about orders: domain apps register an
`AggregateType`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, Protocol, TypeVar

from django.db import IntegrityError, connection, models, transaction

from oms.core import ambient, sql
from oms.core.documents import Column, Document
from oms.core.errors import Contended, VersionConflict
from oms.core.events import Event
from oms.core.fold import Envelope
from oms.core.models import EventRecord
from oms.core.statecache import CACHE

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)  # an aggregate's state: every event bumps its version


@dataclass(frozen=True)
class AggregateType(Generic[S]):
    """How the core stores one kind of domain object (registered by the domain app)."""

    name: str
    topic: str
    state_model: type[models.Model]
    event_model: type[EventRecord]
    apply: Callable[[S | None, Envelope], S]
    to_api: Callable[[S], dict[str, Any]]
    from_row: Callable[[Any], S]
    # where a row comes in the one order in which a commit's rows are written and checked (lower
    # first; e.g. an order tree root first): concurrent optimistic commits take row locks in one
    # order, so they cannot deadlock. Aggregates without it come after those with it.
    lock_rank: Callable[[S], int] | None = None
    # the declared document (`oms.core.documents`): `to_api` is its encoder, and the API derives
    # the OpenAPI component from it; None: documented as a free-form object
    document: Document[S] | None = None
    # column values of the state row (state, api doc): derived from the document and the state
    # model's columns (`Document.row_writer`); `row_columns` computes the columns the document does
    # not carry (a position's fill lots); `row_writer` replaces the derivation (an aggregate with
    # no declared document)
    row_columns: Mapping[str, Callable[[S], Any]] = field(default_factory=dict)
    row_writer: Callable[[S, dict[str, Any]], dict[str, Any]] | None = None
    to_row: Callable[[S, dict[str, Any]], dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        to_row = self.row_writer
        if to_row is None:
            if self.document is None:
                raise ValueError(f"{self.name}: a state row needs a declared document or a row_writer")
            to_row = self.document.row_writer(state_columns(self), self.row_columns)
        object.__setattr__(self, "to_row", to_row)


def state_columns(agg: AggregateType[Any]) -> list[Column]:
    """The state table's columns as `Document.row_writer` fills them."""
    return [
        Column(f.attname, f.null, isinstance(f, models.CharField | models.TextField))
        for f in sql.state_fields(agg.state_model)
    ]


_REGISTRY: dict[str, AggregateType[Any]] = {}


def register(agg: AggregateType[S]) -> AggregateType[S]:
    _REGISTRY[agg.name] = agg
    return agg


def aggregate_types() -> list[AggregateType[Any]]:
    return list(_REGISTRY.values())


def aggregate_type(name: str) -> AggregateType[Any]:
    return _REGISTRY[name]


def _correlation_id() -> str:
    return uuid.uuid4().hex


@dataclass
class CommandContext:
    actor: str
    command: dict[str, Any]
    correlation_id: str = field(default_factory=lambda: ambient.unique(_correlation_id, "cid"))
    now: dt.datetime = field(default_factory=ambient.now)


@dataclass
class _Pending:
    agg: AggregateType[Any]
    env: Envelope
    state_json: dict[str, Any]


# projector(uow, before, after, envelope): called inside the command's transaction right after an
# event of its aggregate type was applied, so a projection that must never disagree with that
# aggregate (positions: the fills and open orders of the order events) emits its own events in the
# same unit of work. The domain below never imports the projection: the projection registers here.
Projector = Callable[["UnitOfWork", Any, Any, Envelope], None]
_PROJECTORS: dict[str, list[Projector]] = {}


def register_projector(aggregate: str, fn: Projector) -> Projector:
    """Call `fn(uow, before, after, envelope)` for every event of `aggregate` a unit of work emits."""
    fns = _PROJECTORS.setdefault(aggregate, [])
    if fn not in fns:
        fns.append(fn)
    return fn


def unregister_projector(aggregate: str, fn: Projector) -> None:
    """Remove a projector (benchmarks measure the write path with and without one)."""
    fns = _PROJECTORS.get(aggregate, [])
    if fn in fns:
        fns.remove(fn)


EventSubscriber = Callable[[list[dict[str, Any]]], None]
_SUBSCRIBERS: list[EventSubscriber] = []


def subscribe(fn: EventSubscriber) -> EventSubscriber:
    """Call `fn(events)` after every commit that appended events (API representation, seq order)."""
    if fn not in _SUBSCRIBERS:
        _SUBSCRIBERS.append(fn)
    return fn


def _notify(events: list[dict[str, Any]]) -> None:
    for fn in list(_SUBSCRIBERS):
        try:
            fn(events)
        except Exception:  # a failing subscriber must not hide the command's success
            log.exception("event subscriber %s failed", getattr(fn, "__name__", fn))


# An upsert rather than a plain UPDATE: the row is recreated if a flush (tests) removed it.
_ADVANCE_SEQ = (
    "INSERT INTO oms_event_sequence (id, last_seq) VALUES (1, %s) "
    "ON CONFLICT (id) DO UPDATE SET last_seq = oms_event_sequence.last_seq + excluded.last_seq "
    "RETURNING last_seq"
)


_UNRANKED = 1 << 30


@cache
def _check_sql(model: type[models.Model], locking: bool) -> str:
    """Is the row still at the version this command read? (FOR SHARE: and keep it there to commit.)"""
    pk = model._meta.pk
    assert pk is not None
    table = connection.ops.quote_name(model._meta.db_table)
    return f"SELECT 1 FROM {table} WHERE {pk.column} = %s AND version = %s" + (
        " FOR SHARE" if locking else ""
    )


class UnitOfWork:
    """The events one command emits and the states they produce, written by `commit()`.

    `optimistic` (set by dispatch on a command's first attempt): handlers may take the states
    they touch from the in-process cache of committed states instead of locking their rows, and
    key claims (`claim`) go into the write pipeline instead of running at once. `commit()` then
    checks in the same round trip that every row read is still at the version read (`read`) and
    every claim took its key; if not it raises `Contended`, the transaction rolls back, and
    dispatch runs the command again with locks (`optimistic` False), which is the behaviour the
    handlers had before. Outside dispatch a unit of work is pessimistic.
    """

    def __init__(self, ctx: CommandContext, *, optimistic: bool = False):
        self.ctx = ctx
        self.optimistic = optimistic
        # the command assumed what only its commit checks (a cached state, a free key): an error
        # it raises may come from that assumption (a stale state; a repeat, which must be answered
        # as a duplicate before any other check), so dispatch decides again with locks
        self.speculative = False
        self._pending: list[_Pending] = []
        # (aggregate name, id) -> [state now, version when loaded (0 = new), its API document]
        self._states: dict[tuple[str, str], list[Any]] = {}
        # (aggregate name, id) -> (state as read, version read, from the cache): rows the
        # command's decision rests on
        self._reads: dict[tuple[str, str], tuple[Any, int, bool]] = {}
        self._claims: list[tuple[str, list[Any]]] = []
        self._guards: list[tuple[str, list[Any], str]] = []
        # rows another statement of this command read unlocked, by a key their reader chose (the
        # positions of the order's account and symbol, read with a create's clOrdID claim): an
        # optimistic attempt may write a state built from them, compare-and-set on its version
        # like any row read unlocked (an absent row inserted meanwhile fails its primary key)
        self.ahead: dict[tuple[str, ...], Any] = {}

    def read(self, agg: AggregateType[S], aggregate_id: str, state: S, *, cached: bool = False) -> None:
        """Note a state the command read (from its row or the cache): in an optimistic commit its
        row must still be at that version. A state read from a row goes into the cache once this
        transaction commits (read inside an enclosing transaction, it may be one that never
        commits: the cache must only ever hold committed states)."""
        self._reads.setdefault((agg.name, aggregate_id), (state, state.version, cached))
        if cached:
            self.speculative = True

    def claim(self, statement: str, params: list[Any]) -> None:
        """An `INSERT ... ON CONFLICT DO NOTHING` of a unique key, run in the write pipeline: a key
        already taken (rowcount 0) makes the commit raise `Contended`. Optimistic mode only."""
        assert self.optimistic, "claims are deferred only in an optimistic unit of work"
        self._claims.append((statement, params))
        self.speculative = True

    def guard(self, statement: str, params: list[Any], what: str) -> None:
        """A statement run in the write pipeline that must return a row, or the commit raises
        `Contended`: what the command took from an in-process cache of rarely changing rows (a
        venue's adapter, the reference data under its version, the absence of a row) is still
        true when it commits. Like a cached state (`read(..., cached=True)`), it makes the attempt
        speculative: an error it raises is decided again by the locked retry, which reads the rows.
        Optimistic mode only; a locked attempt reads the rows themselves."""
        assert self.optimistic, "guards check cached reads, which only an optimistic attempt makes"
        self._guards.append((statement, params, what))
        self.speculative = True

    def emit(
        self,
        agg: AggregateType[S],
        aggregate_id: str,
        state: S | None,
        event: Event | str,
        data: dict[str, Any] | None = None,
        *,
        occurred_at: dt.datetime | None = None,
    ) -> S:
        """Apply one event to `state` (None for a new object) and queue it; returns the new state.

        `event` is a typed event (encoded here, once, into its stored data) or an event type with
        its `data`."""
        if isinstance(event, Event):
            event_type, data = event.event_type(), event.to_data()
        else:
            event_type = event
        assert data is not None
        version = (state.version if state is not None else 0) + 1
        env = Envelope(
            type=event_type,
            data=data,
            aggregate_id=aggregate_id,
            version=version,
            occurred_at=occurred_at or self.ctx.now,
            recorded_at=self.ctx.now,
        )
        new_state = agg.apply(state, env)
        doc = agg.to_api(new_state)
        key = (agg.name, aggregate_id)
        if key in self._states:
            self._states[key][0] = new_state
            self._states[key][2] = doc
        else:
            self._states[key] = [new_state, version - 1, doc]
        self._pending.append(_Pending(agg, env, doc))
        projectors = _PROJECTORS.get(agg.name)
        if projectors:
            for project in projectors:
                project(self, state, new_state, env)
        return new_state

    def state_of(self, agg: AggregateType[S], aggregate_id: str) -> S | None:
        entry = self._states.get((agg.name, aggregate_id))
        return entry[0] if entry else None

    def changed(self, agg: AggregateType[S]) -> list[S]:
        """The objects of `agg` this unit of work has emitted events for, in their state now."""
        return [entry[0] for (name, _), entry in self._states.items() if name == agg.name]

    @property
    def empty(self) -> bool:
        return not self._pending

    def commit(self) -> list[dict[str, Any]]:
        """Write states and events in the caller's transaction; returns the events as the API shows them.

        Statement order matters: the state rows first, then the sequence row, then the events.
        Advancing the sequence row takes its lock, held until commit, so events commit in seq
        order (see EventSequence); taking it last keeps that queue as short as possible.
        """
        if not self._pending:
            return []
        assert connection.in_atomic_block, "UnitOfWork.commit must run inside transaction.atomic()"
        conflict = Contended if self.optimistic else VersionConflict
        n = len(self._pending)
        actor, corr, command = self.ctx.actor, self.ctx.correlation_id, self.ctx.command
        rows_by_model: dict[type[models.Model], list[dict[str, Any]]] = {}
        for i, p in enumerate(self._pending):
            env = p.env
            rows_by_model.setdefault(p.agg.event_model, []).append(
                {
                    "offset": n - 1 - i,  # seq = last_seq - offset
                    "aggregate_id": env.aggregate_id,
                    "version": env.version,
                    "type": env.type,
                    "data": env.data,
                    "command": command,
                    "state": p.state_json,
                    "actor": actor,
                    "correlation_id": corr,
                    "occurred_at": env.occurred_at,
                    "recorded_at": env.recorded_at,
                }
            )
        cursors: list[tuple[Any, str, str]] = []  # (cursor, aggregate, id) whose rowcount is checked
        checks: list[tuple[Any, str, str]] = []  # (cursor, aggregate, id) that must return a row
        seq_cur = connection.cursor()
        encode = sql.Encoded()
        locking = connection.vendor == "postgresql"
        try:
            with sql.pipeline():
                for statement, params in self._claims:
                    cur = connection.cursor()
                    cur.execute(statement, params)
                    cursors.append((cur, "claim", str(params[0])))
                for statement, params, what in self._guards:
                    cur = connection.cursor()
                    cur.execute(statement, params)
                    checks.append((cur, "cached read of", what))
                for name, aggregate_id, entry in self._rows_in_lock_order():
                    agg = _REGISTRY[name]
                    if entry is None:  # read, not written: still at the version read?
                        _, read_version, _ = self._reads[(name, aggregate_id)]
                        cur = connection.cursor()
                        cur.execute(_check_sql(agg.state_model, locking), [aggregate_id, read_version])
                        checks.append((cur, name, aggregate_id))
                        continue
                    state, loaded_version, doc = entry
                    row = agg.to_row(state, doc)
                    cur = connection.cursor()
                    if loaded_version == 0:
                        cur.execute(
                            sql.insert_sql(agg.state_model), sql.row_params(agg.state_model, row, encode)
                        )
                    else:
                        params = [
                            *sql.row_params(agg.state_model, row, encode, for_update=True),
                            aggregate_id,
                            loaded_version,
                        ]
                        cur.execute(sql.update_sql(agg.state_model), params)
                    cursors.append((cur, name, aggregate_id))
                seq_cur.execute(_ADVANCE_SEQ, [n])
                for model, rows in rows_by_model.items():
                    params = []
                    for row in rows:
                        params.append(row["offset"])
                        params.extend(sql.event_params(model, row, encode))
                    cur = connection.cursor()
                    cur.execute(sql.event_insert_sql(model, len(rows)), params)
                    cursors.append((cur, "", ""))
            last = int(seq_cur.fetchone()[0])
            for cur, name, aggregate_id in cursors:
                if name and cur.rowcount != 1:
                    raise conflict(f"{name} {aggregate_id} changed concurrently")
            for cur, name, aggregate_id in checks:
                if cur.fetchone() is None:
                    raise conflict(f"{name} {aggregate_id} changed concurrently")
        except IntegrityError as exc:
            # optimistically, a unique key taken meanwhile (an event version, an execID) is one
            # more stale read: the locked retry decides again on the rows
            if self.optimistic:
                raise Contended(f"a concurrent command wrote first: {exc}") from exc
            raise
        finally:
            seq_cur.close()
            for cur, _, _ in (*cursors, *checks):
                cur.close()
        # read from rows, then written: the cache keeps the newest version of each
        remembered = [
            (name, aggregate_id, read[0]) for (name, aggregate_id), read in self._reads.items() if not read[2]
        ]
        remembered += [(name, aggregate_id, entry[0]) for (name, aggregate_id), entry in self._states.items()]
        out = []
        for i, p in enumerate(self._pending):
            env = p.env
            out.append(
                {
                    "seq": last - (n - 1 - i),
                    "topic": p.agg.topic,
                    "type": env.type,
                    "aggregateId": env.aggregate_id,
                    "version": env.version,
                    "data": env.data,
                    "command": command,
                    "state": p.state_json,
                    "actor": actor,
                    "correlationId": corr,
                    "occurredAt": iso_z(env.occurred_at),
                    "recordedAt": iso_z(env.recorded_at),
                }
            )
        transaction.on_commit(lambda: _remember(remembered))
        transaction.on_commit(lambda: _notify(out))
        return out

    def _rows_in_lock_order(self) -> list[tuple[str, str, list[Any] | None]]:
        """Rows written (with their entry) and rows only read in an optimistic unit of work (None),
        in the lock order of their aggregates; in a pessimistic one the rows are locked already."""
        rows: list[tuple[str, str, list[Any] | None]] = [
            (name, aggregate_id, entry) for (name, aggregate_id), entry in self._states.items()
        ]
        if not self.optimistic:
            return rows
        rows.extend(
            (name, aggregate_id, None)
            for name, aggregate_id in self._reads
            if (name, aggregate_id) not in self._states
        )

        def rank(row: tuple[str, str, list[Any] | None]) -> tuple[int, str, str]:
            name, aggregate_id, entry = row
            rank_of = _REGISTRY[name].lock_rank
            state = entry[0] if entry is not None else self._reads[(name, aggregate_id)][0]
            return (rank_of(state) if rank_of is not None else _UNRANKED, name, aggregate_id)

        return sorted(rows, key=rank)


def _remember(committed: list[tuple[str, str, Any]]) -> None:
    for name, aggregate_id, state in committed:
        CACHE.put(name, aggregate_id, state)


def iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
