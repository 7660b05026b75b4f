"""`replay_session(path)`: re-drive a recorded session through the same adapter boundary,
handlers, rules and risk checks, into the database this process uses.

The drivers run in the recorded order, each by calling the same code the original ran: a command
through `dispatch`, a venue task through its Celery task (in-process, eagerly, as recorded), a
stream consumer's construction and steps through `oms.venues.ingest`. The venue is the tape
(`ReplayAdapter`), times and ids are the tape's (`Replayer`), the settings that shape decisions
are the recorded ones. The SIM venue's own commands (`sim` topic: market, faults) act on a
throwaway SIM store: the venue's answers come from the tape, never from a SIM.

A session recorded by several processes (the API, Celery workers, `venue_stream`: files merged by
their global step numbers, `sessionfile.load_many`) runs in this one process, driver after driver
in `g` order. A task its original enqueued (after a command's commit) ran on a worker, as a driver
of its own with its own turn: here the enqueue does nothing (`_enqueues_dropped`), the recorded
task driver runs it where it ran.

The session's events are the events of its commands (their correlation ids), in `seq` order, as
canonical JSON lines without `seq` (a global counter that depends on what else the database
holds): `session_events(ids)` gives them for the original database and for the replay's alike,
and the two files are equal byte for byte when the replay did what the original did.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Signature, Task, current_app
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test.utils import override_settings

from oms.core import ambient
from oms.core.background import task_modules_imported
from oms.core.dispatch import dispatch
from oms.core.eventfeed import event_to_api
from oms.core.eventstore import aggregate_types
from oms.core.statecache import CACHE
from oms.venues.adapter import hook_adapters
from oms.venues.ingest import consumer_for, reset_consumers
from oms.venues.recording.replayer import ReplayDiverged, Replayer
from oms.venues.recording.sessionfile import Session, SessionFileError, load_many
from oms.venues.sim.adapter import engine_for
from oms.venues.tasks import SEND_PLACED, send_placed

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


def replay_session(
    path: str | Path | Sequence[str | Path], *, events_out: str | Path | None = None
) -> Summary:
    """Replay the session recorded at `path` (a file, a directory of a session's files, or a list)
    here; raises SessionFileError for files that are not a complete session (nothing replayed) and
    ReplayDiverged where the replay departs from it."""
    session = load_many([path] if isinstance(path, str | Path) else path)
    if not session.header.get("eager", False) and not session.merged:
        raise SessionFileError(
            f"{session.path}: recorded in a process whose venue tasks ran on Celery workers elsewhere, "
            "without the cross-process turn (SQLite, or no Redis): the other processes' drivers "
            "cannot be ordered with it; only a session whose tasks ran in the recording process (the "
            "embedded server, a script, a test) or one recorded by every process on PostgreSQL and "
            "Redis can be replayed"
        )
    if ambient.active() is not None:
        raise RuntimeError("a session is already being recorded or replayed in this process")
    _ensure_users(session.header.get("users", []))
    replayer = Replayer(session)
    started = time.perf_counter()
    _run(session, replayer)
    seconds = time.perf_counter() - started
    events = session_events(session.correlation_ids())
    if events_out is not None:
        Path(events_out).write_text("".join(canonical(e) + "\n" for e in events), encoding="utf-8")
    summary = summarize(events, replayer.drivers_run)
    summary.seconds = seconds
    return summary


def _run(session: Session, replayer: Replayer) -> None:
    recorded = {k: v for k, v in session.header.get("settings", {}).items() if v is not None}
    prefix = f"replay-{uuid.uuid4().hex[:12]}"  # a throwaway SIM for the `sim` commands
    eager = current_app.conf.task_always_eager
    with override_settings(**recorded, OMS_SIM_PREFIX=prefix, OMS_SIM_STORE="memory"):
        current_app.conf.task_always_eager = True
        CACHE.clear()  # no state of another database may stand in for a row (optimistic reads)
        reset_consumers()
        hook_adapters(replayer.adapter_hook)
        ambient.install(replayer)
        try:
            with _enqueues_dropped() if session.merged else contextlib.nullcontext():
                caches = _ProcessCaches()
                while (begin := replayer.peek()) is not None:
                    caches.enter(begin["file"])
                    _drive(begin, replayer)
                    if replayer.peek() is begin:  # the code never started the driver
                        raise replayer._fail(
                            f"{begin['file']}:{begin['line']}: driver {begin['n']} did not run"
                        )
        finally:
            ambient.install(None)
            hook_adapters(None)
            reset_consumers()
            current_app.conf.task_always_eager = eager
            if settings.REDIS_URL:
                engine_for("SIM").reset()


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
        elif begin["driver"] == "task" and args.get("name") == SEND_PLACED:
            send_placed(*args.get("args", ()))  # in the placement task that placed the order
        elif begin["driver"] == "task":
            task_modules_imported(current_app)
            task = current_app.tasks.get(args.get("name", ""))
            if task is None:
                raise replayer._fail(f"line {begin['line']}: unknown venue task {args.get('name')!r}")
            task.apply(args=tuple(args.get("args", ())), retries=int(args.get("retries", 0)), throw=True)
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
    except Exception:
        # the driver failed as it did in the original (its end was checked): a refused command,
        # a venue error a task let through; anything else is a divergence, raised below
        if replayer.diverged is None:
            if replayer.position == 0 or replayer.entries[replayer.position - 1]["k"] != "end":
                raise
    if replayer.diverged is not None:
        raise replayer.diverged


class _ProcessCaches:
    """Each recording process's state cache (`oms.core.statecache`), swapped in for its drivers:
    what a command finds cached decides what it reads and draws (a child order's checks go out
    with its claim when its parent is cached), and a worker never had in its cache the order the
    API process created. One file is one process (in a single file: nothing to swap)."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.held: dict[str, dict[tuple[str, str], Any]] = {}

    def enter(self, process: str) -> None:
        if process == self.current:
            return
        if self.current is not None:
            self.held[self.current] = CACHE.swap(self.held.pop(process, {}))
        self.current = process


@contextlib.contextmanager
def _enqueues_dropped() -> Iterator[None]:
    """`delay`/`apply_async` do nothing for the block: in a session recorded across processes an
    enqueued task ran on a worker as a driver of its own, replayed at its own turn (running it
    inline as well would run it twice, and out of order)."""
    original, original_retry = Task.apply_async, Signature.apply

    def dropped(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    # a retry (`self.retry`) of a task applied eagerly is run inline by `Task.apply` through its
    # signature's `apply`; the original's retry was a later delivery, a driver of its own
    Task.apply_async = dropped  # type: ignore[method-assign,assignment]  # for this replay only, restored below
    Signature.apply = dropped  # type: ignore[method-assign,assignment]  # for this replay only, restored below
    try:
        yield
    finally:
        Task.apply_async = original  # type: ignore[method-assign]  # the class's own again
        Signature.apply = original_retry  # type: ignore[method-assign]  # the class's own again


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
