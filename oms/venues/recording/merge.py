"""Several processes' session files merged into ONE order to replay them in.

With Redis the API server, the Celery workers and the stream consumer are separate processes:
each records its own file (its drivers are serialized within it), and their effects interleave
through the database. The replay runs every file's drivers on a thread of its own and lets one
*unit* run at a time, in the merged order below. A unit starts where a driver begins, where one
of its top-level write transactions begins (`tx`, `oms.core.ambient.turn`) or where a venue call
made outside a transaction answered (a `call` with its `w`: what the code reads next it reads
after the answer, e.g. the orders a stream report names), and runs to the next such point of its
driver; a unit whose transaction committed events carries the global `seq` range of that commit
(`seq` lines of the file).

The order, and why it is the truth:
- the units that committed are ordered by their first `seq`. `seq` is taken at the end of a
  transaction under the sequence row's lock, held to commit, so seq order is commit order: the
  order in which the database saw the writes, whatever the processes' clocks say;
- a unit that committed nothing (a driver's reads before its first write, a stream poll that
  found nothing, a report already applied by another process, a refused command) changed no
  event and is placed by the wall time of what it decided on, against the times at which the
  committed units took the sequence row (`seq`'s `w`: a lower bound of their commit):
  * a unit that begins a write transaction decided under its locks, so by its end (the next
    entry of its driver with a wall time): a report racing the same report from another process
    waited for that one's row lock and read after its commit;
  * any other unit (a driver's start, what follows a venue's answer) reads as it starts, so by
    its start: the code after `place_order` answered read the order before the stream's report
    of the same order committed, even if that commit came before it began its own write.
  Within those bounds the database gave no order, and none is needed: a unit that did not wait
  for a lock did not touch what the other wrote;
- a file's own order is never changed (a process's drivers ran one after the other).
Wall times only break ties between processes where the database gives no order; the processes of
one host share the clock, across hosts their skew matters only to units that wrote nothing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from oms.venues.recording.sessionfile import Session, starts_unit


@dataclass(frozen=True)
class Unit:
    file: int  # index of the session file
    index: int  # index in that file's entries of the `begin` or `tx` that starts it
    wall: float  # when it started
    end: float  # when it ended (its driver's next unit started, or the driver ended)
    seq: int | None  # the first global seq it committed
    committed_at: float  # when its (last) commit took the sequence row; its end if none
    transaction: bool  # it starts with a write transaction (`tx`)

    @property
    def at(self) -> float:
        """Where a unit that committed nothing goes (see the module's docstring)."""
        return self.end if self.transaction else self.wall

    def key(self) -> tuple[float, int, int]:
        return (self.at, self.file, self.index)


def units(sessions: list[Session]) -> list[deque[Unit]]:
    """Every file's units, in the file's order."""
    queues: list[deque[Unit]] = []
    for i, session in enumerate(sessions):
        queue: deque[Unit] = deque()
        entries = session.entries
        # a unit ends where its driver's next unit starts (a venue call: where it was asked) or
        # the driver ends: the next entry with a wall time (a reverse pass: for every entry)
        following = [0.0] * len(entries)
        later: float | None = None
        for n in range(len(entries) - 1, -1, -1):
            following[n] = later if later is not None else float(entries[n].get("w", 0.0))
            if "w" in entries[n]:  # a venue call: the unit before it ends when it is asked
                later = float(entries[n].get("ws", entries[n]["w"]))
        for index, entry in enumerate(entries):
            if not starts_unit(entry):
                continue
            wall, end = float(entry.get("w", 0.0)), following[index]
            seq = entry.get("seq")
            committed_at = float(entry.get("committedAt", end))
            first = seq[0] if seq else None
            queue.append(Unit(i, index, wall, end, first, committed_at, entry["k"] == "tx"))
        queues.append(queue)
    return queues


def merge(sessions: list[Session]) -> list[Unit]:
    queues = units(sessions)
    committed = sorted((u for q in queues for u in q if u.seq is not None), key=lambda u: u.seq or 0)
    order: list[Unit] = []

    def uncommitted_before(limit: float) -> None:
        # the heads that wrote nothing and ended before `limit`, earliest first
        while True:
            heads = [q[0] for q in queues if q and q[0].seq is None and q[0].at < limit]
            if not heads:
                return
            head = min(heads, key=Unit.key)
            order.append(queues[head.file].popleft())

    for unit in committed:
        uncommitted_before(unit.committed_at)
        queue = queues[unit.file]
        while queue[0] is not unit:  # its own process's earlier units (a clock's oddity)
            order.append(queue.popleft())
        order.append(queue.popleft())
    uncommitted_before(math.inf)
    return order
