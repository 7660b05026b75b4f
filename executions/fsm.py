"""The execution transition table."""

from __future__ import annotations

from enum import StrEnum

from executions.enums import ExecStatus as S
from oms.core.fsm import StateMachine


class ExecTrigger(StrEnum):
    CORRECT = "CorrectExecution"
    BUST = "BustExecution"
    ALLOCATE = "AllocateExecution"
    REJECT = "RejectExecution"


T = ExecTrigger

EXECUTION_FSM = StateMachine(
    "execution",
    {
        (S.PENDING_REVIEW, T.CORRECT): S.PENDING_REVIEW,
        (S.PENDING_REVIEW, T.ALLOCATE): S.ALLOCATED,
        (S.PENDING_REVIEW, T.REJECT): S.REJECTED,
        (S.ALLOCATED, T.CORRECT): S.ALLOCATED,  # TradeCorrect
        (S.ALLOCATED, T.BUST): S.BUSTED,  # TradeCancel
        (S.APPLIED, T.CORRECT): S.APPLIED,
        (S.APPLIED, T.BUST): S.BUSTED,
    },
)
