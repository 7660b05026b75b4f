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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from django.db import connection, models, transaction

from oms.core.errors import VersionConflict

log = logging.getLogger(__name__)

S = TypeVar("S")


class Versioned(Protocol):
    version: int


@dataclass(frozen=True)
class Envelope:
    """An event as `apply` sees it: what happened plus when, to which aggregate, at which version."""

    type: str
    data: dict[str, Any]
    aggregate_id: str
    version: int
    occurred_at: dt.datetime
    recorded_at: dt.datetime


@dataclass(frozen=True)
class AggregateType(Generic[S]):
    """How the core stores one kind of domain object (registered by the domain app)."""

    name: str
    topic: str
    state_model: type[models.Model]
    event_model: type[models.Model]
    apply: Callable[[S | None, Envelope], S]
    to_api: Callable[[S], dict[str, Any]]
    to_row: Callable[[S, dict[str, Any]], dict[str, Any]]  # column values of the state row (state, api doc)
    from_row: Callable[[Any], S]


_REGISTRY: dict[str, AggregateType[Any]] = {}


def register(agg: AggregateType[Any]) -> AggregateType[Any]:
    _REGISTRY[agg.name] = agg
    return agg


def aggregate_types() -> list[AggregateType[Any]]:
    return list(_REGISTRY.values())


def aggregate_type(name: str) -> AggregateType[Any]:
    return _REGISTRY[name]


@dataclass
class CommandContext:
    actor: str
    command: dict[str, Any]
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass
class _Pending:
    agg: AggregateType[Any]
    env: Envelope
    state_json: dict[str, Any]


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


class UnitOfWork:
    def __init__(self, ctx: CommandContext):
        self.ctx = ctx
        self._pending: list[_Pending] = []
        # (aggregate name, id) -> [state now, version when loaded (0 = new), its API document]
        self._states: dict[tuple[str, str], list[Any]] = {}

    def emit(
        self,
        agg: AggregateType[S],
        aggregate_id: str,
        state: S | None,
        event_type: str,
        data: dict[str, Any],
        *,
        occurred_at: dt.datetime | None = None,
    ) -> S:
        """Apply one event to `state` (None for a new object) and queue it; returns the new state."""
        version = (state.version if state is not None else 0) + 1  # type: ignore[attr-defined]
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
        return new_state

    def state_of(self, agg: AggregateType[S], aggregate_id: str) -> S | None:
        entry = self._states.get((agg.name, aggregate_id))
        return entry[0] if entry else None

    @property
    def empty(self) -> bool:
        return not self._pending

    def commit(self) -> list[dict[str, Any]]:
        """Write states and events in the caller's transaction; returns the events as the API shows them."""
        if not self._pending:
            return []
        assert connection.in_atomic_block, "UnitOfWork.commit must run inside transaction.atomic()"
        for (name, aggregate_id), (state, loaded_version, doc) in self._states.items():
            agg = _REGISTRY[name]
            row = agg.to_row(state, doc)
            if loaded_version == 0:
                agg.state_model.objects.create(**row)
            else:
                updated = agg.state_model.objects.filter(pk=aggregate_id, version=loaded_version).update(
                    **row
                )
                if updated != 1:
                    raise VersionConflict(
                        f"{name} {aggregate_id} changed concurrently (expected version {loaded_version})"
                    )
        first = allocate_seq(len(self._pending))
        rows_by_model: dict[type[models.Model], list[models.Model]] = {}
        out: list[dict[str, Any]] = []
        actor, corr, command = self.ctx.actor, self.ctx.correlation_id, self.ctx.command
        for i, p in enumerate(self._pending):
            env = p.env
            row = p.agg.event_model(
                seq=first + i,
                aggregate_id=env.aggregate_id,
                version=env.version,
                type=env.type,
                data=env.data,
                command=command,
                state=p.state_json,
                actor=actor,
                correlation_id=corr,
                occurred_at=env.occurred_at,
                recorded_at=env.recorded_at,
            )
            rows_by_model.setdefault(p.agg.event_model, []).append(row)
            out.append(event_to_api(row, p.agg.topic))
        for model, rows in rows_by_model.items():
            model.objects.bulk_create(rows)
        transaction.on_commit(lambda: _notify(out))
        return out


def allocate_seq(n: int) -> int:
    """Take `n` consecutive global sequence numbers; returns the first. Holds the row lock to commit."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE oms_event_sequence SET last_seq = last_seq + %s WHERE id = 1 RETURNING last_seq", [n]
        )
        (last,) = cur.fetchone()
    return int(last) - n + 1


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def event_to_api(row: Any, topic: str) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "topic": topic,
        "type": row.type,
        "aggregateId": row.aggregate_id,
        "version": row.version,
        "data": row.data,
        "command": row.command,
        "state": row.state,
        "actor": row.actor,
        "correlationId": row.correlation_id,
        "occurredAt": _iso(row.occurred_at),
        "recordedAt": _iso(row.recorded_at),
    }


def events_after(after_seq: int, limit: int, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The global feed: events with seq > after_seq across every event table, in seq order."""
    wanted = set(topics) if topics else None
    merged: list[tuple[int, Any, str]] = []
    for agg in _REGISTRY.values():
        if wanted is not None and agg.topic not in wanted:
            continue
        rows = agg.event_model.objects.filter(seq__gt=after_seq).order_by("seq")[:limit]
        merged.extend((r.seq, r, agg.topic) for r in rows)
    merged.sort(key=lambda t: t[0])
    return [event_to_api(r, topic) for _, r, topic in merged[:limit]]


def count_events_after(after_seq: int, topics: Iterable[str] | None = None) -> int:
    wanted = set(topics) if topics else None
    return sum(
        agg.event_model.objects.filter(seq__gt=after_seq).count()
        for agg in _REGISTRY.values()
        if wanted is None or agg.topic in wanted
    )


def topics() -> list[str]:
    return [agg.topic for agg in _REGISTRY.values()]
