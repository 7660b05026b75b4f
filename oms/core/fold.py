"""The pure fold of an aggregate: the envelope `apply` sees, and the applier built from one
handler per event type (what the live write path and `replay --verify` both run)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True)
class Envelope:
    """An event as `apply` sees it: what happened plus when, to which aggregate, at which version."""

    type: str
    data: dict[str, Any]
    aggregate_id: str
    version: int
    occurred_at: dt.datetime
    recorded_at: dt.datetime


class _Stamped(Protocol):
    version: int
    updated_at: dt.datetime


A = TypeVar("A", bound=_Stamped)


def event_applier(
    created: str,
    create: Callable[[Envelope], A],
    handlers: Mapping[str, Callable[[A, dict[str, Any]], None]],
    *,
    after: Callable[[A], None] | None = None,
    guard: Callable[[A, Envelope], None] | None = None,
) -> Callable[[A | None, Envelope], A]:
    """The pure `apply(state, envelope) -> state` of an aggregate whose first event is `created`.

    Every later event type has a handler that changes a copy of the state in place (the state
    given is never touched); the copy gets the event's version and time, then `after` (e.g. a
    derived status) runs. An event out of place (a second create, an update before the create,
    an unknown type) raises: replay must not pass over it silently. `guard(state, envelope)`
    runs first on the state before the event: the aggregate's transition table, so that an event
    its state machine forbids raises `InvalidTransition` live and in `replay --verify` alike.
    """

    def apply(state: A | None, env: Envelope) -> A:
        if env.type == created:
            if state is not None:
                raise ValueError(f"{created} for existing {env.aggregate_id}")
            s = create(env)
        else:
            if state is None:
                raise ValueError(f"{env.type} before {created} for {env.aggregate_id}")
            handler = handlers.get(env.type)
            if handler is None:
                raise ValueError(f"unknown event type {env.type} for {env.aggregate_id}")
            if guard is not None:
                guard(state, env)
            s = copy.copy(state)
            handler(s, env.data)
            s.updated_at = env.recorded_at
        s.version = env.version
        if after is not None:
            after(s)
        return s

    return apply
