"""Which desk actions an execution takes in its current state: asked of the execution table.

`execution_allowed_actions(execution)` is the execution document's `allowedActions` (pure: the
same function in replay, tests and live); the blotter enables its actions from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executions.fsm import EXECUTION_FSM, ExecTrigger

if TYPE_CHECKING:
    from executions.state import ExecutionState

ACTION_OF_TRIGGER: dict[ExecTrigger, str] = {
    ExecTrigger.ALLOCATE: "allocate",
    ExecTrigger.REJECT: "reject",
    ExecTrigger.CORRECT: "correct",  # TradeCorrect
    ExecTrigger.BUST: "bust",  # TradeCancel
}

EXECUTION_ACTIONS: tuple[str, ...] = tuple(ACTION_OF_TRIGGER.values())


def execution_allowed_actions(execution: ExecutionState) -> list[str]:
    """E.g. `["allocate", "reject", "correct"]` for a held execution, `["correct", "bust"]` for an
    allocated one, `[]` once it is rejected or busted."""
    return [
        action
        for trigger, action in ACTION_OF_TRIGGER.items()
        if EXECUTION_FSM.can(execution.status, trigger)
    ]
