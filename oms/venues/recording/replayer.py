"""The replayer: the tape that hands a recorded session's values back, in order, and the adapter
that answers for the venue from it.

Every clock reading, id and venue answer the replayed code asks for must be the next one on the
tape and of the same kind; a call must have the same method and arguments; a driver must begin
with the same arguments and end the same way (success, or the same error class and code). The
first difference stops the replay with `ReplayDiverged`, naming the line: the OMS no longer did
what it did, which is the finding. The divergence is sticky: code that swallows errors (an
after-commit subscriber) cannot hide it, the runner checks after every driver.

The clocks are simulated: `now()` answers the recorded time and `monotonic()` the recorded
reading, so timers (the gap hold, a resync, feed health) fire where they fired, with no sleeping.
Only the thread that runs the replay is served; any other thread keeps the system's values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from oms.venues.adapter import AdapterFactory, VenueAdapter
from oms.venues.recording.boundary import BoundaryAdapter
from oms.venues.recording.codec import decode, decode_error, encode
from oms.venues.recording.recorder import dumps, error_name
from oms.venues.recording.sessionfile import Session


class ReplayDiverged(Exception):
    """The replay did something the original did not (or not there)."""


def _normal(value: Any) -> Any:
    """As the recorder wrote it (JSON, with what JSON cannot hold as strings)."""
    return json.loads(dumps(value))


class Replayer:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.entries = session.entries
        self.position = 0
        self.depth = 0
        self.diverged: ReplayDiverged | None = None
        self.owner = threading.get_ident()
        self.drivers_run = 0

    # --- the cursor ----------------------------------------------------------------------------

    def peek(self) -> dict[str, Any] | None:
        return self.entries[self.position] if self.position < len(self.entries) else None

    def _fail(self, message: str) -> ReplayDiverged:
        if self.diverged is None:
            self.diverged = ReplayDiverged(message)
        return self.diverged

    def _take(self, kind: str, what: str) -> dict[str, Any]:
        if self.diverged is not None:
            raise self.diverged
        entry = self.peek()
        if entry is None:
            raise self._fail(f"the replay asked for {what} after the end of the session")
        if entry["k"] != kind:
            raise self._fail(
                f"{_where(entry)}: the original had {_describe(entry)} here; the replay asked for {what}"
            )
        self.position += 1
        return entry

    def _serves(self) -> bool:
        return threading.get_ident() == self.owner and self.depth > 0

    # --- the tape ------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        if not self._serves():
            return dt.datetime.now(dt.UTC)
        return dt.datetime.fromisoformat(self._take("now", "the time")["v"])

    def monotonic(self) -> float:
        if not self._serves():
            return time.monotonic()
        return float(self._take("mono", "a timer reading")["v"])

    def unique(self, make: Callable[[], str], kind: str) -> str:
        if not self._serves():
            return make()
        return str(self._take(kind, f"a new {kind}")["v"])

    @contextlib.contextmanager
    def driver(self, kind: str, args: dict[str, Any]) -> Iterator[None]:
        if threading.get_ident() != self.owner or self.depth > 0:
            yield  # another thread, or part of the driver running
            return
        begin = self._take("begin", f"to start a {kind} driver")
        wanted = {"driver": kind, "args": _normal(args)}
        if {"driver": begin["driver"], "args": begin["args"]} != wanted:
            raise self._fail(
                f"{_where(begin)}: the original ran {begin['driver']} "
                f"{dumps(begin['args'])[:300]}; the replay ran {kind} {dumps(wanted['args'])[:300]}"
            )
        self.depth = 1
        self.drivers_run += 1
        try:
            yield
        except Exception as exc:
            self.depth = 0
            self._finish(begin, error_name(exc))
            raise
        self.depth = 0
        self._finish(begin, None)

    def _finish(self, begin: dict[str, Any], error: str | None) -> None:
        end = self._take("end", f"more after driver {begin['n']} (line {begin['line']})")
        if end["error"] != error:
            raise self._fail(
                f"{_where(begin)}: driver {begin['n']} ended with "
                f"{end['error'] or 'success'} in the original and {error or 'success'} in the replay"
            )

    def mark(self) -> int:
        return self.position if self._serves() else 0

    def rewind(self, mark: int) -> None:
        if self._serves():
            self.position = mark

    # --- the venue -----------------------------------------------------------------------------

    def adapter_hook(self, venue: str, adapter_name: str, factory: AdapterFactory | None) -> VenueAdapter:
        recorded = self.session.adapters.get(venue, {})
        return ReplayAdapter(self, venue, recorded.get("name", adapter_name), recorded.get("has", {}))

    def answer(self, venue: str, method: str, arguments: dict[str, Any]) -> Any:
        what = f"{venue} {method}({dumps(encode(arguments))[:300]})"
        if not self._serves():
            raise self._fail(f"the replay called the venue outside any recorded driver: {what}")
        entry = self._take("call", f"the venue: {what}")
        if (entry["venue"], entry["m"], entry["a"]) != (venue, method, _normal(encode(arguments))):
            raise self._fail(
                f"{_where(entry)}: the original called {entry['venue']} "
                f"{entry['m']}({dumps(entry['a'])[:300]}); the replay called {what}"
            )
        if "x" in entry:
            raise decode_error(entry["x"])
        return decode(entry["r"])


class ReplayAdapter(BoundaryAdapter):
    """Stands in for the venue: answers every call from the tape, calls nothing."""

    def __init__(self, replayer: Replayer, venue: str, adapter_name: str, has: dict[str, bool]) -> None:
        super().__init__(venue, adapter_name, has)
        self.replayer = replayer

    def _call(self, method: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        return self.replayer.answer(self.venue, method, arguments)


def _describe(entry: dict[str, Any]) -> str:
    kind = entry["k"]
    if kind == "begin":
        return f"driver {entry['n']} ({entry['driver']}) beginning"
    if kind == "end":
        return f"the end of driver {entry['n']}"
    if kind == "call":
        return f"a call {entry['venue']} {entry['m']}"
    return f"a {kind} ({entry.get('v')!r:.60})"


def _where(entry: dict[str, Any]) -> str:
    """The file and line of an entry (a merged session's entries come from several files)."""
    return f"{entry['file']}:{entry['line']}"
