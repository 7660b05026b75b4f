"""The session recorder: a tape (`oms.core.ambient.Tape`) that writes down what drives the OMS.

Recorded, one JSON line each, in the order they happened, with `t` the seconds since the
recording started (monotonic):

    {"k": "session", ...}                  the header: format, start, settings the replay needs, users
    {"k": "adapter", "venue", "name", "has"}   an adapter the session used (its capabilities)
    {"k": "begin", "n", "t", "driver", "args"} a driver starts: a command sent to dispatch from
                                           outside, a venue task, a stream consumer built or stepped
    {"k": "now" | "mono" | "id" | "cid", "v"}  a clock reading or a fresh id the driver drew
    {"k": "call", "venue", "m", "a", "r" | "x"}  an adapter call: arguments, answer or venue error
    {"k": "end", "n", "t", "error"}        the driver finished (the error class and code, if any)

Drivers are serialized while recording (one process-wide lock), so each one's lines are contiguous
and its draws come in the order the replay will ask for them; a driver's lines are written when it
ends (an attempt dispatch ran again is forgotten first). With Celery workers elsewhere (not eager)
on PostgreSQL and Redis, drivers are serialized across the processes too (`turn`), and each
`begin` carries `g`, the session's global step number: every process records a file of its own
and `sessionfile.load_many` merges them by `g`. Nothing is taped outside a driver (a
query, the publisher's thread), so those keep the system's clock. Off (no recorder installed) the
write path pays one global read per clock reading or id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User

from oms.core import ambient
from oms.venues.adapter import AdapterFactory, VenueAdapter, VenueError, hook_adapters
from oms.venues.ingest import reset_consumers
from oms.venues.recording.boundary import BoundaryAdapter
from oms.venues.recording.codec import encode, encode_error
from oms.venues.recording.turn import CrossProcessTurn, session_key, shared_turn_possible

log = logging.getLogger(__name__)

FORMAT = 1
SERIAL_WAIT_SECONDS = 10.0  # a driver waits this long for the one before it (see `driver`)
# the settings whose values change what the OMS decides from the same inputs: the replay runs
# with the recorded ones
REPLAYED_SETTINGS = (
    "OMS_OPTIMISTIC_WRITES",
    "OMS_VENUE_GAP_HOLD_MS",
    "OMS_VENUE_RESYNC_SECONDS",
    "OMS_VENUE_STALE_SECONDS",
    "OMS_VENUE_DOWN_SECONDS",
    "OMS_VENUE_FEED_RECORD_SECONDS",
    "OMS_VENUE_SEND_MAX_RETRIES",
    "OMS_VENUE_UNKNOWN_CHECKS",
    "OMS_VENUE_ADAPTERS",
)


def dumps(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"), default=str)


def error_name(exc: BaseException) -> str:
    """How a driver's failure is written: the class, and the stable code of an application error."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}:{code}" if isinstance(code, str) else type(exc).__name__


class Recorder:
    def __init__(self, path: Path, turn: CrossProcessTurn | None = None) -> None:
        self.path = path
        self.turn = turn
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = path.open("a", encoding="utf-8")
        self._write_lock = threading.Lock()
        self._serial = threading.Lock()  # one driver at a time (see the module's docstring)
        self._local = threading.local()
        self._t0 = time.monotonic()
        self._drivers = 0
        self._write([self._header()])

    def _header(self) -> dict[str, Any]:
        users = [
            {
                "username": u.username,
                "superuser": u.is_superuser,
                "staff": u.is_staff,
                "groups": sorted(g.name for g in u.groups.all()),
            }
            for u in User.objects.prefetch_related("groups").order_by("username")
        ]
        return {
            "k": "session",
            "format": FORMAT,
            "startedAt": dt.datetime.now(dt.UTC).isoformat(),
            "pid": os.getpid(),
            "eager": bool(current_app.conf.task_always_eager),
            "key": session_key(),
            **({"g0": self.turn.current()} if self.turn is not None else {}),
            "settings": {name: getattr(settings, name, None) for name in REPLAYED_SETTINGS},
            "users": users,
        }

    # --- the tape ------------------------------------------------------------------------------

    def _buffer(self) -> list[dict[str, Any]] | None:
        buffer: list[dict[str, Any]] | None = getattr(self._local, "buffer", None)
        return buffer

    def now(self) -> dt.datetime:
        value = dt.datetime.now(dt.UTC)
        buffer = self._buffer()
        if buffer is not None:
            buffer.append({"k": "now", "v": value.isoformat()})
        return value

    def monotonic(self) -> float:
        value = time.monotonic()
        buffer = self._buffer()
        if buffer is not None:
            buffer.append({"k": "mono", "v": value})
        return value

    def unique(self, make: Callable[[], str], kind: str) -> str:
        value = make()
        buffer = self._buffer()
        if buffer is not None:
            buffer.append({"k": kind, "v": value})
        return value

    @contextlib.contextmanager
    def driver(self, kind: str, args: dict[str, Any]) -> Iterator[None]:
        if self._buffer() is not None:  # inside another driver: part of it
            yield
            return
        if not self._serial.acquire(timeout=SERIAL_WAIT_SECONDS):
            # the driver running holds on to something this thread may hold (a caller's open
            # transaction): never deadlock the OMS for a recording. This driver runs untaped, and
            # the file says so: the session is no longer replayable.
            log.warning("session recording: a %s driver overlapped another; not replayable now", kind)
            self._write([{"k": "overlap", "t": self._t(), "driver": kind}])
            yield
            return
        try:
            g = self.turn.acquire(SERIAL_WAIT_SECONDS) if self.turn is not None else None
            if self.turn is not None and g is None:  # another process's driver kept the turn
                log.warning("session recording: a %s driver overlapped another process's", kind)
                self._write([{"k": "overlap", "t": self._t(), "driver": kind}])
                yield
                return
            self._drivers += 1
            n = self._drivers
            begin: dict[str, Any] = {"k": "begin", "n": n, "t": self._t(), "driver": kind, "args": args}
            if g is not None:
                begin["g"] = g
            buffer = [begin]
            self._local.buffer = buffer
            error: str | None = None
            try:
                yield
            except BaseException as exc:
                error = error_name(exc)
                raise
            finally:
                self._local.buffer = None
                buffer.append({"k": "end", "n": n, "t": self._t(), "error": error})
                self._write(buffer)
                if self.turn is not None:  # committed and written: the next process may go
                    self.turn.release()
        finally:
            self._serial.release()

    def mark(self) -> int:
        buffer = self._buffer()
        return 0 if buffer is None else len(buffer)

    def rewind(self, mark: int) -> None:
        buffer = self._buffer()
        if buffer is not None:
            del buffer[mark:]

    # --- the adapter boundary ------------------------------------------------------------------

    def adapter_hook(self, venue: str, adapter_name: str, factory: AdapterFactory | None) -> VenueAdapter:
        if factory is None:
            raise KeyError(f"no venue adapter named {adapter_name!r}")
        inner = factory(venue, adapter_name)
        self._write([{"k": "adapter", "venue": venue, "name": adapter_name, "has": dict(inner.has)}])
        return RecordingAdapter(self, inner)

    def call(self, venue: str, method: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        buffer = self._buffer()
        if buffer is None:
            return call()
        entry: dict[str, Any] = {"k": "call", "venue": venue, "m": method, "a": encode(arguments)}
        try:
            result = call()
        except VenueError as exc:
            entry["x"] = encode_error(exc)
            buffer.append(entry)
            raise
        entry["r"] = encode(result)
        buffer.append(entry)
        return result

    # --- the file ------------------------------------------------------------------------------

    def _t(self) -> float:
        return round(time.monotonic() - self._t0, 6)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        text = "".join(dumps(e) + "\n" for e in entries)
        with self._write_lock:
            if self._file is not None:
                self._file.write(text)
                self._file.flush()

    def close(self) -> None:
        with self._write_lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        if self.turn is not None:
            self.turn.close()


class RecordingAdapter(BoundaryAdapter):
    """The real adapter, with every answer written to the recorder (inside a driver)."""

    def __init__(self, recorder: Recorder, inner: VenueAdapter) -> None:
        super().__init__(inner.venue, inner.adapter_name, inner.has, inner)
        self.recorder = recorder

    def _call(self, method: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        return self.recorder.call(self.venue, method, arguments, call)

    def __getattr__(self, name: str) -> Any:  # what the real adapter has beyond the interface
        return getattr(self._real(), name)


_ACTIVE: list[Recorder] = []


def start_recording(path: str | Path) -> Recorder:
    """Record this process's session to `path` (appended). The stream consumers start afresh, so
    that a replay's consumers start in the same state."""
    if _ACTIVE or ambient.active() is not None:
        raise RuntimeError("a session is already being recorded or replayed in this process")
    recorder = Recorder(Path(path), _turn())
    reset_consumers()
    hook_adapters(recorder.adapter_hook)
    ambient.install(recorder)
    _ACTIVE.append(recorder)
    return recorder


def stop_recording() -> Path | None:
    if not _ACTIVE:
        return None
    recorder = _ACTIVE.pop()
    ambient.install(None)
    hook_adapters(None)
    reset_consumers()
    recorder.close()
    return recorder.path


def _turn() -> CrossProcessTurn | None:
    """Serialize across processes only where tasks run elsewhere and the processes can share a
    turn; elsewhere (eager: one process) the in-process lock is all there is. Not eager on SQLite:
    no turn, and the file says `eager: false` (refused by the replay, as the others' are missing)."""
    if current_app.conf.task_always_eager or not shared_turn_possible():
        return None
    return CrossProcessTurn(session_key())


@contextlib.contextmanager
def recording(path: str | Path) -> Iterator[Recorder]:
    recorder = start_recording(path)
    try:
        yield recorder
    finally:
        stop_recording()


def start_from_settings() -> Recorder | None:
    """`OMS_VENUE_RECORD_DIR` set: record this process to `session-<UTC time>-<pid>.jsonl` there."""
    directory = getattr(settings, "OMS_VENUE_RECORD_DIR", "")
    if not directory or _ACTIVE:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return start_recording(Path(directory) / f"session-{stamp}-{os.getpid()}.jsonl")
