"""`replay_session(path)`: re-drive a recorded session through the same adapter boundary,
handlers, rules and risk checks, into the database this process uses.

The drivers run in the recorded order, each by calling the same code the original ran: a command
through `dispatch`, a venue task through its Celery task (in-process, eagerly, as recorded), a
stream consumer's construction and steps through `oms.venues.ingest`. The venue is the tape
(`ReplayAdapter`), times and ids are the tape's (`Replayer`), the settings that shape decisions
are the recorded ones. The SIM venue's own commands (`sim` topic: market, faults) act on a
throwaway SIM store: the venue's answers come from the tape, never from a SIM.

The session's events are the events of its commands (their correlation ids), in `seq` order, as
canonical JSON lines without `seq` (a global counter that depends on what else the database
holds): `session_events(ids)` gives them for the original database and for the replay's alike,
and the two files are equal byte for byte when the replay did what the original did.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Task, current_app
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test.utils import override_settings

from oms.core import ambient
from oms.core.dispatch import dispatch
from oms.core.eventfeed import event_to_api
from oms.core.eventstore import aggregate_types
from oms.core.statecache import CACHE
from oms.venues.adapter import hook_adapters
from oms.venues.ingest import consumer_for, reset_consumers
from oms.venues.recording.baton import Aborted, Baton
from oms.venues.recording.merge import Unit, merge
from oms.venues.recording.replayer import Cursor, ReplayDiverged, Replayer, describe
from oms.venues.recording.sessionfile import Session, load_set
from oms.venues.sim.adapter import engine_for

_CHUNK = 500  # correlation ids per query


@dataclass
class Summary:
    drivers: int = 0
    seconds: float = 0.0  # the replay's own time (drivers run), not the process's start
    events: int = 0
    types: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    fills: int = 0
    positions: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"drivers replayed: {self.drivers} in {self.seconds:.2f} s",
            f"events produced: {self.events}",
            *(f"  {name}: {n}" for name, n in sorted(self.types.items())),
            f"orders: {self.orders}",
            f"fills: {self.fills}",
            "final positions:" if self.positions else "final positions: none",
        ]
        out += [
            f"  {p['account']} {p['venue']} {p['symbol']}: qty {p['qty']} avgCost {p.get('avgCost')} "
            f"realizedPnl {p.get('realizedPnl')}"
            for p in self.positions
        ]
        return out


def canonical(event: dict[str, Any]) -> str:
    """One event as one line: sorted keys, no spaces, no `seq`; what byte-for-byte compares."""
    return json.dumps({k: v for k, v in event.items() if k != "seq"}, sort_keys=True, separators=(",", ":"))


def session_events(correlation_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The events of the commands with these correlation ids, in `seq` order."""
    ids = sorted(set(correlation_ids))
    found: list[dict[str, Any]] = []
    for agg in aggregate_types():
        for i in range(0, len(ids), _CHUNK):
            rows = agg.event_model._default_manager.filter(correlation_id__in=ids[i : i + _CHUNK])
            found.extend(event_to_api(row, agg.topic) for row in rows)
    found.sort(key=lambda e: e["seq"])
    return found


def summarize(events: list[dict[str, Any]], drivers: int) -> Summary:
    summary = Summary(drivers=drivers, events=len(events), types=Counter(e["type"] for e in events))
    summary.orders = len({e["aggregateId"] for e in events if e["topic"] == "order-events"})
    summary.fills = len({e["aggregateId"] for e in events if e["topic"] == "execution-events"})
    positions: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["topic"] == "position-events":
            positions[e["aggregateId"]] = e["state"]
    summary.positions = sorted(
        positions.values(), key=lambda p: (p["account"] or "", p["venue"] or "", p["symbol"] or "")
    )
    return summary


def replay_session(paths: str | Path | list[str | Path], *, events_out: str | Path | None = None) -> Summary:
    """Replay the session recorded at `paths` here (one file; a directory or several files of
    one session's processes, merged); raises SessionFileError for files that are not a complete
    session (nothing replayed) and ReplayDiverged where the replay departs from it."""
    sessions = load_set(paths if isinstance(paths, list) else [paths])
    if ambient.active() is not None:
        raise RuntimeError("a session is already being recorded or replayed in this process")
    for session in sessions:
        _ensure_users(session.header.get("users", []))
    replayer = Replayer(sessions)
    started = time.perf_counter()
    if len(sessions) == 1:
        _run(sessions[0], replayer)
    else:
        _run_merged(sessions, replayer)
    seconds = time.perf_counter() - started
    events = session_events(set().union(*(s.correlation_ids() for s in sessions)))
    if events_out is not None:
        Path(events_out).write_text("".join(canonical(e) + "\n" for e in events), encoding="utf-8")
    summary = summarize(events, replayer.drivers_run)
    summary.seconds = seconds
    return summary


def _recorded_settings(session: Session) -> dict[str, Any]:
    return {k: v for k, v in session.header.get("settings", {}).items() if v is not None}


@contextlib.contextmanager
def _replaying(replayer: Replayer, *, eager: bool) -> Iterator[None]:
    """The replay's world: the tape's clocks, ids and venue; a throwaway SIM for the `sim`
    commands; tasks run inline (a single process's file: they ran inside its drivers) or not at
    all (a merged session: a task enqueued by a replayed command ran on a worker, whose file
    replays it as a driver of its own)."""
    prefix = f"replay-{uuid.uuid4().hex[:12]}"
    current_app.loader.import_default_modules()  # every app's tasks: a driver names its task
    was_eager = current_app.conf.task_always_eager
    with override_settings(OMS_SIM_PREFIX=prefix, OMS_SIM_STORE="memory"):
        current_app.conf.task_always_eager = eager
        CACHE.clear()  # no state of another database may stand in for a row (optimistic reads)
        reset_consumers()
        hook_adapters(replayer.adapter_hook)
        ambient.install(replayer)
        enqueue = Task.apply_async
        if not eager:
            Task.apply_async = _not_sent  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Task.apply_async = enqueue  # type: ignore[method-assign]
            ambient.install(None)
            hook_adapters(None)
            reset_consumers()
            current_app.conf.task_always_eager = was_eager
            if settings.REDIS_URL:
                engine_for("SIM").reset()


def _not_sent(*args: Any, **kwargs: Any) -> None:
    return None


def _play(cursor: Cursor, replayer: Replayer) -> None:
    """Run every driver of `cursor`'s file, in order."""
    replayer.play(cursor)
    while (begin := cursor.peek()) is not None:
        _drive(begin, replayer)
        if cursor.peek() is begin:  # the code never started the driver
            raise replayer._fail(f"{cursor.session.path}:{begin['line']}: driver {begin['n']} did not run")


def _run(session: Session, replayer: Replayer) -> None:
    with override_settings(**_recorded_settings(session)), _replaying(replayer, eager=True):
        _play(Cursor(session), replayer)


def _run_merged(sessions: list[Session], replayer: Replayer) -> None:
    """Each file on a thread of its own; one unit at a time in the merged order (`baton`), each
    with its process's recorded settings."""
    order = merge(sessions)
    baton = Baton(len(sessions))
    overrides = [override_settings(**_recorded_settings(s)) for s in sessions]

    def where(unit: Unit) -> str:
        entry = sessions[unit.file].entries[unit.index]
        return f"{sessions[unit.file].path}:{entry['line']} ({describe(entry)})"

    def play(i: int) -> None:
        try:
            _play(Cursor(sessions[i], baton.sync_for(i)), replayer)
        except Aborted:
            pass
        except BaseException as exc:
            replayer._fail(f"{sessions[i].path}: {type(exc).__name__}: {exc}")
        finally:
            connections.close_all()  # this thread's
            baton.done(i)

    with _replaying(replayer, eager=False):
        threads = [threading.Thread(target=play, args=(i,), daemon=True) for i in range(len(sessions))]
        for thread in threads:
            thread.start()
        try:
            baton.conduct(order, where, around=lambda i: overrides[i], failed=lambda: replayer.diverged)
        finally:
            baton.abort()
            for thread in threads:
                thread.join(10)


def _drive(begin: dict[str, Any], replayer: Replayer) -> None:
    """Run one recorded driver the way the original ran it; its own `ambient.driver` checks it."""
    args = begin["args"]
    try:
        if begin["driver"] == "dispatch":
            dispatch(
                args["topic"],
                args["body"],
                actor=args["actor"],
                correlation_id=args.get("correlationId"),
                idempotency_key=args.get("idempotencyKey"),
                external=bool(args.get("external")),
            )
        elif begin["driver"] == "task":
            task = current_app.tasks.get(args.get("name", ""))  # a task made a driver by `driven`
            if task is None:
                raise replayer._fail(f"line {begin['line']}: unknown venue task {args.get('name')!r}")
            task.apply(args=tuple(args.get("args", ())), throw=True)
        elif begin["driver"] == "consumer":
            if consumer_for(args["venue"]) is None:
                raise replayer._fail(f"line {begin['line']}: venue {args['venue']} has no stream here")
        else:  # step
            consumer = consumer_for(args["venue"])
            if consumer is None:
                raise replayer._fail(f"line {begin['line']}: venue {args['venue']} has no stream here")
            consumer.step(timeout=float(args.get("timeout", 0)))
    except ReplayDiverged:
        raise
    except Aborted:
        raise
    except Exception:
        # the driver failed as it did in the original (its end was checked): a refused command,
        # a venue error a task let through; anything else is a divergence, raised below
        cursor = replayer.cursor()
        if replayer.diverged is None:
            if cursor.position == 0 or cursor.entries[cursor.position - 1]["k"] != "end":
                raise
    if replayer.diverged is not None:
        raise replayer.diverged


def _ensure_users(users: list[dict[str, Any]]) -> None:
    """The session's actors as they were (permissions decide refusals): created where missing."""
    for u in users:
        user, created = User.objects.get_or_create(
            username=u["username"], defaults={"is_superuser": u["superuser"], "is_staff": u["staff"]}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            for name in u.get("groups", []):
                user.groups.add(Group.objects.get_or_create(name=name)[0])
