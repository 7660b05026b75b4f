"""The data rules' admin: a readable editor (outcome, reason, the condition as JSON and as a tree)
that writes only through the rule commands, refuses what the API refuses, and shows the history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules.models import Rule, RuleEvent
from tests.admin_support import browser, messages_of, staff

pytestmark = pytest.mark.django_db

RULES = "/admin/rules/rule/"
WHEN = {
    "all": [
        {"field": "venue", "op": "==", "value": "SIM"},
        {"field": "notional", "op": ">", "value": "1000000"},
    ]
}


def form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "big_sim",
        "priority": "50",
        "enabled": "on",
        "outcome": "refuse",
        "reason": "too big for SIM",
        "when": json.dumps(WHEN),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_superuser_adds_a_rule_through_the_command(db: Any) -> None:
    web = browser(staff("root", superuser=True))
    response = web.post(f"{RULES}add/", form())
    assert response.status_code == 302, response.content[:2000]
    row = Rule.objects.get(name="big_sim")
    assert row.doc["action"] == {"refuse": True, "reason": "too big for SIM"}
    assert row.doc["when"] == WHEN and row.priority == 50 and row.enabled
    [event] = RuleEvent.objects.filter(aggregate_id=row.pk)
    assert (event.type, event.actor, event.command["commandType"]) == (
        "RuleCreated",
        "root",
        "CreateRuleCommand",
    )


def test_a_malformed_condition_is_shown_with_its_path_and_nothing_is_written(db: Any) -> None:
    web = browser(staff("root", superuser=True))
    events = RuleEvent.objects.count()
    bad = {
        "all": [{"field": "venue", "op": "==", "value": "SIM"}, {"field": "side", "op": ">", "value": "Buy"}]
    }
    response = web.post(f"{RULES}add/", form(when=json.dumps(bad)))
    assert response.status_code == 200
    assert "when.all[1].op" in response.content.decode()
    response = web.post(f"{RULES}add/", form(when="{not json"))
    assert "Not JSON" in response.content.decode()
    response = web.post(f"{RULES}add/", form(name="client_requested_desk"))  # a seeded rule's name
    assert "Another rule has this name." in response.content.decode()
    assert RuleEvent.objects.count() == events


def test_the_change_page_shows_the_condition_as_a_tree_and_saves_a_new_version(db: Any) -> None:
    web = browser(staff("root", superuser=True))
    web.post(f"{RULES}add/", form())
    row = Rule.objects.get(name="big_sim")
    page = web.get(f"{RULES}{row.pk}/change/").content.decode()
    assert "all of" in page and "<code>notional &gt; 1000000</code>" in page
    assert "RuleCreated" in page  # the history, inline
    response = web.post(
        f"{RULES}{row.pk}/change/", form(outcome="desk", reason="desk reviews it", priority="60")
    )
    assert response.status_code == 302, response.content[:2000]
    row.refresh_from_db()
    assert row.version == 2 and row.priority == 60
    assert row.doc["action"] == {"handling": "Desk", "reason": "desk reviews it"}
    history = web.get(f"{RULES}{row.pk}/history/").content.decode()
    assert "RuleUpdated" in history


def test_enable_and_disable_are_list_actions_sending_commands(db: Any) -> None:
    web = browser(staff("root", superuser=True))
    seeded = list(Rule.objects.order_by("priority").values_list("pk", flat=True))
    response = web.post(RULES, {"action": "disable_rules", "_selected_action": seeded[:2]})
    assert response.status_code == 302
    assert "2 rule(s) changed." in messages_of(web.get(RULES))
    assert list(Rule.objects.order_by("priority").values_list("enabled", flat=True)) == [False, False, True]
    assert set(RuleEvent.objects.filter(type="RuleDisabled").values_list("actor", flat=True)) == {"root"}
    web.post(RULES, {"action": "enable_rules", "_selected_action": seeded})
    assert all(Rule.objects.values_list("enabled", flat=True))


def test_desk_staff_see_rules_but_cannot_change_them(db: Any) -> None:
    web = browser(staff("trader", "desk"))
    assert web.get(RULES).status_code == 200
    row = Rule.objects.first()
    assert row is not None
    assert web.get(f"{RULES}{row.pk}/change/").status_code == 200
    events = RuleEvent.objects.count()
    assert web.post(f"{RULES}add/", form()).status_code == 403
    web.post(f"{RULES}{row.pk}/change/", form(name=row.name))
    web.post(RULES, {"action": "disable_rules", "_selected_action": [row.pk]})
    assert RuleEvent.objects.count() == events
