"""The default routing rules, as data: what routing was before rules were data.

    client_requested_desk   handling == "Desk"    the client asked for the desk
    no_venue                venue == null         the desk chooses where to place it
    manual_venue            venue == "MANUAL"     a care order worked by the desk

They are created by a data migration (rules 0006), by `seed_demo`, and again after a flush that
emptied the rules table (`manage.py flush`, the test suite's transactional tests), always through
the command bus as `system:seed`. Their priorities (1000+) leave room for rules that must be
tried before them (a refusal that applies to MANUAL orders too needs a priority below 1000).
"""

from __future__ import annotations

from typing import Any

from django.db import connections

from oms.core.dispatch import dispatch
from rules.actors import SYSTEM_PREFIX
from rules.models import Rule
from rules.rulebook import TOPIC

SEED_ACTOR = f"{SYSTEM_PREFIX}seed"

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "client_requested_desk",
        "priority": 1000,
        "when": {"field": "handling", "op": "==", "value": "Desk"},
        "action": {"handling": "Desk", "reason": "client requested desk handling"},
    },
    {
        "name": "no_venue",
        "priority": 1010,
        "when": {"field": "venue", "op": "==", "value": None},
        "action": {"handling": "Desk", "reason": "no venue given: the desk chooses where to place it"},
    },
    {
        "name": "manual_venue",
        "priority": 1020,
        "when": {"field": "venue", "op": "==", "value": "MANUAL"},
        "action": {"handling": "Desk", "reason": "MANUAL venue: a care order worked by the desk"},
    },
)


def seed_default_rules(*, only_if_empty: bool = False) -> list[str]:
    """Create the default rules whose names are not taken; with `only_if_empty`, only into an
    empty table (a rule renamed or changed by an admin is never re-created behind their back)."""
    if only_if_empty and Rule.objects.exists():
        return []
    taken = set(Rule.objects.values_list("name", flat=True))
    created = []
    for rule in DEFAULT_RULES:
        if rule["name"] in taken:
            continue
        dispatch(TOPIC, {"commandType": "CreateRuleCommand", **rule}, actor=SEED_ACTOR)
        created.append(rule["name"])
    return created


def reseed_after_flush(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate (sent after `migrate` and after `flush`): put the defaults back into an
    emptied table, so routing behaves the same after a flush as after a migrate."""
    if using != "default" or Rule._meta.db_table not in connections[using].introspection.table_names():
        return
    seed_default_rules(only_if_empty=True)
