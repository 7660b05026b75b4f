"""The `sim` commands (superuser): the SIM venue's market, its faults, trades the OMS never sent.

`SimSetMarketCommand` also sets the SIM book of the trading controls (rules.books: the reference
price of the collar and the preview), in the same transaction as its answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from oms.core.commands import AnyDecimal, Command, Id, Qty, choice
from oms.core.dispatch import Outcome, command_handler
from oms.core.errors import ValidationFailed
from oms.core.eventstore import UnitOfWork
from oms.core.parsing import dec_str
from oms.orders.enums import Side
from oms.venues.sim.adapter import engine_for
from oms.venues.sim.engine import FAULTS
from rules.actors import require_superuser
from rules.books import book_set

TOPIC = "sim"
VENUE = "SIM"


class SimSetMarketCommand(Command):
    symbol: Id
    bid_px: Qty = Field(alias="bidPx")
    ask_px: Qty = Field(alias="askPx")
    bid_size: AnyDecimal = Field(alias="bidSize")
    ask_size: AnyDecimal = Field(alias="askSize")

    @field_validator("bid_size", "ask_size")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("Ensure this value is greater than or equal to 0.")
        return value


class SimSetFaultsCommand(Command):
    faults: dict[str, Any]

    @field_validator("faults")
    @classmethod
    def _known(cls, faults: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"Unknown fault(s) {', '.join(unknown)}; the faults are: {', '.join(FAULTS)}.")
        for name, value in faults.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name}: a count or number of milliseconds (>= 0).")
        return faults


class SimExternalTradeCommand(Command):
    account: Id
    symbol: Id
    side: choice(Side, required=True)  # type: ignore[valid-type]  # choice() returns an Annotated type at run time
    qty: Qty
    px: Qty


@command_handler(TOPIC, SimSetMarketCommand)
def sim_set_market(
    uow: UnitOfWork, *, symbol: str, bid_px: Decimal, ask_px: Decimal, bid_size: Decimal, ask_size: Decimal
) -> Outcome:
    require_superuser(uow.ctx.actor, "the SIM venue")
    if bid_px >= ask_px:
        raise ValidationFailed(
            "a crossed market", fields={"bidPx": [f"Must be below askPx ({dec_str(ask_px)})."]}
        )
    book = book_set(uow, venue=VENUE, symbol=symbol, bids=[(bid_px, bid_size)], asks=[(ask_px, ask_size)])
    market = engine_for(VENUE).set_market(symbol, bid_px, ask_px, bid_size, ask_size)
    return Outcome({"market": market, "book": book.body["book"]})


@command_handler(TOPIC, SimSetFaultsCommand)
def sim_set_faults(uow: UnitOfWork, *, faults: dict[str, Any]) -> Outcome:
    require_superuser(uow.ctx.actor, "the SIM venue")
    return Outcome({"faults": engine_for(VENUE).set_faults(faults)})


@command_handler(TOPIC, SimExternalTradeCommand)
def sim_external_trade(
    uow: UnitOfWork, *, account: str, symbol: str, side: Side, qty: Decimal, px: Decimal
) -> Outcome:
    require_superuser(uow.ctx.actor, "the SIM venue")
    return Outcome({"trade": engine_for(VENUE).external_trade(account, symbol, side.value, qty, px)})
