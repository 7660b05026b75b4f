"""Dirty flags: a position is dirty while something may have changed it that the OMS does not
know yet. Each cause is a reason kept in a set; the position is dirty while the set is not empty.

Reasons by convention (free text, at most 64 characters; the part before ":" says who clears it):

* `unknown_outcome:<orderId>`: an order sent to the venue whose outcome is unknown (a timeout);
  cleared when its report arrives or reconciliation settles it;
* `fills_missing:<venue>`: the venue's execution stream has a sequence gap not yet resynced;
* `discrepancy:<discrepancyId>`: reconciliation found the position different, unresolved.

Marking and clearing are internal commands on `positions` (never accepted over HTTP), so every
change is an event with its actor. `mark_dirty`/`clear_dirty` dispatch them in a transaction of
their own; `position_mark_dirty`/`position_clear_dirty` do the same inside a command that is
already running (the venue's report handler), with its unit of work.

A dirty position refuses orders that would add to it (`position_dirty`, rules.checks); orders
that reduce it, and cancels, pass.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from oms.core.commands import Command, Id, OptId
from oms.core.dispatch import CommandResult, Outcome, command_handler, dispatch
from oms.core.eventstore import UnitOfWork
from oms.positions.events import PositionDirtyCleared, PositionMarkedDirty
from oms.positions.repository import POSITION, position_for_update

TOPIC = "positions"
ACTOR = "system:positions"


class _DirtyCommand(Command):
    internal: ClassVar[bool] = True

    account: Id
    venue: OptId = None  # none: the orders not yet routed to a venue
    symbol: Id
    reason: Id = Field(description="unknown_outcome:<orderId>, fills_missing:<venue>, discrepancy:<id>")


class MarkPositionDirtyCommand(_DirtyCommand):
    """Internal: the venue adapters and reconciliation mark a position they cannot vouch for."""


class ClearPositionDirtyCommand(_DirtyCommand):
    """Internal: the cause of a dirty reason is resolved."""


@command_handler(TOPIC, MarkPositionDirtyCommand)
def position_mark_dirty(
    uow: UnitOfWork, *, account: str, symbol: str, reason: str, venue: str | None = None
) -> Outcome:
    position = position_for_update(uow, account, venue or "", symbol)
    if reason in position.dirty_reasons:
        return Outcome({"position": POSITION.to_api(position)}, 200, duplicate=True)
    position = uow.emit(POSITION, position.position_id, position, PositionMarkedDirty(reason=reason))
    return Outcome({"position": POSITION.to_api(position)})


@command_handler(TOPIC, ClearPositionDirtyCommand)
def position_clear_dirty(
    uow: UnitOfWork, *, account: str, symbol: str, reason: str, venue: str | None = None
) -> Outcome:
    position = position_for_update(uow, account, venue or "", symbol)
    if reason not in position.dirty_reasons:
        return Outcome({"position": POSITION.to_api(position)}, 200, duplicate=True)
    position = uow.emit(POSITION, position.position_id, position, PositionDirtyCleared(reason=reason))
    return Outcome({"position": POSITION.to_api(position)})


def _send(
    command: str, account: str, venue: str | None, symbol: str, reason: str, actor: str
) -> CommandResult:
    body = {"commandType": command, "account": account, "venue": venue, "symbol": symbol, "reason": reason}
    return dispatch(TOPIC, {k: v for k, v in body.items() if v is not None}, actor=actor)


def mark_dirty(
    account: str, venue: str | None, symbol: str, reason: str, *, actor: str = ACTOR
) -> CommandResult:
    """Mark the position dirty for `reason` (idempotent: a reason already set appends nothing)."""
    return _send(MarkPositionDirtyCommand.command_type(), account, venue, symbol, reason, actor)


def clear_dirty(
    account: str, venue: str | None, symbol: str, reason: str, *, actor: str = ACTOR
) -> CommandResult:
    """Clear one reason; the position stays dirty while it has others."""
    return _send(ClearPositionDirtyCommand.command_type(), account, venue, symbol, reason, actor)
