"""Execution tables: the `executions` state table and its event table."""

from __future__ import annotations

from django.db import models

from executions.enums import ExecStatus
from oms.core.models import EventRecord
from oms.core.parsing import dec_str


class Execution(models.Model):
    execution_id = models.CharField(max_length=64, primary_key=True)
    exec_id = models.CharField(max_length=64, db_index=True)  # FIX 17, unique per venue; searched alone
    venue = models.CharField(max_length=64, default="")
    order_id = models.CharField(max_length=64, db_index=True)
    client_order_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in ExecStatus], db_index=True)
    last_qty = models.DecimalField(max_digits=28, decimal_places=10)
    last_px = models.DecimalField(max_digits=28, decimal_places=10)
    version = models.PositiveIntegerField()
    transact_time = models.DateTimeField()
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(db_index=True)
    doc = models.JSONField()

    class Meta:
        db_table = "executions"
        constraints = [
            # a venue's ExecID names one execution: a repeat is the same execution (idempotent)
            models.UniqueConstraint(fields=["venue", "exec_id"], name="uniq_execution_venue_exec_id"),
        ]

    def __str__(self) -> str:
        return f"{self.exec_id}@{self.venue} {dec_str(self.last_qty)}@{dec_str(self.last_px)} [{self.status}]"


class ExecutionEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "execution_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_execution_event_version"),
        ]
