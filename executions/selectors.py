"""Reads of executions: the specification and its registration with the query API."""

from __future__ import annotations

from executions.enums import ExecStatus
from executions.repository import EXECUTION
from oms.core.readside import register_read
from oms.core.specification import Field, Specification


class ExecutionSpecification(Specification):
    fields = {
        "order_id": Field("order_id", param="orderId"),
        "client_order_id": Field("client_order_id", param="clientOrderId"),
        "status": Field("status", "in", choices=ExecStatus),
        "exec_id": Field("exec_id", param="execID"),
        "venue": Field("venue", "in"),
        "updated_after": Field("updated_at", "gt", param="updatedAfter", kind="datetime"),
        "created_after": Field("created_at", "gt", param="createdAfter", kind="datetime"),
        "created_before": Field(
            "created_at", "lt", param="createdBefore", kind="datetime", help="Created before this time."
        ),
        # the blotter's filters on a history range (static/blotter/history.js), run here
        "search": Field(
            "exec_id",
            "search",
            param="q",
            key="execID",
            also=(("execution_id", "executionId"), ("order_id", "orderId"), ("venue", "venue")),
            help="Quick search: a case-insensitive part of execID, executionId, orderId or venue.",
        ),
        "exec_id_contains": Field(
            "exec_id", "icontains", param="execIDContains", key="execID", help="A part of execID."
        ),
        "venue_contains": Field("venue", "icontains", param="venueContains", help="A part of the venue."),
        "last_qty": Field("last_qty", "range", param="lastQty", kind="decimal"),
        "last_px": Field("last_px", "range", param="lastPx", kind="decimal"),
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "transactTime": "transact_time",
        "execID": "exec_id",
        "venue": "venue",
        "lastQty": "last_qty",
        "lastPx": "last_px",
        "status": "status",
        "executionId": "execution_id",
    }
    default_ordering = ("-created_at", "-execution_id")
    id_column = "execution_id"


EXECUTIONS = register_read(EXECUTION, path="executions", specification=ExecutionSpecification)
