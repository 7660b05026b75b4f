"""Committed aggregate states kept in process, so a command need not read what it wrote last.

A command's first attempt may take the states it changes from here instead of locking and reading
their rows (see "Optimistic writes" in docs/architecture.md). The cache holds only states that
were committed: the states a unit of work read from rows or wrote, added once its transaction
committed (never before: an enclosing transaction that rolls back must leave nothing here). An (aggregate, id, version) names one committed state for
ever (the event tables' primary key is (aggregate_id, version)), so a cached state whose version
is still the row's version *is* the row's state; the unit of work checks exactly that in its
write pipeline (a compare-and-set on every row it writes, a version check on every row it only
read), and a stale entry costs a retry that reads the rows, never a wrong write.
"""

from __future__ import annotations

import threading
from typing import Any

DEFAULT_MAX_ENTRIES = 50_000


class StateCache:
    """A bounded map (aggregate name, id) -> state, oldest entries dropped first; thread-safe."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._states: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, name: str, aggregate_id: str) -> Any | None:
        state = self._states.get((name, aggregate_id))
        if state is None:
            self.misses += 1
        else:
            self.hits += 1
        return state

    def put(self, name: str, aggregate_id: str, state: Any) -> None:
        """Remember a committed state; an older version never replaces a newer one."""
        key = (name, aggregate_id)
        with self._lock:
            known = self._states.get(key)
            if known is not None and known.version > state.version:
                return
            self._states.pop(key, None)  # re-insert: most recently written last
            self._states[key] = state
            while len(self._states) > self.max_entries:
                del self._states[next(iter(self._states))]

    def discard(self, name: str, aggregate_id: str) -> None:
        with self._lock:
            self._states.pop((name, aggregate_id), None)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()
            self.hits = self.misses = 0

    def swap(self, states: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
        """Hold `states` instead of what it holds, returned: a replay of a session recorded by
        several processes gives each process's drivers that process's cache, as they had it."""
        with self._lock:
            held, self._states = self._states, states
            return held

    def __len__(self) -> int:
        return len(self._states)


CACHE = StateCache()
