"""The purge audit: one `PurgeRun` row per purge transaction (who, when, what, where archived).

The row is written first in the purge transaction (status `running`); on PostgreSQL the event
tables' audit trigger lets a DELETE through only when the transaction names a running purge run
(`SET LOCAL oms.purge_run`, done by the purge functions of `oms/lifecycle/audit.py`). It is finished (`done`, counts, archive path and sha256, seq range)
in the same transaction, so a purge that commits is always recorded, and one that fails leaves
a `failed` row written afterwards.
"""

from __future__ import annotations

from django.db import models


class PurgeStatus(models.TextChoices):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PurgeRun(models.Model):
    actor = models.CharField(max_length=150)
    status = models.CharField(max_length=8, choices=PurgeStatus.choices, default=PurgeStatus.RUNNING)
    as_of = models.DateTimeField()  # the `now` the retention cut-offs were computed from
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    retention_days = models.JSONField(default=dict)  # {"orders": 90, ...} as applied
    counts = models.JSONField(default=dict)  # {"orders": n, "order_events": n, ...}
    archive_path = models.CharField(max_length=1024, blank=True, default="")
    archive_sha256 = models.CharField(max_length=64, blank=True, default="")
    archive_bytes = models.BigIntegerField(default=0)
    seq_min = models.BigIntegerField(null=True, blank=True)  # the purged events' seq range
    seq_max = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # PostgreSQL: the transaction that began the run (txid_current()); the purge functions delete
    # and finish only in that transaction, so a run left `running` cannot be reused later
    txid = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "lifecycle_purge_runs"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"purge run {self.pk} by {self.actor} [{self.status}] {self.counts}"
