"""Balances, pure: the cash the OMS's books say a venue holds, against what the venue reports.

The OMS's side per (account, currency) is its ledger: the opening cash it is configured with
(`OMS_RECONCILE_OPENING_CASH`), plus what the applied executions did, read off the positions (their
fold is the executions', corrections and busts included):

* a perpetual or future settles in its quote currency: `realizedPnl` (already x multiplier);
* a spot pair exchanges currencies: the quote moves by realizedPnl - qty x avgCost x multiplier
  (the signed notional of every fill: what a round trip realized, less what is still held at its
  cost) and the base by qty x multiplier.

The OMS books no fees (executions carry none), so a venue that charges them differs by them: the
tolerance is not meant to hide that, and such a venue needs its fees booked first (not yet).

What is compared: every (account, currency) of the OMS's ledger (configured, or moved by a
position). A currency the venue holds that the OMS never booked is not the OMS's to check (a ccxt
account's dust, an account the OMS does not trade). A venue whose balances name no account (one
wallet per API key, ccxt's) is compared against the ledger summed over the venue's accounts, with
opening cash under the account `*`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from oms.core.parsing import dec_str
from oms.reconciliation.compare import Finding
from oms.reconciliation.enums import DiscrepancyKind
from oms.venues.adapter import VenueBalance

ZERO = Decimal(0)
VENUE_WIDE = "*"  # the opening cash of a venue whose balances name no account
BalanceKey = tuple[str, str]  # (account, currency); account "" for a venue-wide wallet


@dataclass(frozen=True)
class Holding:
    """One OMS position as the ledger needs it (its instrument's currencies and kind)."""

    account: str
    kind: str
    base: str | None
    quote: str | None
    qty: Decimal
    avg_cost: Decimal
    realized: Decimal
    multiplier: Decimal


def venue_wide(balances: Iterable[VenueBalance]) -> bool:
    """The venue keeps one wallet (its balances name no account)."""
    return any(b.account is None for b in balances)


def ledger(
    opening: Mapping[str, Mapping[str, str]], holdings: Iterable[Holding], *, wide: bool
) -> dict[BalanceKey, Decimal]:
    """(account, currency) -> the cash the OMS's books say the venue holds."""
    out: dict[BalanceKey, Decimal] = {}

    def add(account: str, currency: str | None, amount: Decimal) -> None:
        if currency:
            key = ("" if wide else account, currency)
            out[key] = out.get(key, ZERO) + amount

    for account, cash in opening.items():
        if (account == VENUE_WIDE) != wide:
            continue  # the other shape's configuration: not this venue's wallet
        for currency, amount in cash.items():
            add(account, currency, Decimal(amount))
    for h in holdings:
        if h.kind == "Spot":
            add(h.account, h.quote, h.realized - h.qty * h.avg_cost * h.multiplier)
            add(h.account, h.base, h.qty * h.multiplier)
        else:
            add(h.account, h.quote, h.realized)
    return out


def compare_balances(
    venue: Iterable[VenueBalance], ours: Mapping[BalanceKey, Decimal], tolerance: Decimal
) -> list[tuple[BalanceKey, Decimal, VenueBalance | None]]:
    """(key, OMS amount, the venue's balance or None) of every ledger entry that differs by more
    than `tolerance`; a currency the venue does not list holds nothing."""
    theirs = {(b.account or "", b.currency): b for b in venue}
    differ = []
    for key in sorted(ours):
        found = theirs.get(key)
        total = ZERO if found is None else found.total
        if abs(total - ours[key]) > tolerance:
            differ.append((key, ours[key], found))
    return differ


def balance_finding(key: BalanceKey, ours: Decimal, theirs: VenueBalance | None) -> Finding:
    """A `position_mismatch` (the contract's kind for what the venue holds) on the currency: no
    symbol, so SAFE mode holds the whole venue (cash backs every symbol's orders)."""
    account, currency = key
    total = ZERO if theirs is None else theirs.total
    return Finding(
        kind=DiscrepancyKind.POSITION_MISMATCH,
        subject=f"balance|{account}|{currency}",
        account=account or None,
        symbol=None,
        oms={"currency": currency, "total": dec_str(ours)},
        venue_value={
            "currency": currency,
            "total": dec_str(total),
            "free": dec_str(ZERO if theirs is None else theirs.free),
        },
        text=f"balance {account or 'venue'} {currency}: OMS {dec_str(ours)}, venue {dec_str(total)}",
    )
