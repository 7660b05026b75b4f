"""One unit at a time, in the merged order: the threads of a merged replay pass a baton.

Each session file is replayed on a thread of its own (its process's drivers, one after the
other, as they ran). A thread stops at the start of every unit (`Cursor.sync`) and waits for the
baton; the conductor hands it to the unit the merged order names next and waits until that
thread stops at its next unit (or has played its whole file) before handing it on. So exactly one
thread runs at any time: the database sees the writes in the recorded commit order, and a thread
that waits holds no transaction (a unit starts outside any atomic block), so nothing deadlocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from oms.venues.recording.merge import Unit
from oms.venues.recording.replayer import ReplayDiverged

RUNNING = -1
DONE = -2
STALL_SECONDS = 120.0  # a unit that runs longer than this is stuck (a replay runs no real I/O)


class Aborted(Exception):
    """The replay stopped (a divergence elsewhere): this thread unwinds."""


class Baton:
    def __init__(self, files: int) -> None:
        self._cond = threading.Condition()
        self._at = dict.fromkeys(range(files), RUNNING)  # where each thread waits
        self._go: tuple[int, int] | None = None
        self._aborted = False

    def sync_for(self, file: int) -> Callable[[int], None]:
        def sync(index: int) -> None:
            with self._cond:
                self._at[file] = index
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._aborted or self._go == (file, index))
                if self._aborted:
                    raise Aborted()
                self._go = None
                self._at[file] = RUNNING

        return sync

    def done(self, file: int) -> None:
        with self._cond:
            self._at[file] = DONE
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def _stopped(self, file: int) -> Callable[[], bool]:
        return lambda: self._at[file] != RUNNING

    def _ran(self, file: int) -> Callable[[], bool]:
        """The baton was taken and the thread stopped again (or finished)."""
        return lambda: self._go is None and self._at[file] != RUNNING

    def conduct(
        self,
        order: list[Unit],
        describe: Callable[[Unit], str],
        around: Callable[[int], AbstractContextManager[Any]] = lambda _: nullcontext(),
        failed: Callable[[], ReplayDiverged | None] = lambda: None,
    ) -> None:
        """Hand the baton to each unit of `order` in turn; `around(file)` wraps a unit's run (the
        recorded settings of its process)."""
        for unit in order:
            with self._cond:
                stopped = self._cond.wait_for(self._stopped(unit.file), STALL_SECONDS)
                at = self._at[unit.file]
            if (diverged := failed()) is not None:
                raise diverged
            if not stopped:
                raise ReplayDiverged(f"the replay stalled before {describe(unit)}")
            if at != unit.index:
                raise ReplayDiverged(
                    f"the merged order runs {describe(unit)} next; its process's replay "
                    + ("has finished" if at == DONE else f"is at entry {at}")
                )
            with around(unit.file), self._cond:
                self._go = (unit.file, unit.index)
                self._cond.notify_all()
                ran = self._cond.wait_for(self._ran(unit.file), STALL_SECONDS)
            if not ran:
                raise failed() or ReplayDiverged(f"the replay stalled in {describe(unit)}")
        with self._cond:
            self._cond.wait_for(lambda: all(at == DONE for at in self._at.values()), STALL_SECONDS)
            left = [file for file, at in self._at.items() if at != DONE]
        if (diverged := failed()) is not None:
            raise diverged
        if left:
            raise ReplayDiverged(f"the replay of files {left} went on past the recording")
