"""Instruments (reference data): event-sourced like orders, one per (venue, symbol).

`UpsertInstrumentCommand` on `instruments` (superuser) creates or updates one; the query API
serves `GET /api/queries/instruments?venue=&symbol=` and `/{instrumentId}/events` from the
read-side registry. `sync_instruments` loads them from a venue's adapter (rules.adapters).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from oms.core.commands import Command, Id, OptId, OptQty, Qty, choice
from oms.core.dispatch import Outcome, command_handler
from oms.core.documents import record_document
from oms.core.eventstore import AggregateType, UnitOfWork, register
from oms.core.readside import register_read
from oms.core.specification import Field as Criterion
from oms.core.specification import Specification
from rules.actors import require_superuser
from rules.enums import InstrumentKind
from rules.models import Instrument, InstrumentEvent
from rules.records import Dec, Record, definition_applier, new_id

TOPIC = "instruments"
EVENT_TOPIC = "instrument-events"
MANUAL_VENUE = "MANUAL"


def has_adapter(venue: str | None) -> bool:
    """Venues the OMS sends to itself (contract: `SIM`, `ccxt:<exchangeId>`); MANUAL and the
    desk's own venues (XNAS ...) have none."""
    return venue is not None and (venue == "SIM" or venue.startswith("ccxt:"))


class InstrumentState(Record):
    instrument_id: str
    venue: str
    symbol: str
    kind: InstrumentKind
    base_currency: str | None = None
    quote_currency: str | None = None
    tick_size: Dec
    lot_size: Dec
    min_qty: Dec
    multiplier: Dec = Decimal(1)
    enabled: bool = True


class UpsertInstrumentCommand(Command):
    venue: Id
    symbol: Id
    kind: choice(InstrumentKind, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated enum type built at runtime
    base_currency: OptId = Field(None, alias="baseCurrency")
    quote_currency: OptId = Field(None, alias="quoteCurrency")
    tick_size: Qty = Field(alias="tickSize")
    lot_size: Qty = Field(alias="lotSize")
    min_qty: OptQty = Field(None, alias="minQty")  # default: one lot
    multiplier: OptQty = None  # contract size; default 1
    enabled: bool = True


INSTRUMENT: AggregateType[InstrumentState] = register(
    AggregateType(
        name="instrument",
        topic=EVENT_TOPIC,
        state_model=Instrument,
        event_model=InstrumentEvent,
        apply=definition_applier(InstrumentState, "instrumentId", "InstrumentCreated", ["InstrumentUpdated"]),
        to_api=InstrumentState.to_api,
        document=record_document(InstrumentState, "InstrumentState"),
        from_row=lambda row: InstrumentState.from_api(row.doc),
    )
)


class InstrumentSpecification(Specification):
    fields = {
        "instrument_id": Criterion("instrument_id", "in", param="instrumentId"),
        "venue": Criterion("venue", "in"),
        "symbol": Criterion("symbol", "in"),
        "kind": Criterion("kind", "in", choices=InstrumentKind),
    }
    orderings = {"venue": "venue", "symbol": "symbol", "updatedAt": "updated_at"}
    default_ordering = ("venue", "symbol", "instrument_id")
    id_column = "instrument_id"


INSTRUMENTS = register_read(INSTRUMENT, path="instruments", specification=InstrumentSpecification)


@command_handler(TOPIC, UpsertInstrumentCommand)
def instrument_upsert(
    uow: UnitOfWork,
    *,
    venue: str,
    symbol: str,
    kind: InstrumentKind,
    tick_size: Decimal,
    lot_size: Decimal,
    base_currency: str | None = None,
    quote_currency: str | None = None,
    min_qty: Decimal | None = None,
    multiplier: Decimal | None = None,
    enabled: bool = True,
) -> Outcome:
    require_superuser(uow.ctx.actor, "instruments")
    fields = {
        "venue": venue,
        "symbol": symbol,
        "kind": kind.value,
        "baseCurrency": base_currency,
        "quoteCurrency": quote_currency,
        "tickSize": tick_size,
        "lotSize": lot_size,
        "minQty": min_qty if min_qty is not None else lot_size,
        "multiplier": multiplier if multiplier is not None else Decimal(1),
        "enabled": enabled,
    }
    row = Instrument.objects.select_for_update().filter(venue=venue, symbol=symbol).first()
    if row is None:
        data = _api(fields)
        state = uow.emit(INSTRUMENT, new_id("I"), None, "InstrumentCreated", data)
        return Outcome({"instrument": INSTRUMENT.to_api(state)}, 201)
    state = INSTRUMENT.from_row(row)
    current = state.to_api()
    changed = {k: v for k, v in _api(fields).items() if current.get(k) != v}
    if changed:
        state = uow.emit(INSTRUMENT, state.instrument_id, state, "InstrumentUpdated", changed)
    return Outcome({"instrument": INSTRUMENT.to_api(state)}, 200, duplicate=not changed)


def _api(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as the API document writes them (what the events carry)."""
    probe = InstrumentState.model_validate(
        {
            **fields,
            "instrumentId": "-",
            "createdAt": "2000-01-01T00:00:00Z",
            "updatedAt": "2000-01-01T00:00:00Z",
        }
    ).to_api()
    return {k: probe[k] for k in fields}


# --- lookups for the checks ---------------------------------------------------------------------


def instrument_at(venue: str, symbol: str) -> InstrumentState | None:
    row = Instrument.objects.filter(venue=venue, symbol=symbol).only("doc").first()
    return None if row is None else InstrumentState.from_api(row.doc)


def instruments_of(symbol: str) -> list[InstrumentState]:
    rows = Instrument.objects.filter(symbol=symbol).order_by("venue").only("doc")
    return [InstrumentState.from_api(r.doc) for r in rows]
