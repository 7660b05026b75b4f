"""Celery tasks of the lifecycle, scheduled by beat (`CELERY_BEAT_SCHEDULE` in oms/settings.py).

Both are safe to overlap with themselves: expiry through the state machine (a second expiry of
an order is refused and counted as skipped), purge through a lock (a second purge does nothing).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from oms.lifecycle import expiry, purge


@shared_task(name="lifecycle.expire_due", acks_late=True, ignore_result=True)
def expire_due(now: str | None = None) -> dict[str, Any]:
    return expiry.expire_due(expiry.parse_time(now) if now else None).as_dict()


@shared_task(name="lifecycle.purge", acks_late=True, ignore_result=True)
def purge_due(now: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    return purge.purge(now=expiry.parse_time(now) if now else None, dry_run=dry_run).as_dict()
