"""The active rule set, compiled and kept in-process under the reference version.

Each rule's condition is compiled once per rule version into one closure (rules.conditions).
The enabled rules, sorted by (priority, name), are kept under the `reference_version` they were
read at: the database triggers that move that one row on any write of `instruments` or `limits`
move it on any write of `rules` too (rules migration 0008), so the version the pre-trade checks
already read for every order, in the statement sent with the clOrdID claim (rules.reference,
rules.pretrade.prefetch), says whether the held set is current. Routing a new order costs no
statement of its own: the set is reloaded only when the version moved (any rule, limit or
instrument change, in any process), and a reload recompiles only the rules whose version changed.

Why the version and not a fingerprint of the rules table (COUNT, MAX(updated_at), SUM(version)),
as before: that aggregate was one more round trip per new order, and it could not go out in the
clOrdID claim's pipeline with the version without a second statement to read there. The version
carries the reference cache's guarantees (rules.reference): a change binds the next order whose
read starts after its commit, a reload after the version read can only see newer rows (at worst
one extra reload), and a version produced by a transaction that rolled back is never produced
again (a sequence, random()), so a set read inside a rolled-back transaction is never taken for
current. A limit or instrument change reloads the rules too: a few hundred rows, compiled closures
reused, once per change per process.

While an active rule reads `notional`, the multipliers of the instruments are taken from the
reference snapshot of the same version (the checks' own lookup rule), so `notional` costs no
query per order either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules import reference
from rules.conditions import Condition, Facts, Predicate, compile_condition, compile_first, fields_used, parse
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
    condition: Condition


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
        rows = Instrument.objects.order_by("venue").values_list("venue", "symbol", "multiplier", "enabled")
        return cls.of_rows(rows)

    @classmethod
    def of_snapshot(cls, snapshot: reference.Snapshot) -> Multipliers:
        """From the reference snapshot (its instruments are read ordered by venue, like `load`)."""
        rows = (
            (i.venue, i.symbol, i.multiplier, i.enabled)
            for instruments in snapshot.by_symbol.values()
            for i in instruments
        )
        return cls.of_rows(rows)

    @classmethod
    def of_rows(cls, rows: Any) -> Multipliers:
        out = cls()
        for venue, symbol, multiplier, enabled in rows:
            out.own[(venue, symbol)] = (multiplier, enabled)
            if enabled:
                out.by_symbol.setdefault(symbol, multiplier)
        return out


def _none_match(facts: Facts) -> int:
    return -1


@dataclass(frozen=True)
class ActiveSet:
    rules: tuple[ActiveRule, ...] = ()
    version: int | None = None  # the reference version it was read at (None: never current)
    reads_notional: bool = False
    multipliers: Multipliers | None = None
    # the index in `rules` of the first whose condition holds (-1: none): the conditions of the
    # whole set in one generated function (rules.conditions.compile_first)
    first: Callable[[Facts], int] = _none_match

    def multiplier(self, venue: str | None, symbol: str | None) -> Callable[[], Decimal | None]:
        multipliers = self.multipliers
        return lambda: multipliers.of(venue, symbol) if multipliers is not None else ONE


_lock = threading.Lock()
_held: dict[str, ActiveSet] = {}  # database (alias:name) -> the set, as rules.reference keys its cache
_compiled: dict[tuple[str, int], ActiveRule] = {}  # (ruleId, version) -> compiled, across reloads
# the (ruleId, version)s of a set, in order -> its generated function: a reload that finds the
# same rules (a limit or instrument moved the version) generates nothing
_firsts: dict[tuple[tuple[str, int], ...], Callable[[Facts], int]] = {}
stats = {"reloads": 0, "compiled": 0}


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
        condition=condition,
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


def _first_of(rules: tuple[ActiveRule, ...]) -> Callable[[Facts], int]:
    key = tuple((r.rule_id, r.version) for r in rules)
    first = _firsts.get(key)
    if first is None:
        first = compile_first([r.condition for r in rules])
        with _lock:
            if len(_firsts) > 100:  # sets no longer in use
                _firsts.clear()
            _firsts[key] = first
    return first


def current(snapshot: reference.Snapshot | None = None) -> ActiveSet:
    """The enabled rules (first to be tried first) and, if one reads `notional`, the multipliers,
    as of `snapshot` (the reference data an order's checks read, with its version; None: read the
    version now, one statement, for the callers that have not read it: the preview)."""
    if snapshot is None:
        snapshot = reference.current()
    key = reference.db_key()
    held = _held.get(key)
    if held is not None and snapshot.version is not None and held.version == snapshot.version:
        return held
    rules = _load_rules()
    reads_notional = any("notional" in r.fields for r in rules)
    multipliers = Multipliers.of_snapshot(snapshot) if reads_notional else None
    loaded = ActiveSet(rules, snapshot.version, reads_notional, multipliers, _first_of(rules))
    if snapshot.version is not None:
        with _lock:
            _held[key] = loaded
    return loaded


def active_rules() -> tuple[ActiveRule, ...]:
    return current().rules


def forget() -> None:
    """Drop the compiled set (tests, benchmarks)."""
    with _lock:
        _held.clear()
        _compiled.clear()
        _firsts.clear()
