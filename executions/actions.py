"""Which desk actions an execution takes in its current state: asked of the execution table.

`execution_allowed_actions(execution)` is the execution document's `allowedActions` (pure: the
same function in replay, tests and live); the blotter enables its actions from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from executions.enums import ExecStatus
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


# read from the table once per status (to_api runs for every event's state)
_BY_STATUS: dict[ExecStatus, tuple[str, ...]] = {
    status: tuple(a for t, a in ACTION_OF_TRIGGER.items() if EXECUTION_FSM.can(status, t))
    for status in ExecStatus
}


def execution_allowed_actions(execution: ExecutionState) -> list[str]:
    """E.g. `["allocate", "reject", "correct"]` for a held execution, `["correct", "bust"]` for an
    allocated one, `[]` once it is rejected or busted."""
    return list(_BY_STATUS[execution.status])
