"""Registers the ccxt adapter family: `get_adapter(venue, "ccxt:<exchangeId>")` builds a
`CcxtAdapter` on first use, and `manage.py sync_instruments --venue ccxt:<exchangeId>` loads the
exchange's markets (its own app so the venues app and the ccxt dependency stay apart)."""

from __future__ import annotations

from django.apps import AppConfig


class CcxtVenuesConfig(AppConfig):
    name = "oms.venues.ccxt"
    label = "venues_ccxt"
    verbose_name = "Venues: ccxt"

    def ready(self) -> None:
        from oms.venues.ccxt import registration

        registration.register()
