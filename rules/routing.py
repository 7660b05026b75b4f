"""Desk routing: does a new client order go to the desk or get placed automatically?

The rules engine knows nothing of the OMS's models: it sees a plain mapping of the order's
fields (API names) and answers a decision with a reason the desk can read. The rules are an
ordered list of named predicates; the first that matches decides. Data-driven rules editable in
the admin (and the pre-trade risk checks) plug in ahead of the defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

MANUAL_VENUE = "MANUAL"


@dataclass(frozen=True)
class RoutingDecision:
    handling: str  # "Auto" or "Desk"
    reason: str
    rule: str


@dataclass(frozen=True)
class RoutingRule:
    name: str
    matches: Callable[[Mapping[str, object]], bool]
    handling: str
    reason: str


DEFAULT_RULES: list[RoutingRule] = [
    RoutingRule(
        "client_requested_desk",
        lambda o: o.get("handling") == "Desk",
        "Desk",
        "client requested desk handling",
    ),
    RoutingRule(
        "no_venue",
        lambda o: not o.get("venue"),
        "Desk",
        "no venue given: the desk chooses where to place it",
    ),
    RoutingRule(
        "manual_venue",
        lambda o: o.get("venue") == MANUAL_VENUE,
        "Desk",
        "MANUAL venue: a care order worked by the desk",
    ),
]

_rules: list[RoutingRule] = list(DEFAULT_RULES)


def register_rule(rule: RoutingRule, *, first: bool = True) -> None:
    if first:
        _rules.insert(0, rule)
    else:
        _rules.append(rule)


def route(order: Mapping[str, object]) -> RoutingDecision:
    for rule in _rules:
        if rule.matches(order):
            return RoutingDecision(rule.handling, rule.reason, rule.name)
    venue = order.get("venue")
    return RoutingDecision("Auto", f"no desk rule matched: placed automatically at {venue}", "default_auto")
