"""The event store's tables: the global sequence, the abstract event record, idempotency keys."""

from __future__ import annotations

from django.db import models


class EventSequence(models.Model):
    """The global, increasing event sequence (`seq`), one row.

    Appends take the next numbers with `UPDATE ... SET last_seq = last_seq + n RETURNING`, as the
    last write of the transaction. The row lock is held until commit, so events commit in `seq`
    order: a reader tailing `seq` (the event feed, the publisher) can never see seq N+1 before
    seq N and skip N when it commits late. The price is that commits queue on this row; the lock
    is taken last so only the inserts and the commit itself are inside it.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "oms_event_sequence"

    def __str__(self) -> str:
        return f"event sequence at {self.last_seq}"


class EventRecord(models.Model):
    """One event of one aggregate. Concrete per domain object type (`order_events`, ...).

    `(aggregate_id, version)` is unique: two writers that both read version N cannot both append
    N+1 (optimistic concurrency). `seq` is global across every event table.
    """

    seq = models.BigIntegerField(unique=True)
    aggregate_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)  # the event's own payload, read by apply()
    command = models.JSONField(default=dict)  # the command that caused it
    state = models.JSONField(default=dict)  # the aggregate after the change (API representation)
    actor = models.CharField(max_length=150)
    correlation_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()  # venue time where known (ts_event)
    recorded_at = models.DateTimeField()  # when the OMS recorded it (ts_init)

    class Meta:
        abstract = True
        ordering = ["seq"]


class StateRecord(models.Model):
    """The state row of an event-sourced aggregate: its version (compare-and-set by the unit of
    work), its times and `doc`, the state exactly as the API shows it. A concrete row adds its id
    and the typed columns its lookups need."""

    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    doc = models.JSONField()

    class Meta:
        abstract = True


def unique_version(name: str) -> list[models.BaseConstraint]:
    """An event table's `(aggregate_id, version)` constraint (see EventRecord), named `name`."""
    return [models.UniqueConstraint(fields=["aggregate_id", "version"], name=name)]


class IdempotencyRecord(models.Model):
    """The first response to a command sent with an `Idempotency-Key`, replayed for repeats."""

    actor = models.CharField(max_length=150)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "oms_idempotency_keys"
        constraints = [models.UniqueConstraint(fields=["actor", "key"], name="uniq_idempotency_actor_key")]

    def __str__(self) -> str:
        return f"{self.actor}:{self.key} -> {self.status_code}"


class PublisherCursor(models.Model):
    """How far one durable publisher sink has confirmed the global feed (`seq`).

    Advanced only after the sink confirmed a batch, and only forwards (`last_seq` < new value),
    so overlapping publishers and restarts re-send at most what was not yet confirmed (at least
    once). A sink that finds it lost data (Redis restarted empty) rewinds it explicitly.
    """

    name = models.CharField(max_length=200, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "oms_publisher_cursors"

    def __str__(self) -> str:
        return f"{self.name} at seq {self.last_seq}"
