"""Celery tasks of the core: draining the event publisher's durable sinks."""

from __future__ import annotations

import asyncio

from celery import shared_task

from oms.core.publishing import Publisher, build_sinks


@shared_task(name="oms.core.tasks.publish_events", ignore_result=True)
def publish_events(max_seconds: float = 25.0) -> int:
    """Publish the backlog of every durable sink (Redis Streams) and return how many events.

    Safe to run concurrently with other runs and with `manage.py publish_events`: cursors only
    move forward and a stream refuses an entry id it already holds. The live blotter sink is left
    to the long-running publisher (a one-shot run has nothing live to send).
    """
    sinks = build_sinks(durable_only=True)
    if not sinks:
        return 0
    return asyncio.run(Publisher(sinks).drain(max_seconds))
