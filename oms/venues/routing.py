"""Which adapter serves a venue: the venue registry when it knows the venue, else settings."""

from __future__ import annotations

from django.conf import settings

from oms.venues.adapter import VenueAdapter, get_adapter, has_factory


def adapter_name_for(venue: str | None) -> str | None:
    """The adapter name of `venue` (`SIM`, `ccxt:<exchangeId>`), None for MANUAL and desk venues."""
    if not venue:
        return None
    name = _registry_adapter(venue)
    if name is None:
        name = settings.OMS_VENUE_ADAPTERS.get(venue)
        if name is None and venue.startswith("ccxt:"):
            name = venue
    if name is None or name == "MANUAL" or not has_factory(name):
        return None
    return name


def adapter_for(venue: str | None) -> VenueAdapter | None:
    name = adapter_name_for(venue)
    return None if name is None or venue is None else get_adapter(venue, name)


def _registry_adapter(venue: str) -> str | None:
    return None  # the venue registry (rules.venues) is consulted here once it exists
