"""Where instruments come from: one source per venue adapter, pluggable.

    register_source("ccxt:binance", fetch)     # fetch() -> list of UpsertInstrumentCommand bodies

There is no venue adapter yet but the SIM venue, whose instruments are a static list; the venues
issue registers its adapters' `load_markets` here and `manage.py sync_instruments` loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.venues import venue_state

InstrumentSource = Callable[[], list[dict[str, Any]]]
# a family of adapters named `<family>:<id>` (ccxt:binance, ccxt:bybit): the source of one venue
# (its name, its adapter's name), or None when the family has no such member (an unknown exchange)
SourceFamily = Callable[[str, str], InstrumentSource | None]

_SOURCES: dict[str, InstrumentSource] = {}
_FAMILIES: dict[str, SourceFamily] = {}


def register_source(venue: str, source: InstrumentSource) -> InstrumentSource:
    _SOURCES[venue] = source
    return source


def register_source_family(family: str, source_of: SourceFamily) -> SourceFamily:
    """Every venue whose adapter is `<family>:<id>` has a source (`source_of(venue, adapter)`),
    found when it is asked for."""
    _FAMILIES[family] = source_of
    return source_of


def sources() -> dict[str, InstrumentSource]:
    return dict(_SOURCES)


def families() -> list[str]:
    return sorted(_FAMILIES)


def source_for(venue: str) -> InstrumentSource | None:
    """A fixed source by the venue's name (SIM), else its adapter's family: the adapter is the
    venue registry's (`BINANCE` -> `ccxt:binance`), or the venue's own name (`ccxt:binance`)."""
    if venue in _SOURCES:
        return _SOURCES[venue]
    state = venue_state(venue)
    adapter = state.adapter if state is not None else venue
    family, _, name = adapter.partition(":")
    return _FAMILIES[family](venue, adapter) if name and family in _FAMILIES else None


def _perp(symbol: str, base: str, tick: str, lot: str) -> dict[str, Any]:
    return {
        "venue": "SIM",
        "symbol": symbol,
        "kind": "Perpetual",
        "baseCurrency": base,
        "quoteCurrency": "USDT",
        "tickSize": tick,
        "lotSize": lot,
        "minQty": lot,
        "multiplier": "1",
        "enabled": True,
    }


def sim_instruments() -> list[dict[str, Any]]:
    """The SIM venue's instruments (crypto perpetuals and a spot pair, as the primer's examples)."""
    return [
        _perp("BTC-PERP", "BTC", "0.1", "0.001"),
        _perp("ETH-PERP", "ETH", "0.01", "0.01"),
        _perp("SOL-PERP", "SOL", "0.001", "0.1"),
        {**_perp("BTC-USDT", "BTC", "0.01", "0.00001"), "kind": "Spot"},
    ]


register_source("SIM", sim_instruments)


def sync(venue: str | None, send: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, int]:
    """Upsert every instrument of `venue` (or of every source) through `send` (the command bus)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if venue:
        one = source_for(venue)
        chosen = [one] if one is not None else []
    else:
        chosen = list(_SOURCES.values())
    for source in chosen:
        for body in source():
            answer = send({"commandType": "UpsertInstrumentCommand", **body})
            if answer["events"] and answer["events"][0]["type"] == "InstrumentCreated":
                counts["created"] += 1
            elif answer["events"]:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    return counts
