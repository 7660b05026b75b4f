"""Reconciliation on Celery workers: one venue (`reconciliation.reconcile`, after a stream resync
or on a worker's demand) and every adapter venue on the beat schedule (`reconciliation.reconcile_all`,
every OMS_RECONCILE_INTERVAL seconds; in-process on the embedded default)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from oms.core.errors import ApplicationError
from oms.reconciliation.enums import RunTrigger
from oms.reconciliation.services import VenueUnavailable, run_reconciliation
from oms.venues.routing import streamed_venues
from oms.venues.tasks import driven

log = logging.getLogger(__name__)


@shared_task(name="reconciliation.reconcile", bind=True, acks_late=True, time_limit=300, soft_time_limit=280)
@driven  # on a worker, a driver of a session tape: its trigger is part of what it records
def reconcile(
    self: Task[Any, Any], venue: str, trigger: str = RunTrigger.SCHEDULE.value
) -> dict[str, Any] | None:
    """A run is idempotent (an open discrepancy is found again, not twice; a fill is keyed by
    execID), so a redelivered task is harmless. A venue that cannot be read is retried later."""
    try:
        return run_reconciliation(venue, RunTrigger(trigger))
    except VenueUnavailable as exc:
        log.warning("reconciliation of %s: %s", venue, exc.message)
        return None
    except ApplicationError as exc:
        log.error("reconciliation of %s refused: %s %s", venue, exc.code, exc.message)
        return None


@shared_task(name="reconciliation.reconcile_all")
def reconcile_all() -> dict[str, int]:
    """Every venue this deployment streams (the adapter venues): how many discrepancies each has."""
    found = {}
    for venue in streamed_venues():
        result = reconcile(venue, RunTrigger.SCHEDULE.value)
        found[venue] = len(result["discrepancies"]) if result else -1
    return found
