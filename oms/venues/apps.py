from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init
from django.apps import AppConfig
from django.conf import settings


class VenuesConfig(AppConfig):
    name = "oms.venues"
    label = "venues"
    verbose_name = "Venue I/O: adapters, sending, stream ingestion"

    def ready(self) -> None:
        # registers the SIM adapter, the `sim` command handlers and the sending reactions
        from oms.venues import reactions, simcommands  # noqa: F401
        from oms.venues.sim import adapter  # noqa: F401

        if settings.OMS_VENUE_RECORD_DIR:
            worker_process_init.connect(_record_worker, weak=False)


def _record_worker(**_: Any) -> None:
    """OMS_VENUE_RECORD_DIR: a Celery worker process records its drivers (the venue tasks) to a
    file of its own, like the API server and `venue_stream` (sent in each prefork child, and once
    by the solo pool)."""
    from django.db import connections

    from oms.venues.recording.recorder import start_from_settings

    start_from_settings()
    # the header read the users: give the connection back now, or Celery's Django fixup (on the
    # same signal, for a forked child) closes its socket under the pool and a later query hangs
    connections.close_all()
