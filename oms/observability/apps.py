from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "oms.observability"
    label = "observability"
    verbose_name = "OMS observability"

    def ready(self) -> None:
        from oms.observability import celery_signals

        # Django is set up in web processes and in Celery workers (celery's Django fixup) alike
        celery_signals.connect()
