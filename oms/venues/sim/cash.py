"""SIM's balances: what a venue's wallet would hold, derived only from SIM's own records.

Per account and currency: the opening cash it is configured with (`OMS_SIM_CASH`), plus what its
fills did to the cash, plus transfers made at the venue (a deposit or withdrawal the OMS never
books; `transfer`, for tests and demos). What a fill does depends on the instrument:

* a perpetual or future settles in its quote currency: the cash moves by the realized P&L only,
  mult x (qty x avgPx - sum of signed qty x px): the flow of a closed round trip, the open
  quantity at its average price taken back out;
* a spot pair exchanges currencies: the quote moves by - mult x sum of signed qty x px and the
  base by the position's quantity x mult.

SIM charges no fees. It keeps its own fold (its positions' `avgPx`) and its own fills, never the
OMS's: reconciliation compares the two, so they must not share the arithmetic's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from oms.venues.adapter import VenueBalance
from oms.venues.sim.engine import SimEngine, _d, _now, _s

ZERO = Decimal(0)
SPOT = "Spot"


@dataclass(frozen=True)
class CashTerms:
    """How an instrument's fills move cash: its kind, currencies and contract multiplier."""

    kind: str
    base: str | None
    quote: str | None
    multiplier: Decimal = Decimal(1)


Wallets = dict[tuple[str, str], Decimal]  # (account, currency) -> amount


def transfer(engine: SimEngine, account: str, currency: str, amount: Decimal) -> None:
    """Cash moved at the venue (a deposit: > 0, a withdrawal: < 0): the balance only."""
    with engine.store.locked():
        key = f"{account}|{currency}"
        held = engine.store.hget("transfers", key) or {
            "account": account,
            "currency": currency,
            "amount": "0",
        }
        engine.store.hset("transfers", key, {**held, "amount": _s(_d(held["amount"]) + amount)})


def _add(wallets: Wallets, account: str, currency: str | None, amount: Decimal) -> None:
    if currency:
        wallets[(account, currency)] = wallets.get((account, currency), ZERO) + amount


def _flows(engine: SimEngine) -> dict[tuple[str, str], Decimal]:
    """(account, symbol) -> the sum of signed qty x px of every fill SIM made (external too)."""
    flows: dict[tuple[str, str], Decimal] = {}
    for f in engine.store.read("fills", 0):
        key = (f.get("account") or "", f["symbol"])
        signed = _d(f["lastQty"]) * _d(f["lastPx"])
        flows[key] = flows.get(key, ZERO) + (signed if f["side"] == "Buy" else -signed)
    return flows


def balances(
    engine: SimEngine, opening: dict[str, dict[str, str]], terms: dict[str, CashTerms]
) -> list[VenueBalance]:
    """Every (account, currency) SIM holds: opened, traded or transferred. A symbol without
    `terms` moves no cash (SIM does not know what it settles in)."""
    wallets: Wallets = {}
    for account, cash in opening.items():
        for currency, amount in cash.items():
            _add(wallets, account, currency, _d(amount))
    positions = {(p["account"], p["symbol"]): p for p in engine.store.hvals("positions")}
    for (account, symbol), flow in _flows(engine).items():
        how = terms.get(symbol)
        position = positions.get((account, symbol))
        if how is None or position is None:
            continue
        qty, avg = _d(position["qty"]), _d(position["avgPx"] or 0)
        if how.kind == SPOT:
            _add(wallets, account, how.quote, -how.multiplier * flow)
            _add(wallets, account, how.base, qty * how.multiplier)
        else:
            _add(wallets, account, how.quote, how.multiplier * (qty * avg - flow))
    for moved in engine.store.hvals("transfers"):
        _add(wallets, moved["account"], moved["currency"], _d(moved["amount"]))
    when = _now()
    return [
        VenueBalance(
            venue=engine.venue, currency=currency, total=total, free=total, ts_event=when, account=account
        )
        for (account, currency), total in sorted(wallets.items())
    ]
