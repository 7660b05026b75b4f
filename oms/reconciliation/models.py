"""Tables of reconciliation: discrepancies and runs, each a state table with its event table
(both on the topic `discrepancy-events`)."""

from __future__ import annotations

from django.db import models

from oms.core.models import EventRecord, StateRecord, unique_version


class Discrepancy(StateRecord):
    discrepancy_id = models.CharField(max_length=64, primary_key=True)
    run_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    venue = models.CharField(max_length=64)
    account = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=64, blank=True)
    # what differs, e.g. "position|ACC|BTC" or "order|<clOrdID>": a run that finds the same thing
    # still different reuses the open discrepancy instead of opening a second one
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=16)

    class Meta:
        db_table = "discrepancies"
        indexes = [
            # the desk's queue (venue, status) and SAFE mode's release count (status, venue)
            models.Index(fields=["venue", "status"], name="discrepancies_venue_status"),
            # a run's "is this one already open?" (venue, subject, status)
            models.Index(fields=["venue", "subject", "status"], name="discrepancies_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.discrepancy_id} {self.kind} {self.venue}:{self.symbol} [{self.status}]"


class DiscrepancyEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "discrepancy_events"
        constraints = unique_version("uniq_discrepancy_event_version")


class ReconciliationRun(StateRecord):
    run_id = models.CharField(max_length=64, primary_key=True)
    venue = models.CharField(max_length=64)

    class Meta:
        db_table = "reconciliation_runs"
        # the last run of a venue (its fills are re-read from its start)
        indexes = [models.Index(fields=["venue", "created_at"], name="reconciliation_runs_venue")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.venue}"


class ReconciliationRunEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "reconciliation_run_events"
        constraints = unique_version("uniq_reconciliation_run_event_version")
