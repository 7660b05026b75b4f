"""Venue I/O bookkeeping (not domain state: the orders' state is the orders' events).

`VenueSend` is the claim on one request to a venue (a place, cancel or replace), keyed by the
request's clOrdID: a task claims it in the database before it calls the venue, so a retried or
duplicated task finds the claim and asks the venue what happened instead of sending again.
`VenueDeadLetter` is what the desk sees when a send gave up (admin: Venues > Dead letters).
"""

from __future__ import annotations

from django.db import models


class SendAction(models.TextChoices):
    PLACE = "Place"
    CANCEL = "Cancel"
    REPLACE = "Replace"


class SendStatus(models.TextChoices):
    CLAIMED = "Claimed"  # a task is (or was, if it died) calling the venue
    RETRYING = "Retrying"  # a transient error: nothing happened at the venue; a retry is queued
    DONE = "Done"  # the venue answered (accepted, rejected, canceled, replaced)
    UNKNOWN = "Unknown"  # sent, no answer, not found by clOrdID: left to reconciliation
    FAILED = "Failed"  # retries exhausted: a dead letter


class VenueSend(models.Model):
    cl_ord_id = models.CharField(max_length=64, primary_key=True)  # the request's ClOrdID (FIX 11)
    venue = models.CharField(max_length=64)
    action = models.CharField(max_length=16, choices=SendAction.choices)
    order_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=SendStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    venue_order_id = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=64, blank=True, default="")  # what the venue said
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "venue_sends"
        indexes = [
            models.Index(fields=["status", "updated_at"], name="venue_sends_status")
        ]  # the desk's "stuck" list

    def __str__(self) -> str:
        return f"{self.action} {self.cl_ord_id} at {self.venue} [{self.status}]"


class VenueDeadLetter(models.Model):
    venue = models.CharField(max_length=64)
    task = models.CharField(max_length=128)
    order_id = models.CharField(max_length=64, db_index=True)
    cl_ord_id = models.CharField(max_length=64)
    reason = models.CharField(max_length=64)  # retries_exhausted, unknown_outcome, unexpected_error
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    resolved = models.BooleanField(default=False)

    class Meta:
        db_table = "venue_dead_letters"

    def __str__(self) -> str:
        return f"{self.task} {self.cl_ord_id} at {self.venue}: {self.reason}"
