"""The write path's clock and id source, replaceable by a session tape for a deterministic replay.

Everything a command's events depend on besides its inputs and the database is either a clock
reading or a fresh id: `CommandContext.now` (every event's `recordedAt`), its correlation id, the
ids of new orders, executions and records (`new_id`), the throttle windows and the routing rules'
`timeOfDay`, and the stream consumer's timers (gap hold, resync, feed health). They all come from
here. Normally these are the system's (`now()` is `datetime.now(UTC)`, `unique(make)` is
`make()`): one global read and a None check more than calling the system directly.

A `Tape` installed with `install()` takes over for the threads it serves: the session recorder
(`oms.venues.recording`) writes down every value handed out, and the replayer hands the same
values out again in the same order, so the replay's events are the original's byte for byte.
`driver(kind, args)` brackets one unit of work that drives the OMS from outside (a command sent
to dispatch, a venue task, a stream consumer's step): the tape records it with the values drawn
inside it and the venue's answers, and replays it by calling the same code with the same
arguments. `mark()`/`rewind()` let dispatch forget what an attempt drew when it runs the command
again (an optimistic attempt that lost a race): only the attempt that committed counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class Tape(Protocol):
    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...

    def unique(self, make: Callable[[], str], kind: str) -> str: ...

    def driver(self, kind: str, args: dict[str, Any]) -> contextlib.AbstractContextManager[None]: ...

    def mark(self) -> int: ...

    def rewind(self, mark: int) -> None: ...


_TAPE: Tape | None = None


def install(tape: Tape | None) -> Tape | None:
    """Make `tape` the source of times and ids (None: the system's again); returns the previous one."""
    global _TAPE
    previous, _TAPE = _TAPE, tape
    return previous


def active() -> Tape | None:
    return _TAPE


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    tape = _TAPE
    return dt.datetime.now(dt.UTC) if tape is None else tape.now()


def monotonic() -> float:
    """Seconds on a clock that never goes back (timers); only differences mean anything."""
    tape = _TAPE
    return time.monotonic() if tape is None else tape.monotonic()


def unique(make: Callable[[], str], kind: str = "id") -> str:
    """A fresh id made by `make` (random, time-ordered...), or the one the tape replays."""
    tape = _TAPE
    return make() if tape is None else tape.unique(make, kind)


def driver(kind: str, args: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """Bracket a unit of work that drives the OMS from outside (see the module's docstring)."""
    tape = _TAPE
    return contextlib.nullcontext() if tape is None else tape.driver(kind, args)


def mark() -> int:
    tape = _TAPE
    return 0 if tape is None else tape.mark()


def rewind(position: int) -> None:
    tape = _TAPE
    if tape is not None:
        tape.rewind(position)


@contextlib.contextmanager
def installed(tape: Tape) -> Iterator[Tape]:
    """`install(tape)` for the block, then whatever was installed before."""
    previous = install(tape)
    try:
        yield tape
    finally:
        install(previous)
