"""A state machine engine: one transition table per domain object.

The table maps (state, trigger) to the next state. A missing entry is an invalid transition,
reported with the state it came from and the trigger that was refused, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

from oms.core.errors import InvalidTransition


def _name(value: object) -> str:
    return value.value if isinstance(value, Enum) else str(value)


class StateMachine:
    def __init__(self, name: str, table: Mapping[tuple[object, object], object]):
        self.name = name
        self._table = dict(table)

    def next_state(self, state: object, trigger: object) -> object:
        try:
            return self._table[(state, trigger)]
        except KeyError:
            raise InvalidTransition(_name(state), _name(trigger)) from None

    def can(self, state: object, trigger: object) -> bool:
        return (state, trigger) in self._table

    def triggers_from(self, state: object) -> list[object]:
        return [t for (s, t) in self._table if s == state]

    def states(self) -> set[object]:
        return {s for (s, _) in self._table} | set(self._table.values())

    def check(self, state: object, trigger: object) -> None:
        self.next_state(state, trigger)

    def edges(self) -> Iterable[tuple[object, object, object]]:
        for (state, trigger), target in self._table.items():
            yield state, trigger, target
