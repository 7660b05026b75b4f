"""Tables of the rules engine and the controls: state + event table per aggregate (instruments,
limits, refusals), and the books (current state only, no events: the contract says so).

Like orders: typed columns for lookups, `doc` holding the state exactly as the API shows it.
"""

from __future__ import annotations

from django.db import models

from oms.core.models import EventRecord
from rules.enums import Feed, InstrumentKind, VenueMode


class Instrument(models.Model):
    instrument_id = models.CharField(max_length=64, primary_key=True)
    venue = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64, db_index=True)  # venue-less orders look up by symbol
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in InstrumentKind])
    tick_size = models.DecimalField(max_digits=28, decimal_places=10)
    lot_size = models.DecimalField(max_digits=28, decimal_places=10)
    min_qty = models.DecimalField(max_digits=28, decimal_places=10)
    multiplier = models.DecimalField(max_digits=28, decimal_places=10)
    enabled = models.BooleanField()
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    doc = models.JSONField()

    class Meta:
        db_table = "instruments"
        constraints = [
            models.UniqueConstraint(fields=["venue", "symbol"], name="uniq_instrument_venue_symbol")
        ]

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"


class InstrumentEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "instrument_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_instrument_event_version")
        ]


class Refusal(models.Model):
    """An order a check or control refused: never created, recorded for the desk (`OrderRefused`)."""

    refusal_id = models.CharField(max_length=64, primary_key=True)
    rule = models.CharField(max_length=64, db_index=True)
    symbol = models.CharField(max_length=64, null=True, blank=True)
    account = models.CharField(max_length=64, null=True, blank=True)
    venue = models.CharField(max_length=64, null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    doc = models.JSONField()

    class Meta:
        db_table = "refusals"
        indexes = [models.Index(fields=["-created_at", "-refusal_id"], name="refusals_created")]

    def __str__(self) -> str:
        return f"{self.rule} {self.symbol or ''} {self.account or ''}"


class RefusalEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "refusal_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_refusal_event_version")
        ]


class Book(models.Model):
    """A venue's order book for one symbol: current state only (the contract: books are not
    events). Levels are `[["px", "qty"], ...]`, best first."""

    venue = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    bids = models.JSONField(default=list)
    asks = models.JSONField(default=list)
    as_of = models.DateTimeField()
    updated_by = models.CharField(max_length=150)

    class Meta:
        db_table = "books"
        constraints = [models.UniqueConstraint(fields=["venue", "symbol"], name="uniq_book_venue_symbol")]
        # a venue-less order's reference: the freshest book of its symbol
        indexes = [models.Index(fields=["symbol", "-as_of"], name="books_freshest")]

    def __str__(self) -> str:
        return f"book {self.venue}:{self.symbol}"


class Limit(models.Model):
    """Risk limits of one (account, symbol) scope; either may be "*" (the most specific wins per
    field: account+symbol > account > symbol > *)."""

    limit_id = models.CharField(max_length=64, primary_key=True)
    account = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    doc = models.JSONField()

    class Meta:
        db_table = "limits"
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="uniq_limit_scope")]

    def __str__(self) -> str:
        return f"limits {self.account}/{self.symbol}"


class LimitEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "limit_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_limit_event_version")
        ]


class Venue(models.Model):
    """A venue the OMS knows: its adapter, mode (Paper/Live), arming and feed health."""

    venue_id = models.CharField(max_length=64, primary_key=True)
    venue = models.CharField(max_length=64, unique=True)  # the pre-trade checks look up by name
    adapter = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=[(m.value, m.value) for m in VenueMode])
    armed = models.BooleanField()
    feed = models.CharField(max_length=8, choices=[(f.value, f.value) for f in Feed])
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    doc = models.JSONField()

    class Meta:
        db_table = "venues"

    def __str__(self) -> str:
        return self.venue


class VenueEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "venue_events"
        constraints = [
            models.UniqueConstraint(fields=["aggregate_id", "version"], name="uniq_venue_event_version")
        ]
