"""A state machine engine: one transition table per domain object.

The table maps (state, trigger) to the next state. A missing entry is an invalid transition,
reported with the state it came from and the trigger that was refused, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Generic, TypeVar

from oms.core.errors import InvalidTransition


def _name(value: object) -> str:
    return value.value if isinstance(value, Enum) else str(value)


St = TypeVar("St", bound=Enum)  # the object's states (OrdStatus, ExecStatus, ...)
Tr = TypeVar("Tr", bound=Enum)  # what drives it (the domain's Trigger enum)


class StateMachine(Generic[St, Tr]):
    def __init__(self, name: str, table: Mapping[tuple[St, Tr], St]):
        self.name = name
        self._table = dict(table)

    def next_state(self, state: St, trigger: Tr) -> St:
        try:
            return self._table[(state, trigger)]
        except KeyError:
            raise InvalidTransition(_name(state), _name(trigger)) from None

    def can(self, state: St, trigger: Tr) -> bool:
        return (state, trigger) in self._table

    def triggers_from(self, state: St) -> list[Tr]:
        return [t for (s, t) in self._table if s == state]

    def states(self) -> set[St]:
        return {s for (s, _) in self._table} | set(self._table.values())

    def check(self, state: St, trigger: Tr) -> None:
        self.next_state(state, trigger)

    def edges(self) -> Iterable[tuple[St, Tr, St]]:
        for (state, trigger), target in self._table.items():
            yield state, trigger, target
