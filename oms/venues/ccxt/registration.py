"""The ccxt family in the adapter registry and in the instrument sources (rules.adapters)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from oms.core.parsing import DECIMAL_PLACES
from oms.venues.adapter import VenueAdapter, VenueInstrument, get_adapter, register_adapter
from oms.venues.ccxt import mapping
from oms.venues.ccxt.adapter import CcxtAdapter
from oms.venues.ccxt.exchange import ADAPTER_FAMILY, ExchangeConfigError, exchange_id_of
from rules.adapters import InstrumentSource, register_source_family

logger = logging.getLogger(__name__)


def ccxt_adapter(venue: str, adapter_name: str) -> VenueAdapter:
    return CcxtAdapter(venue, adapter_name)


def instrument_source(venue: str, adapter_name: str) -> InstrumentSource | None:
    """A ccxt venue's markets are its instruments (the venue `ccxt:binance`, or one the registry
    gives the adapter `ccxt:binance`)."""
    try:
        exchange_id_of(adapter_name)
    except ExchangeConfigError:
        return None

    def load() -> list[dict[str, Any]]:
        return [
            upsert_body(i) for i in get_adapter(venue, adapter_name).fetch_instruments() if representable(i)
        ]

    return load


def upsert_body(instrument: VenueInstrument) -> dict[str, Any]:
    """`to_command()` with its decimals in plain notation (a 1e-8 tick is "0.00000001", not "1E-8")."""
    body = instrument.to_command()
    for key in ("tickSize", "lotSize", "minQty", "multiplier"):
        body[key] = mapping.plain(Decimal(body[key]))
    return body


def representable(instrument: VenueInstrument) -> bool:
    """The OMS keeps at most DECIMAL_PLACES places: a market stepped finer cannot be traded here."""
    steps = (instrument.tick_size, instrument.lot_size, instrument.min_qty, instrument.multiplier)
    fits = all(-step.normalize().as_tuple().exponent <= DECIMAL_PLACES for step in steps)  # type: ignore[operator]  # as_tuple().exponent is an int for the finite steps given here
    if not fits:
        logger.warning(
            "%s %s: a step finer than %d decimal places, not synced",
            instrument.venue,
            instrument.symbol,
            DECIMAL_PLACES,
        )
    return fits


def register() -> None:
    register_adapter(ADAPTER_FAMILY, ccxt_adapter)
    register_source_family(ADAPTER_FAMILY, instrument_source)
