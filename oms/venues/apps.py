from __future__ import annotations

from django.apps import AppConfig


class VenuesConfig(AppConfig):
    name = "oms.venues"
    label = "venues"
    verbose_name = "Venue I/O: adapters, sending, stream ingestion"

    def ready(self) -> None:
        # registers the SIM adapter, the `sim` command handlers and the sending reactions
        from oms.venues import reactions, simcommands  # noqa: F401
        from oms.venues.sim import adapter  # noqa: F401
