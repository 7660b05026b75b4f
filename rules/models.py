"""Tables of the rules engine and the controls: state + event table per aggregate (instruments,
limits, refusals), and the books (current state only, no events: the contract says so).

Like orders: typed columns for lookups, `doc` holding the state exactly as the API shows it.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models

from oms.core.models import EventRecord, StateRecord, unique_version
from rules.enums import (
    BookSource,
    ControlKind,
    ControlScope,
    ControlSource,
    ControlStatus,
    Feed,
    InstrumentKind,
    VenueMode,
)


class Instrument(StateRecord):
    instrument_id = models.CharField(max_length=64, primary_key=True)
    venue = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64, db_index=True)  # venue-less orders look up by symbol
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in InstrumentKind])
    tick_size = models.DecimalField(max_digits=28, decimal_places=10)
    lot_size = models.DecimalField(max_digits=28, decimal_places=10)
    min_qty = models.DecimalField(max_digits=28, decimal_places=10)
    multiplier = models.DecimalField(max_digits=28, decimal_places=10)
    enabled = models.BooleanField()

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
        constraints = unique_version("uniq_instrument_event_version")


class Refusal(StateRecord):
    """An order a check or control refused: never created, recorded for the desk (`OrderRefused`)."""

    refusal_id = models.CharField(max_length=64, primary_key=True)
    rule = models.CharField(max_length=64, db_index=True)
    symbol = models.CharField(max_length=64, null=True, blank=True)
    account = models.CharField(max_length=64, null=True, blank=True)
    venue = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "refusals"
        indexes = [models.Index(fields=["-created_at", "-refusal_id"], name="refusals_created")]

    def __str__(self) -> str:
        return f"{self.rule} {self.symbol or ''} {self.account or ''}"


class RefusalEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "refusal_events"
        constraints = unique_version("uniq_refusal_event_version")


class Book(models.Model):
    """A venue's order book for one symbol: current state only (the contract: books are not
    events). Levels are `[["px", "qty"], ...]`, best first."""

    venue = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    bids = models.JSONField(default=list)
    asks = models.JSONField(default=list)
    as_of = models.DateTimeField()
    updated_by = models.CharField(max_length=150)
    # a streamed book older than OMS_BOOK_STALE_SECONDS is no reference price (rules.intent)
    source = models.CharField(
        max_length=8, choices=[(b.value, b.value) for b in BookSource], default=BookSource.SET.value
    )

    class Meta:
        db_table = "books"
        constraints = [models.UniqueConstraint(fields=["venue", "symbol"], name="uniq_book_venue_symbol")]
        # a venue-less order's reference: the freshest book of its symbol
        indexes = [models.Index(fields=["symbol", "-as_of"], name="books_freshest")]

    def __str__(self) -> str:
        return f"book {self.venue}:{self.symbol}"


class Limit(StateRecord):
    """Risk limits of one (account, symbol) scope; either may be "*" (the most specific wins per
    field: account+symbol > account > symbol > *)."""

    limit_id = models.CharField(max_length=64, primary_key=True)
    account = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)

    class Meta:
        db_table = "limits"
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="uniq_limit_scope")]

    def __str__(self) -> str:
        return f"limits {self.account}/{self.symbol}"


class LimitEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "limit_events"
        constraints = unique_version("uniq_limit_event_version")


class Venue(StateRecord):
    """A venue the OMS knows: its adapter, mode (Paper/Live), arming and feed health."""

    venue_id = models.CharField(max_length=64, primary_key=True)
    venue = models.CharField(max_length=64, unique=True)  # the pre-trade checks look up by name
    adapter = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=[(m.value, m.value) for m in VenueMode])
    armed = models.BooleanField()
    feed = models.CharField(max_length=8, choices=[(f.value, f.value) for f in Feed])
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "venues"

    def __str__(self) -> str:
        return self.venue


class VenueEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "venue_events"
        constraints = unique_version("uniq_venue_event_version")


def _choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    return [(e.value, e.value) for e in enum]


class Control(StateRecord):
    """A SAFE mode or an arming: one row per engagement, kept once released (the history)."""

    control_id = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=10, choices=_choices(ControlKind))
    scope = models.CharField(max_length=10, choices=_choices(ControlScope))
    key = models.CharField(max_length=130)  # "*" for global; a symbol scope may be VENUE:SYMBOL
    status = models.CharField(max_length=10, choices=_choices(ControlStatus))
    active = models.BooleanField()
    source = models.CharField(max_length=16, choices=_choices(ControlSource))

    class Meta:
        db_table = "controls"
        indexes = [
            # the pre-trade check: the active SAFE modes among an order's few (scope, key) pairs
            models.Index(fields=["kind", "active", "scope", "key"], name="controls_in_force"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.scope}:{self.key}"


class ControlEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "control_events"
        constraints = unique_version("uniq_control_event_version")


class CancelAll(StateRecord):
    """One use of the kill switch: its scope and what it canceled (the orders' own events carry
    each cancel; this is the desk's record of the whole)."""

    cancel_all_id = models.CharField(max_length=64, primary_key=True)
    scope = models.CharField(max_length=10, choices=_choices(ControlScope))
    key = models.CharField(max_length=130)

    class Meta:
        db_table = "cancel_alls"

    def __str__(self) -> str:
        return f"cancel all {self.scope}:{self.key}"


class CancelAllEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "cancel_all_events"
        constraints = unique_version("uniq_cancel_all_event_version")


class Rule(StateRecord):
    """A routing or refusal rule as data (`name` unique, lower `priority` first). `when` and
    `action` live in `doc` only: the active set is compiled from the documents."""

    rule_id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    priority = models.IntegerField()
    enabled = models.BooleanField()

    class Meta:
        db_table = "rules"
        # the active set's reload check (rules.active) reads count, max(updated_at), sum(version)
        # of the whole table: it is small (hundreds of rows), so no index serves it better

    def __str__(self) -> str:
        return self.name


class RuleEvent(EventRecord):
    class Meta(EventRecord.Meta):
        db_table = "rule_events"
        constraints = unique_version("uniq_rule_event_version")


class ReferenceVersion(models.Model):
    """One row whose `version` changes with every write of `instruments` or `limits` (database
    triggers, so a change from any process, a replay or a manual fix counts): the in-process
    reference cache (rules.reference) compares it on every order and reloads when it moved.
    PostgreSQL takes it from a sequence, SQLite from random(): a value a rolled-back transaction
    showed is never seen again."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    class Meta:
        db_table = "reference_version"

    def __str__(self) -> str:
        return f"reference version {self.version}"


class ThrottleCount(models.Model):
    """A fixed-window counter of the throttles (rules.throttles): one row per bucket (orders of
    an account and symbol, cancel/replace cycles of an order or an account and symbol), its current
    window's start (epoch seconds) and the count in it. One upsert both counts and answers."""

    bucket = models.CharField(max_length=200, primary_key=True)
    window_start = models.BigIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        db_table = "throttle_counts"
        # the purge of idle buckets (rules.throttles.purge_idle) scans by window
        indexes = [models.Index(fields=["window_start"], name="throttle_counts_window")]

    def __str__(self) -> str:
        return f"{self.bucket}: {self.count} since {self.window_start}"
