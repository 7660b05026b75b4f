"""Registers executions with the event store."""

from __future__ import annotations

from executions import state as exec_state
from executions.models import Execution, ExecutionEvent
from executions.state import ExecutionState
from oms.core.eventstore import AggregateType, register

TOPIC = "execution-events"


def from_row(row: Execution) -> ExecutionState:
    return exec_state.from_api(row.doc)


EXECUTION = register(
    AggregateType(
        name="execution",
        topic=TOPIC,
        state_model=Execution,
        event_model=ExecutionEvent,
        apply=exec_state.apply,
        to_api=exec_state.to_api,
        from_row=from_row,
        document=exec_state.EXECUTION_DOCUMENT,
    )
)
