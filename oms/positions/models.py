"""Position tables: the `positions` state table and its event table (`position-events`).

Typed columns for the filters (account, venue, symbol, dirty) and the signed quantity; `doc` is
the state as the API shows it; `fills` the live fills (execution, signed qty, price, multiplier)
in the order they were applied, and the base the older ones fold to: a correction or a bust
re-folds them, so it reverses exactly.
"""

from __future__ import annotations

from django.db import models

from oms.core.models import EventRecord, StateRecord, unique_version


class Position(StateRecord):
    position_id = models.CharField(max_length=64, primary_key=True)
    account = models.CharField(max_length=64)
    venue = models.CharField(max_length=64, blank=True)  # "" for orders not yet routed to a venue
    symbol = models.CharField(max_length=64)
    qty = models.DecimalField(max_digits=28, decimal_places=10)  # signed: a sum of lastQty
    dirty = models.BooleanField(default=False)
    fills = models.JSONField(default=dict)  # {"base": [qty, avgCost, realizedPnl], "live": [...]}

    class Meta:
        db_table = "positions"
        constraints = [
            models.UniqueConstraint(fields=["account", "venue", "symbol"], name="uniq_position_key")
        ]
        # the checks read the positions of an account and symbol (every venue); the unique
        # constraint's index serves them (account, venue, symbol) only with the venue, so a
        # second index leads with (account, symbol)
        indexes = [models.Index(fields=["account", "symbol"], name="positions_account_symbol")]

    def __str__(self) -> str:
        return f"{self.account} {self.venue or '-'}:{self.symbol} {self.qty}"


class PositionEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "position_events"
        constraints = unique_version("uniq_position_event_version")
