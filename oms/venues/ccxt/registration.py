"""The ccxt family in the adapter registry and in the instrument sources (rules.adapters)."""

from __future__ import annotations

from typing import Any

from oms.venues.adapter import VenueAdapter, get_adapter, register_adapter
from oms.venues.ccxt.adapter import CcxtAdapter
from oms.venues.ccxt.exchange import ADAPTER_FAMILY, ExchangeConfigError, exchange_id_of
from rules.adapters import InstrumentSource, register_source_family


def ccxt_adapter(venue: str, adapter_name: str) -> VenueAdapter:
    return CcxtAdapter(venue, adapter_name)


def instrument_source(venue: str) -> InstrumentSource | None:
    """A ccxt venue's name is its adapter's (`ccxt:binance`): its markets are its instruments."""
    try:
        exchange_id_of(venue)
    except ExchangeConfigError:
        return None

    def load() -> list[dict[str, Any]]:
        return [i.to_command() for i in get_adapter(venue, venue).fetch_instruments()]

    return load


def register() -> None:
    register_adapter(ADAPTER_FAMILY, ccxt_adapter)
    register_source_family(ADAPTER_FAMILY, instrument_source)
