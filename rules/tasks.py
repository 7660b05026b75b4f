"""Celery tasks of the rules engine, scheduled by beat (`CELERY_BEAT_SCHEDULE` in oms/settings.py)."""

from __future__ import annotations

from celery import shared_task

from rules import counters


@shared_task(name="rules.purge_idle_throttles", ignore_result=True)
def purge_idle_throttles() -> int:
    """Delete throttle counters idle for an hour (an order's cycle counter outlives its order
    by at most that); safe to overlap with itself."""
    return counters.purge_idle()
