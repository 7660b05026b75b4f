"""Purge participation: how a domain's objects leave the state store with the purge.

The purge (oms/lifecycle/purge.py) selects order trees; a domain whose objects belong to orders
(executions) registers a `PurgeParticipant` from its AppConfig.ready, saying which of its objects
go with a tree, which of them keep a tree alive, and which are orphans due on their own. So the
purge knows no domain model above the orders, and the core none at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

Cutoffs = Mapping[str, dt.datetime]  # retention name (OMS_RETENTION_DAYS key) -> cut-off


@dataclass(frozen=True)
class PurgeParticipant:
    aggregate: str  # the registered aggregate type name of the objects ("execution")
    # (owner: {order id: its tree's root id}, cut-offs) -> (root id, object id, keeps the tree)
    # for every object of the participant that belongs to one of those orders
    members: Callable[[Mapping[str, str], Cutoffs], Iterable[tuple[str, str, bool]]]
    # (cut-offs, at most) -> ids of objects due on their own (their order is gone), in id order
    orphans: Callable[[Cutoffs, int | None], list[str]]


_PARTICIPANTS: dict[str, PurgeParticipant] = {}


def register_purge_participant(participant: PurgeParticipant) -> PurgeParticipant:
    _PARTICIPANTS[participant.aggregate] = participant
    return participant


def purge_participants() -> list[PurgeParticipant]:
    return list(_PARTICIPANTS.values())
