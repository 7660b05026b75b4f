"""Reads of executions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from executions.enums import ExecStatus
from executions.models import Execution, ExecutionEvent
from oms.core.errors import NotFound
from oms.core.specification import Field, Specification


class ExecutionSpecification(Specification):
    fields = {
        "order_id": Field("order_id", param="orderId"),
        "client_order_id": Field("client_order_id", param="clientOrderId"),
        "status": Field("status", "in", choices=ExecStatus),
        "exec_id": Field("exec_id", param="execID"),
        "venue": Field("venue", "in"),
        "updated_after": Field("updated_at", "gt", param="updatedAfter", kind="datetime"),
    }
    orderings = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "transactTime": "transact_time",
        "lastQty": "last_qty",
        "lastPx": "last_px",
        "status": "status",
        "executionId": "execution_id",
    }
    default_ordering = ("-created_at", "-execution_id")


def execution_query(spec: Specification) -> QuerySet[Execution]:
    return spec.apply(Execution.objects.all())


def execution_get(execution_id: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = (
        Execution.objects.filter(pk=execution_id).values_list("doc", flat=True).first()
    )
    if doc is None:
        raise NotFound(f"execution {execution_id} not found")
    return doc


def execution_events(execution_id: str) -> QuerySet[ExecutionEvent]:
    if not Execution.objects.filter(pk=execution_id).exists():
        raise NotFound(f"execution {execution_id} not found")
    return ExecutionEvent.objects.filter(aggregate_id=execution_id).order_by("version")
