"""Rules as data (issue 10, step 2): rules are event-sourced and superuser-only; the first enabled
rule by priority routes or refuses each new client order, which records the rule and its version;
the former hard-coded routing is seeded data; a backtest matches past orders and writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.core import eventfeed
from oms.core.dispatch import dispatch
from oms.orders.models import Order
from rules import active
from rules.models import Rule
from rules.routing import route
from rules.seed import DEFAULT_RULES
from tests.controls_support import instrument, ok, order_body, refusals, send
from tests.test_rules_conditions import conditions, orders, ref_eval, times

pytestmark = pytest.mark.django_db


def rule(
    client: Any, name: str, when: dict[str, Any], *, priority: int = 100, **extra: Any
) -> dict[str, Any]:
    body = {
        "commandType": "CreateRuleCommand",
        "name": name,
        "priority": priority,
        "when": when,
        "action": {"handling": "Desk", "reason": f"{name} says desk"},
        **extra,
    }
    return ok(client, "rules", body)["rule"]


def change(client: Any, command: str, rule_id: str, **fields: Any) -> tuple[int, Any]:
    return send(client, "rules", {"commandType": command, "ruleId": rule_id, **fields})


def auto_order(client: Any, **terms: Any) -> dict[str, Any]:
    """A client order no default rule sends to the desk (a venue, not MANUAL, no handling asked)."""
    return ok(client, "orders", order_body(venue="XNAS", handling=None, **terms))["order"]


def eq(field: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": "==", "value": value}


# --- the seeded defaults: routing as before ---------------------------------------------------------


def test_the_former_routing_is_seeded_as_data_rules(viewer: Any) -> None:
    listed = viewer.get("/api/queries/rules").json()["results"]
    assert [(r["name"], r["priority"], r["enabled"], r["version"]) for r in listed] == [
        (d["name"], d["priority"], True, 1) for d in DEFAULT_RULES
    ]
    events = viewer.get(f"/api/queries/rules/{listed[0]['ruleId']}/events").json()["results"]
    assert [(e["type"], e["topic"], e["actor"]) for e in events] == [
        ("RuleCreated", "rule-events", "system:seed")
    ]


@pytest.mark.parametrize(
    ("terms", "handling", "rule_name"),
    [
        ({"handling": "Desk", "venue": "XNAS"}, "Desk", "client_requested_desk"),
        ({"handling": None, "venue": None}, "Desk", "no_venue"),
        ({"handling": None, "venue": "MANUAL"}, "Desk", "manual_venue"),
        ({"handling": "Auto", "venue": "MANUAL"}, "Desk", "manual_venue"),
        ({"handling": None, "venue": "XNAS"}, "Auto", None),
    ],
)
def test_seeded_rules_route_and_the_order_records_the_rule_and_its_version(
    desk: Any, terms: dict[str, Any], handling: str, rule_name: str | None
) -> None:
    order = ok(desk, "orders", order_body(**terms))["order"]
    assert (order["handling"], order["routingRule"]) == (handling, rule_name)
    assert order["routingRuleVersion"] == (1 if rule_name else None)
    assert desk.get(f"/api/queries/orders/{order['orderId']}").json()["routingRule"] == rule_name


def test_a_child_order_records_no_routing_rule(desk: Any) -> None:
    parent = ok(desk, "orders", order_body(venue="MANUAL"))["order"]
    child = ok(
        desk,
        "orders",
        order_body(
            parentId=parent["orderId"], symbol=None, side=None, account=None, handling=None, orderQty="10"
        ),
    )["order"]
    assert child["kind"] == "Market" and child["routingRule"] is None and child["routingRuleVersion"] is None


# --- the rule aggregate ---------------------------------------------------------------------------


def test_only_superusers_change_rules(desk: Any, viewer: Any, boss: Any) -> None:
    body = {
        "commandType": "CreateRuleCommand",
        "name": "r1",
        "when": eq("symbol", "ACME"),
        "action": {"handling": "Desk", "reason": "x"},
    }
    before = eventfeed.count_events_after(0)
    assert send(desk, "rules", body)[0] == 403
    assert send(viewer, "rules", body)[0] == 403
    seeded = desk.get("/api/queries/rules").json()["results"][0]["ruleId"]
    for command in ("DisableRuleCommand", "EnableRuleCommand"):
        assert change(desk, command, seeded)[0] == 403
    assert change(desk, "UpdateRuleCommand", seeded, priority=1)[0] == 403
    assert eventfeed.count_events_after(0) == before
    assert send(boss, "rules", body)[0] == 201


def test_rules_are_versioned_and_every_change_is_an_event_with_its_actor(boss: Any) -> None:
    r = rule(boss, "big_acme", eq("symbol", "ACME"))
    assert (r["version"], r["enabled"], r["priority"]) == (1, True, 100)
    assert r["when"] == {"field": "symbol", "op": "==", "value": "ACME"}
    status, js = change(
        boss, "UpdateRuleCommand", r["ruleId"], when={"field": "orderQty", "op": ">", "value": 500}
    )
    assert status == 200 and js["rule"]["version"] == 2
    assert js["rule"]["when"] == {
        "field": "orderQty",
        "op": ">",
        "value": "500",
    }  # numbers as decimal strings
    assert js["rule"]["name"] == "big_acme" and js["rule"]["priority"] == 100  # absent fields kept
    status, js = change(boss, "DisableRuleCommand", r["ruleId"], expectedVersion=2)
    assert status == 200 and (js["rule"]["enabled"], js["rule"]["version"]) == (False, 3)
    status, js = change(boss, "DisableRuleCommand", r["ruleId"])
    assert status == 200 and js["duplicate"] and js["events"] == [] and js["rule"]["version"] == 3
    status, js = change(boss, "EnableRuleCommand", r["ruleId"], expectedVersion=2)
    assert status == 409 and js["error"]["code"] == "version_conflict"
    assert change(boss, "EnableRuleCommand", r["ruleId"])[1]["rule"]["version"] == 4
    events = boss.get(f"/api/queries/rules/{r['ruleId']}/events").json()["results"]
    assert [(e["type"], e["version"], e["actor"]) for e in events] == [
        ("RuleCreated", 1, "boss"),
        ("RuleUpdated", 2, "boss"),
        ("RuleDisabled", 3, "boss"),
        ("RuleEnabled", 4, "boss"),
    ]
    assert events[1]["data"] == {"when": {"field": "orderQty", "op": ">", "value": "500"}}
    assert boss.get(f"/api/queries/rules/{r['ruleId']}").json() == events[-1]["state"]


def test_names_are_unique_and_a_repeated_create_is_idempotent(boss: Any) -> None:
    first = rule(boss, "dup", eq("symbol", "ACME"))
    again = ok(
        boss,
        "rules",
        {
            "commandType": "CreateRuleCommand",
            "name": "dup",
            "priority": 100,
            "when": eq("symbol", "ACME"),
            "action": {"handling": "Desk", "reason": "dup says desk"},
        },
    )
    assert again["duplicate"] and again["rule"]["ruleId"] == first["ruleId"] and again["events"] == []
    status, js = send(
        boss,
        "rules",
        {
            "commandType": "CreateRuleCommand",
            "name": "dup",
            "when": eq("symbol", "X"),
            "action": {"refuse": True, "reason": "r"},
        },
    )
    assert status == 409 and js["error"]["code"] == "duplicate_rule_name" and "name" in js["error"]["fields"]
    other = rule(boss, "other", eq("symbol", "B"))
    status, js = change(boss, "UpdateRuleCommand", other["ruleId"], name="dup")
    assert status == 409 and js["error"]["code"] == "duplicate_rule_name"
    assert change(boss, "UpdateRuleCommand", "R-NOPE", priority=1)[1]["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"handling": "Auto", "reason": "x"}, "action.handling"),
        ({"refuse": False, "reason": "x"}, "action.refuse"),
        ({"handling": "Desk", "refuse": True, "reason": "x"}, "action"),
        ({"handling": "Desk"}, "action.reason"),
        ({"handling": "Desk", "reason": "x", "colour": "red"}, "action.colour"),
        ("Desk", "action"),
    ],
)
def test_a_malformed_action_answers_400_naming_it(boss: Any, action: Any, field: str) -> None:
    body = {"commandType": "CreateRuleCommand", "name": "bad", "when": eq("symbol", "A"), "action": action}
    status, js = send(boss, "rules", body)
    assert status == 400 and field in js["error"]["fields"], js


def test_a_400_lists_every_problem_of_the_rule_at_once(boss: Any) -> None:
    body = {
        "commandType": "CreateRuleCommand",
        "name": "",
        "priority": "high",
        "when": {"any": [eq("symbol", "A"), {"field": "price", "op": ">", "value": "cheap"}]},
        "action": {"refuse": True},
    }
    status, js = send(boss, "rules", body)
    assert status == 400
    assert set(js["error"]["fields"]) == {"name", "priority", "when.any[1].value", "action.reason"}


# --- routing by data rules --------------------------------------------------------------------------


def test_the_first_match_by_priority_wins_and_a_changed_rule_is_seen_at_once(boss: Any, desk: Any) -> None:
    later = rule(boss, "acme_later", eq("symbol", "ACME"), priority=50)
    first = rule(
        boss,
        "acme_first",
        {"all": [eq("symbol", "ACME"), {"field": "orderQty", "op": ">=", "value": "100"}]},
        priority=10,
    )
    order = auto_order(desk, orderQty="100")
    assert (order["handling"], order["routingRule"], order["routingRuleVersion"]) == ("Desk", "acme_first", 1)
    assert order["routingReason"] == "acme_first says desk"
    assert auto_order(desk, orderQty="99")["routingRule"] == "acme_later"
    # a new version of the winner no longer matches: the next rule decides, with its version
    change(
        boss, "UpdateRuleCommand", first["ruleId"], when={"field": "orderQty", "op": ">=", "value": "1000"}
    )
    assert auto_order(desk, orderQty="100")["routingRule"] == "acme_later"
    change(
        boss, "UpdateRuleCommand", later["ruleId"], priority=5, action={"handling": "Desk", "reason": "v2"}
    )
    order = auto_order(desk, orderQty="5000")
    assert (order["routingRule"], order["routingRuleVersion"], order["routingReason"]) == (
        "acme_later",
        2,
        "v2",
    )


def test_equal_priorities_are_tried_by_name(boss: Any, desk: Any) -> None:
    rule(boss, "zeta", eq("symbol", "ACME"), priority=7)
    rule(boss, "alpha", eq("symbol", "ACME"), priority=7)
    assert auto_order(desk)["routingRule"] == "alpha"


def test_disabled_rules_are_ignored(boss: Any, desk: Any) -> None:
    r = rule(boss, "acme_desk", eq("symbol", "ACME"), enabled=False)
    assert auto_order(desk)["routingRule"] is None
    change(boss, "EnableRuleCommand", r["ruleId"])
    assert auto_order(desk)["routingRule"] == "acme_desk"
    change(boss, "DisableRuleCommand", r["ruleId"])
    order = auto_order(desk)
    assert order["handling"] == "Auto" and order["routingRule"] is None


def test_disabling_a_seeded_rule_changes_the_default_routing(boss: Any, desk: Any) -> None:
    manual = next(r for r in boss.get("/api/queries/rules").json()["results"] if r["name"] == "manual_venue")
    change(boss, "DisableRuleCommand", manual["ruleId"])
    order = ok(desk, "orders", order_body(venue="MANUAL", handling=None))["order"]
    assert order["handling"] == "Auto" and order["routingRule"] is None


def test_a_refuse_rule_refuses_with_its_name_and_the_refusal_is_recorded(boss: Any, desk: Any) -> None:
    r = ok(
        boss,
        "rules",
        {
            "commandType": "CreateRuleCommand",
            "name": "no_acme_sells",
            "priority": 1,
            "when": {
                "all": [eq("symbol", "ACME"), {"field": "side", "op": "in", "value": ["Sell", "SellShort"]}]
            },
            "action": {"refuse": True, "reason": "ACME is restricted: no sells"},
        },
    )["rule"]
    orders_before = Order.objects.count()
    body = order_body(side="Sell")
    status, js = send(desk, "orders", body)
    assert status == 422, js
    error = js["error"]
    assert (error["code"], error["rule"], error["message"]) == (
        "rule_refused",
        "no_acme_sells",
        "ACME is restricted: no sells",
    )
    assert error["details"] == {"ruleId": r["ruleId"], "ruleVersion": 1}
    assert Order.objects.count() == orders_before
    [refusal] = refusals("no_acme_sells")
    assert (refusal["clOrdID"], refusal["symbol"], refusal["side"]) == (body["clOrdID"], "ACME", "Sell")
    assert ok(desk, "orders", order_body(side="Buy"))["order"]["routingRule"] == "client_requested_desk"
    preview = ok(desk, "orders/preview", order_body(side="Sell"))
    assert not preview["accepted"] and preview["refusals"][0]["rule"] == "no_acme_sells"
    assert preview["routing"]["routingRule"] == "no_acme_sells"


def test_notional_uses_the_instrument_multiplier_where_known(boss: Any, desk: Any) -> None:
    rule(boss, "big_notional", {"field": "notional", "op": ">", "value": "5000"})
    # 10 x 100 = 1,000 without an instrument; x 10 (the contract size) = 10,000
    assert auto_order(desk, orderQty="10", price="100")["routingRule"] is None
    instrument(boss, "XNAS", "FUT", tickSize="0.5", lotSize="1", minQty="1", multiplier="10")
    assert auto_order(desk, symbol="FUT", orderQty="10", price="100")["routingRule"] == "big_notional"
    assert (
        auto_order(desk, symbol="FUT", ordType="Market", price=None)["routingRule"] is None
    )  # no price: null


def test_time_of_day_is_the_utc_time_of_evaluation(boss: Any) -> None:
    rule(boss, "late", {"field": "timeOfDay", "op": ">=", "value": "16:30"}, priority=1)
    order = {"symbol": "ACME", "venue": "XNAS", "orderQty": "1"}
    assert route(order, at=dt.datetime(2026, 11, 30, 16, 45, tzinfo=dt.UTC)).rule == "late"
    assert route(order, at=dt.datetime(2026, 11, 30, 16, 29, tzinfo=dt.UTC)).rule is None
    # 17:45 in UTC+1 is 16:45 UTC
    assert (
        route(order, at=dt.datetime(2026, 11, 30, 17, 45, tzinfo=dt.timezone(dt.timedelta(hours=1)))).rule
        == "late"
    )


def test_rules_are_compiled_once_per_version_not_per_order(boss: Any, desk: Any) -> None:
    for i in range(20):
        rule(boss, f"r{i:02d}", eq("symbol", f"S{i}"))
    auto_order(desk)
    compiled = active.stats["compiled"]
    for _ in range(5):
        auto_order(desk)
    assert active.stats["compiled"] == compiled
    r = boss.get("/api/queries/rules", {"name": "r07"}).json()["results"][0]
    change(boss, "UpdateRuleCommand", r["ruleId"], when=eq("symbol", "ACME"))
    assert auto_order(desk)["routingRule"] == "r07"
    assert active.stats["compiled"] == compiled + 1


# --- backtest ---------------------------------------------------------------------------------------


def test_a_backtest_matches_the_right_orders_and_writes_nothing(boss: Any, desk: Any) -> None:
    a = auto_order(desk, symbol="AAA", orderQty="10")
    b = ok(desk, "orders", order_body(symbol="AAA", orderQty="500"))["order"]  # asked for the desk
    c = auto_order(desk, symbol="BBB", orderQty="500")
    events, rules_before = eventfeed.count_events_after(0), boss.get("/api/queries/rules").json()["count"]
    body = {
        "commandType": "CreateRuleCommand",
        "name": "candidate",
        "when": {"any": [{"field": "orderQty", "op": ">", "value": "100"}, eq("handling", "Desk")]},
        "action": {"refuse": True, "reason": "test"},
    }
    js = ok(desk, "rules/backtest", body)
    assert js == {"matched": 2, "of": 3, "orders": [c["orderId"], b["orderId"]]}  # newest first
    # the requested handling, not the routed one: `a` was routed Auto, `b` asked for the desk
    js = ok(desk, "rules/backtest", {"when": eq("handling", None)})
    assert js["orders"] == [c["orderId"], a["orderId"]]
    assert ok(desk, "rules/backtest", {"when": eq("symbol", "AAA"), "limit": 2}) == {
        "matched": 1,
        "of": 2,
        "orders": [b["orderId"]],
    }
    assert eventfeed.count_events_after(0) == events
    assert boss.get("/api/queries/rules").json()["count"] == rules_before


def test_a_backtest_looks_only_at_client_orders(desk: Any) -> None:
    parent = ok(desk, "orders", order_body(venue="MANUAL"))["order"]
    ok(
        desk,
        "orders",
        order_body(
            parentId=parent["orderId"], symbol=None, side=None, account=None, handling=None, orderQty="10"
        ),
    )
    assert ok(desk, "rules/backtest", {"when": {"all": []}})["orders"] == [parent["orderId"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "when"),
        ({"when": {"field": "symbol", "op": "<", "value": "A"}}, "when.op"),
        ({"when": {"all": []}, "limit": 0}, "limit"),
        ({"when": {"all": []}, "limit": 5001}, "limit"),
        ({"when": {"all": []}, "limit": "many"}, "limit"),
        ({"when": {"all": []}, "action": {"refuse": "yes", "reason": "r"}}, "action.refuse"),
        ({"when": {"all": []}, "colour": "red"}, "colour"),
        ([], "non_field_errors"),
    ],
)
def test_a_malformed_backtest_answers_400(desk: Any, body: Any, field: str) -> None:
    status, js = send(desk, "rules/backtest", body)
    assert status == 400 and field in js["error"]["fields"], js


def test_viewers_cannot_backtest(viewer: Any) -> None:
    assert send(viewer, "rules/backtest", {"when": {"all": []}})[0] == 403


@pytest.mark.django_db(transaction=True)
def test_a_flush_puts_the_default_rules_back() -> None:
    """`manage.py flush` (and the suite's transactional tests) empty every table: the seeded
    routing comes back with them, so routing after a flush is routing after a migrate."""
    call_command("flush", interactive=False, verbosity=0)
    assert sorted(Rule.objects.values_list("name", flat=True)) == sorted(d["name"] for d in DEFAULT_RULES)


# --- first match by priority, by property -----------------------------------------------------------


@st.composite
def rule_specs(draw: Any) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from([f"p{i}" for i in range(8)]), min_size=1, max_size=5, unique=True))
    return [
        {
            "name": name,
            "priority": draw(st.sampled_from([1, 2, 3, 1000, 1015])),  # ties, and around the defaults
            "enabled": draw(st.booleans()),
            "when": draw(conditions),
            "action": draw(
                st.sampled_from(
                    [
                        {"handling": "Desk", "reason": f"{name} desk"},
                        {"refuse": True, "reason": f"{name} refuses"},
                    ]
                )
            ),
        }
        for name in names
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule_specs(), orders(), times)
def test_the_decision_is_the_first_enabled_match_by_priority_then_name(
    db: Any, specs: list[dict[str, Any]], order: dict[str, Any], at: dt.datetime
) -> None:
    with transaction.atomic():  # each example's rules are rolled back at its end
        for spec in specs:
            dispatch("rules", {"commandType": "CreateRuleCommand", **spec}, actor="system:test")
        every = sorted((r.doc for r in Rule.objects.all()), key=lambda d: (d["priority"], d["name"]))
        first = next((d for d in every if d["enabled"] and ref_eval(d["when"], order, at, None)), None)
        decision = route(order, at=at)
        transaction.set_rollback(True)
    if first is None:
        assert (decision.rule, decision.handling, decision.refuse) == (None, "Auto", False)
    else:
        assert decision.rule == first["name"] and decision.reason == first["action"]["reason"]
        assert decision.refuse == bool(first["action"].get("refuse"))
        assert decision.handling == (None if decision.refuse else "Desk")
