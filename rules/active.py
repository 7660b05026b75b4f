"""The active rule set, compiled and kept in-process.

Each rule's condition is compiled once per rule version into one closure (rules.conditions).
The enabled rules, sorted by (priority, name), are kept with the fingerprint of the table they
were read from: (count, max(updatedAt), sum(version)). Every evaluation reads the fingerprint
(one aggregate statement over a table of a few hundred rows) and rebuilds the set only when it
changed, so at 100 enabled rules an order costs that statement plus the closures it runs.

Why that fingerprint: any change bumps one rule's version and its `updatedAt` (so the sum and
the max change) and a new rule adds to the count; a rolled-back change (a test, a failed
command) moves them back to values already seen, but then `updatedAt` differs from the set we
hold, since no two committed states share the latest change's time. A global version counter
row would be cheaper still to read but is one more write per change and a row to keep in step.

While an active rule reads `notional`, the same statement also fingerprints the instruments, and
their multipliers are kept here too (venue, symbol -> multiplier), so `notional` costs no query
per order. The instrument and limit caches of the pre-trade checks are theirs (rules.checks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from rules.conditions import Predicate, compile_condition, fields_used, parse
from rules.instruments import has_adapter
from rules.models import Instrument, Rule
from rules.rulebook import Action

ONE = Decimal(1)


@dataclass(frozen=True)
class ActiveRule:
    rule_id: str
    name: str
    version: int
    priority: int
    action: Action
    matches: Predicate
    fields: frozenset[str]  # the fields its condition reads


@dataclass(frozen=True)
class Multipliers:
    """Contract sizes as the pre-trade checks find an order's (rules.intent.Lookups.multiplier):
    a venue's own instrument where it has one (or an adapter), else the symbol's first enabled
    instrument by venue; 1 where none."""

    own: dict[tuple[str, str], tuple[Decimal, bool]] = field(default_factory=dict)
    by_symbol: dict[str, Decimal] = field(default_factory=dict)

    def of(self, venue: str | None, symbol: str | None) -> Decimal:
        symbol = symbol or ""
        if venue:
            own = self.own.get((venue, symbol))
            if own is not None or has_adapter(venue):
                return own[0] if own is not None and own[1] else ONE
        return self.by_symbol.get(symbol, ONE)

    @classmethod
    def load(cls) -> Multipliers:
        out = cls()
        rows = Instrument.objects.order_by("venue").values_list("venue", "symbol", "multiplier", "enabled")
        for venue, symbol, multiplier, enabled in rows:
            out.own[(venue, symbol)] = (multiplier, enabled)
            if enabled:
                out.by_symbol.setdefault(symbol, multiplier)
        return out


@dataclass(frozen=True)
class ActiveSet:
    rules: tuple[ActiveRule, ...] = ()
    rules_fingerprint: Any = None
    reads_notional: bool = False
    multipliers: Multipliers | None = None
    instruments_fingerprint: Any = None

    def multiplier(self, venue: str | None, symbol: str | None) -> Callable[[], Decimal | None]:
        multipliers = self.multipliers
        return lambda: multipliers.of(venue, symbol) if multipliers is not None else ONE


_RULES = f"SELECT COUNT(*), MAX(updated_at), COALESCE(SUM(version), 0) FROM {Rule._meta.db_table}"
_INSTRUMENTS = f"SELECT COUNT(*), MAX(updated_at), COALESCE(SUM(version), 0) FROM {Instrument._meta.db_table}"
_BOTH = f"SELECT * FROM ({_RULES}) AS r, ({_INSTRUMENTS}) AS i"

_lock = threading.Lock()
_held = ActiveSet()
_compiled: dict[tuple[str, int], ActiveRule] = {}  # (ruleId, version) -> compiled, across reloads
stats = {"reloads": 0, "compiled": 0, "instrument_reloads": 0}


def _fingerprints(with_instruments: bool) -> tuple[Any, Any]:
    with connection.cursor() as cursor:
        cursor.execute(_BOTH if with_instruments else _RULES)
        row = tuple(cursor.fetchone() or ())
    alias = connection.alias
    return (alias, *row[:3]), ((alias, *row[3:]) if with_instruments else None)


def _compile(rule_id: str, version: int, doc: dict[str, Any]) -> ActiveRule:
    key = (rule_id, version)
    known = _compiled.get(key)
    if known is not None:
        return known
    condition = parse(doc["when"])
    compiled = ActiveRule(
        rule_id=rule_id,
        name=doc["name"],
        version=version,
        priority=doc["priority"],
        action=Action.parse(doc["action"]),
        matches=compile_condition(condition),
        fields=fields_used(condition),
    )
    _compiled[key] = compiled
    stats["compiled"] += 1
    return compiled


def _load_rules() -> tuple[ActiveRule, ...]:
    rows = (
        Rule.objects.filter(enabled=True)
        .order_by("priority", "name")
        .values_list("rule_id", "version", "doc")
    )
    rules = tuple(_compile(rule_id, version, doc) for rule_id, version, doc in rows)
    if len(_compiled) > 4 * len(rules) + 1000:  # versions no longer in use
        live = {(r.rule_id, r.version) for r in rules}
        for key in [k for k in _compiled if k not in live]:
            del _compiled[key]
    stats["reloads"] += 1
    return rules


def current() -> ActiveSet:
    """The enabled rules (first to be tried first) and, if one reads `notional`, the multipliers."""
    global _held
    held = _held
    rules_fp, instruments_fp = _fingerprints(held.reads_notional)
    if rules_fp == held.rules_fingerprint and (
        not held.reads_notional or instruments_fp == held.instruments_fingerprint
    ):
        return held
    with _lock:
        rules, reads_notional = held.rules, held.reads_notional
        if rules_fp != held.rules_fingerprint:
            rules = _load_rules()
            reads_notional = any("notional" in r.fields for r in rules)
        multipliers, kept_fp = None, None
        if reads_notional:
            if instruments_fp is None:  # the new set is the first to read notional
                _, instruments_fp = _fingerprints(True)
            if instruments_fp == held.instruments_fingerprint and held.multipliers is not None:
                multipliers = held.multipliers
            else:
                multipliers = Multipliers.load()
                stats["instrument_reloads"] += 1
            kept_fp = instruments_fp
        _held = ActiveSet(rules, rules_fp, reads_notional, multipliers, kept_fp)
        return _held


def active_rules() -> tuple[ActiveRule, ...]:
    return current().rules


def forget() -> None:
    """Drop the compiled set (tests, benchmarks)."""
    global _held
    with _lock:
        _held = ActiveSet()
        _compiled.clear()
