"""Execution state and its pure apply (no Django)."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from executions.actions import EXECUTION_ACTIONS, execution_allowed_actions
from executions.enums import ExecStatus
from executions.fsm import EXECUTION_FSM, ExecTrigger
from oms.core.documents import (
    Document,
    allowed_actions,
    choice,
    decimal,
    document,
    integer,
    obj,
    string,
    strings,
    when,
)
from oms.core.fold import Envelope
from oms.core.parsing import from_iso


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


EXECUTION_DOCUMENT: Document[ExecutionState] = document(
    "ExecutionState",
    [
        string("executionId"),
        string("execID"),  # FIX 17
        string("orderId"),
        string("clientOrderId", null=True),
        decimal("lastQty"),  # FIX 32
        decimal("lastPx"),  # FIX 31
        string("venue"),
        choice("status", ExecStatus),
        strings("reviewReasons"),
        obj("reviewDetails", decode=lambda d: dict(d.get("reviewDetails") or {})),
        strings("overriddenReasons"),
        string("text", null=True),
        integer("version"),
        when("transactTime"),  # FIX 60
        when("createdAt"),
        when("updatedAt"),
        allowed_actions(execution_allowed_actions, EXECUTION_ACTIONS),
    ],
)
to_api = EXECUTION_DOCUMENT.encode
from_api = EXECUTION_DOCUMENT.decoder(ExecutionState)
