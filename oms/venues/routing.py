"""Which adapter serves a venue: the venue registry (rules.venues) when it knows the venue, else
settings.OMS_VENUE_ADAPTERS (SIM works before anyone registers it), else a `ccxt:*` venue name."""

from __future__ import annotations

from django.conf import settings

from oms.venues.adapter import VenueAdapter, get_adapter, has_factory
from rules.venues import venue_state


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
    state = venue_state(venue)
    return None if state is None else state.adapter


def streamed_venues() -> list[str]:
    """Venues whose stream this deployment consumes: the registry's adapter venues and the
    settings' (SIM)."""
    from rules.models import Venue

    names = set(settings.OMS_VENUE_ADAPTERS)
    names |= set(Venue.objects.exclude(adapter="MANUAL").values_list("venue", flat=True))
    return sorted(v for v in names if adapter_name_for(v) is not None)
