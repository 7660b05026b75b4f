"""Desk routing and refusal by data rules: does a new client order go to the desk, get placed
automatically, or get refused?

The rules engine knows nothing of the OMS's models: it sees a plain mapping of the order's
fields (API names). The rules are data (rules.rulebook), compiled and cached in-process
(rules.active); the first enabled rule by priority whose condition matches decides, and the
order records its name and version (`routingRule`, `routingRuleVersion`). No rule matching
places the order automatically. The former hard-coded defaults (client asked for the desk, no
venue, the MANUAL venue) are seeded rules (rules.seed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oms.core import ambient
from rules import reference
from rules.active import ActiveRule, current
from rules.conditions import Facts
from rules.errors import CheckRefused
from rules.intent import Prefetched

AUTO, DESK = "Auto", "Desk"


@dataclass(frozen=True)
class RoutingDecision:
    handling: str | None  # "Auto" or "Desk"; None when the rule refuses the order
    reason: str
    rule: str | None  # the data rule that decided (None: no rule matched)
    rule_version: int | None = None
    rule_id: str | None = None
    refuse: bool = False

    def refusal(self) -> CheckRefused:
        assert self.rule is not None
        return CheckRefused(
            self.rule, self.reason, {"ruleId": self.rule_id, "ruleVersion": self.rule_version}
        )


def _decided(rule: ActiveRule) -> RoutingDecision:
    action = rule.action
    return RoutingDecision(
        handling=None if action.refuse else (action.handling or DESK),
        reason=action.reason,
        rule=rule.name,
        rule_version=rule.version,
        rule_id=rule.rule_id,
        refuse=action.refuse,
    )


def _none_matched(venue: str | None) -> RoutingDecision:
    return RoutingDecision(AUTO, f"no desk rule matched: placed automatically at {venue}", None)


def decide(
    rules: tuple[ActiveRule, ...] | list[ActiveRule], facts: Facts, venue: str | None
) -> RoutingDecision:
    """The first rule that matches, trying each rule's own closure (a backtest's rules are not
    an active set); `route` asks the active set's one function (`ActiveSet.first`), which answers
    the same."""
    for rule in rules:
        if rule.matches(facts):
            return _decided(rule)
    return _none_matched(venue)


def route(
    order: Mapping[str, Any],
    *,
    at: dt.datetime | None = None,
    prefetched: Prefetched | None = None,
) -> RoutingDecision:
    """The decision for a new client order (never raises: the preview shows a refusal too).

    `prefetched`: the checks' reads sent with the clOrdID claim (rules.pretrade.prefetch); the
    rules are current as of the reference version read there, so routing sends nothing of its
    own. Without it the version is read now (one statement)."""
    venue = order.get("venue")
    taken = prefetched.reference_for(venue, str(order.get("symbol") or "")) if prefetched else None
    snapshot: reference.Snapshot | None = taken[0] if taken is not None else None
    active = current(snapshot)
    facts = Facts(order, at=at or ambient.now(), multiplier=active.multiplier(venue, order.get("symbol")))
    index = active.first(facts)
    return _decided(active.rules[index]) if index >= 0 else _none_matched(venue)


def route_new_order(order: Mapping[str, Any], *, prefetched: Prefetched | None = None) -> RoutingDecision:
    """`route`, raising the refusal (422 rule_refused naming the rule, recorded as OrderRefused)."""
    decision = route(order, prefetched=prefetched)
    if decision.refuse:
        raise decision.refusal()
    return decision
