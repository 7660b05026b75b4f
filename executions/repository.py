"""Registers executions with the event store."""

from __future__ import annotations

from typing import Any

from executions import state as exec_state
from executions.models import Execution, ExecutionEvent
from executions.state import ExecutionState
from oms.core.eventstore import AggregateType, register

TOPIC = "execution-events"


def to_row(s: ExecutionState, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution_id": s.execution_id,
        "exec_id": s.exec_id,
        "venue": s.venue,
        "order_id": s.order_id,
        "client_order_id": s.client_order_id,
        "status": s.status.value,
        "last_qty": s.last_qty,
        "last_px": s.last_px,
        "version": s.version,
        "transact_time": s.transact_time,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "doc": doc,
    }


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
        to_row=to_row,
        from_row=from_row,
        document=exec_state.EXECUTION_DOCUMENT,
    )
)
