"""Execution state and its pure apply (no Django)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from executions.actions import execution_allowed_actions
from executions.enums import ExecStatus
from executions.fsm import EXECUTION_FSM, ExecTrigger
from oms.core.eventstore import Envelope
from oms.core.parsing import dec_str, from_iso, iso


@dataclass
class ExecutionState:
    execution_id: str
    exec_id: str  # FIX 17
    order_id: str
    venue: str
    last_qty: Decimal  # FIX 32
    last_px: Decimal  # FIX 31
    status: ExecStatus
    version: int
    transact_time: dt.datetime  # FIX 60
    created_at: dt.datetime
    updated_at: dt.datetime
    client_order_id: str | None = None
    review_reasons: list[str] = field(default_factory=list)
    review_details: dict[str, list[str]] = field(default_factory=dict)
    overridden_reasons: list[str] = field(default_factory=list)
    text: str | None = None


def _first(env: Envelope, status: ExecStatus) -> ExecutionState:
    d = env.data
    return ExecutionState(
        execution_id=env.aggregate_id,
        exec_id=d["execID"],
        order_id=d["orderId"],
        client_order_id=d.get("clientOrderId"),
        venue=d["venue"],
        last_qty=Decimal(d["lastQty"]),
        last_px=Decimal(d["lastPx"]),
        status=status,
        version=0,
        transact_time=from_iso(d["transactTime"]),
        created_at=env.recorded_at,
        updated_at=env.recorded_at,
        review_reasons=list(d.get("reviewReasons") or []),
        review_details=dict(d.get("reviewDetails") or {}),
        text=d.get("text"),
    )


# the transition each later event records: `apply` checks the table, so replay proves it too
_EVENT_TRIGGERS = {
    "ExecutionAllocated": ExecTrigger.ALLOCATE,
    "ExecutionCorrected": ExecTrigger.CORRECT,
    "ExecutionBusted": ExecTrigger.BUST,
    "ExecutionRejected": ExecTrigger.REJECT,
}


def apply(state: ExecutionState | None, env: Envelope) -> ExecutionState:
    d = env.data
    if state is None:
        if env.type == "ExecutionAllocated":
            s = _first(env, ExecStatus.ALLOCATED)
        elif env.type == "ExecutionHeld":
            s = _first(env, ExecStatus.PENDING_REVIEW)
        else:
            raise ValueError(f"{env.type} cannot start execution {env.aggregate_id}")
    else:
        trigger = _EVENT_TRIGGERS.get(env.type)
        if trigger is not None:
            EXECUTION_FSM.check(state.status, trigger)
        s = copy.copy(state)
        s.updated_at = env.recorded_at
        if env.type == "ExecutionAllocated":  # the desk allocates a held execution
            s.status = ExecStatus.ALLOCATED
            s.order_id = d["orderId"]
            s.client_order_id = d.get("clientOrderId")
            s.overridden_reasons = list(d.get("overriddenReasons") or [])
            s.review_reasons = []
            s.review_details = {}
        elif env.type == "ExecutionCorrected":
            s.last_qty = Decimal(d["lastQty"])
            s.last_px = Decimal(d["lastPx"])
            if "reviewReasons" in d:
                s.review_reasons = list(d["reviewReasons"])
                s.review_details = dict(d.get("reviewDetails") or {})
        elif env.type == "ExecutionBusted":
            s.status = ExecStatus.BUSTED
        elif env.type == "ExecutionRejected":
            s.status = ExecStatus.REJECTED
        else:
            raise ValueError(f"unknown execution event {env.type}")
        if d.get("text"):
            s.text = d["text"]
    s.version = env.version
    return s


EVENT_TYPES = (
    "ExecutionAllocated",
    "ExecutionHeld",
    "ExecutionCorrected",
    "ExecutionBusted",
    "ExecutionRejected",
)


def to_api(s: ExecutionState) -> dict[str, Any]:
    return {
        "executionId": s.execution_id,
        "execID": s.exec_id,
        "orderId": s.order_id,
        "clientOrderId": s.client_order_id,
        "lastQty": dec_str(s.last_qty),
        "lastPx": dec_str(s.last_px),
        "venue": s.venue,
        "status": s.status.value,
        "reviewReasons": s.review_reasons,
        "reviewDetails": s.review_details,
        "overriddenReasons": s.overridden_reasons,
        "text": s.text,
        "version": s.version,
        "transactTime": iso(s.transact_time),
        "createdAt": iso(s.created_at),
        "updatedAt": iso(s.updated_at),
        "allowedActions": execution_allowed_actions(s),
    }


def from_api(d: dict[str, Any]) -> ExecutionState:
    return ExecutionState(
        execution_id=d["executionId"],
        exec_id=d["execID"],
        order_id=d["orderId"],
        client_order_id=d.get("clientOrderId"),
        venue=d["venue"],
        last_qty=Decimal(d["lastQty"]),
        last_px=Decimal(d["lastPx"]),
        status=ExecStatus(d["status"]),
        version=d["version"],
        transact_time=from_iso(d["transactTime"]),
        created_at=from_iso(d["createdAt"]),
        updated_at=from_iso(d["updatedAt"]),
        review_reasons=list(d.get("reviewReasons") or []),
        review_details=dict(d.get("reviewDetails") or {}),
        overridden_reasons=list(d.get("overriddenReasons") or []),
        text=d.get("text"),
    )
