"""The active rule set is kept under the reference version every new order already reads with its
clOrdID claim (rules/active.py, rules migration 0008): routing sends no statement of its own, and
any change of a rule binds the next order: through the API, a raw UPDATE, another process (on
PostgreSQL), never a change that rolled back. On PostgreSQL the round trips of a client create
are counted: the routing's and the checks' reads share the claim's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from oms.core.dispatch import dispatch
from rules import active
from rules.models import Rule
from tests.controls_support import instrument, ok, order_body
from tests.other_process import dispatch_elsewhere

pytestmark = pytest.mark.django_db
ACTOR = "system:tests"


def rule(name: str, symbol: str, *, enabled: bool = True, priority: int = 100) -> dict[str, Any]:
    body = {
        "commandType": "CreateRuleCommand",
        "name": name,
        "priority": priority,
        "enabled": enabled,
        "when": {"field": "symbol", "op": "==", "value": symbol},
        "action": {"handling": "Desk", "reason": f"{name} says desk"},
    }
    return dispatch("rules", body, actor=ACTOR).body["rule"]  # type: ignore[no-any-return]  # the JSON body is Any


def auto_order(client: Any, **terms: Any) -> dict[str, Any]:
    """A client order no seeded rule sends to the desk (a venue, not MANUAL, no handling asked)."""
    return ok(client, "orders", order_body(venue="XNAS", handling=None, **terms))["order"]  # type: ignore[no-any-return]  # the JSON body is Any


def reads_rules(queries: list[dict[str, Any]]) -> list[str]:
    return [q["sql"] for q in queries if 'FROM "rules"' in q["sql"] or "FROM rules " in q["sql"]]


def test_a_warm_create_routes_by_100_rules_without_a_statement_of_its_own(desk: Any) -> None:
    for i in range(100):
        rule(f"r{i:03d}", f"NOPE{i}")
    rule("acme_desk", "ACME", priority=500)
    assert auto_order(desk)["routingRule"] == "acme_desk"  # warms the set
    reloads = active.stats["reloads"]
    with CaptureQueriesContext(connection) as captured:
        routed = [auto_order(desk)["routingRule"] for _ in range(3)]
        other = auto_order(desk, symbol="OTHER")
    assert routed == ["acme_desk"] * 3 and other["routingRule"] is None and other["handling"] == "Auto"
    assert reads_rules(captured.captured_queries) == []
    assert active.stats["reloads"] == reloads


def test_a_rule_enabled_through_the_api_routes_the_next_order(boss: Any, desk: Any) -> None:
    disabled = rule("acme_desk", "ACME", enabled=False)
    assert auto_order(desk)["routingRule"] is None
    ok(boss, "rules", {"commandType": "EnableRuleCommand", "ruleId": disabled["ruleId"]})
    assert auto_order(desk)["routingRule"] == "acme_desk"
    ok(boss, "rules", {"commandType": "DisableRuleCommand", "ruleId": disabled["ruleId"]})
    assert auto_order(desk)["routingRule"] is None


def test_an_instrument_change_reloads_the_multipliers_a_notional_rule_reads(boss: Any, desk: Any) -> None:
    body = {
        "commandType": "CreateRuleCommand",
        "name": "big",
        "priority": 1,
        "when": {"field": "notional", "op": ">", "value": "5000"},
        "action": {"handling": "Desk", "reason": "big"},
    }
    ok(boss, "rules", body)
    instrument(boss, "XNAS", "FUT", tickSize="0.5", lotSize="1", minQty="1", multiplier="1")
    assert auto_order(desk, symbol="FUT", orderQty="10", price="100")["routingRule"] is None  # 1,000
    instrument(boss, "XNAS", "FUT", tickSize="0.5", lotSize="1", minQty="1", multiplier="10")
    assert auto_order(desk, symbol="FUT", orderQty="10", price="100")["routingRule"] == "big"  # 10,000


def test_a_write_of_a_rule_outside_the_commands_invalidates_too(desk: Any) -> None:
    """A replay, an admin repair, a manual UPDATE: the trigger moves the version, not the handler."""
    rule("acme_desk", "ACME")
    assert auto_order(desk)["routingRule"] == "acme_desk"
    Rule.objects.filter(name="acme_desk").update(enabled=False)
    assert auto_order(desk)["routingRule"] is None


def test_a_set_read_in_a_rolled_back_transaction_is_never_taken_for_current(desk: Any) -> None:
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        rule("acme_desk", "ACME")
        routed = dispatch("orders", order_body(venue="XNAS", handling=None), actor="desk")
        assert routed.body["order"]["routingRule"] == "acme_desk"  # the set now holds the rule
        raise Undo
    # the rule never committed: neither did the version the held set was read at
    assert auto_order(desk)["routingRule"] is None
    rule("other_desk", "OTHER")  # a new version, never the rolled-back one again
    assert auto_order(desk)["routingRule"] is None
    assert auto_order(desk, symbol="OTHER")["routingRule"] == "other_desk"


# --- PostgreSQL: another process, and the round trips ------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="two processes share one database on PostgreSQL"
)
def test_a_rule_enabled_in_another_process_routes_the_next_order_in_this_one(desk: Any) -> None:
    disabled = rule("acme_desk", "ACME", enabled=False)
    assert auto_order(desk)["routingRule"] is None  # this process holds the set without it
    enable = {"commandType": "EnableRuleCommand", "ruleId": disabled["ruleId"]}
    dispatch_elsewhere("rules", enable, "system:other-process")
    assert auto_order(desk)["routingRule"] == "acme_desk"


@contextmanager
def round_trips() -> Iterator[list[tuple[int, str]]]:
    """Each statement with its round trip: the statements of one psycopg pipeline share one, any
    other statement is one of its own (what bench/commands.py counts)."""
    seen: list[tuple[int, str]] = []
    pipes: dict[int, int] = {}
    trips = [0]

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        pipe = getattr(connection.connection, "_pipeline", None)
        if pipe is None:
            trips[0] += 1
            seen.append((trips[0], sql))
        else:
            if id(pipe) not in pipes:
                trips[0] += 1
                pipes[id(pipe)] = trips[0]
            seen.append((pipes[id(pipe)], sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg pipelines: PostgreSQL only")
def test_routing_and_the_checks_read_in_the_round_trip_of_the_clordid_claim(boss: Any, desk: Any) -> None:
    for i in range(100):
        rule(f"r{i:03d}", f"NOPE{i}")
    ok(
        boss,
        "limits",
        {
            "commandType": "SetLimitsCommand",
            "account": "*",
            "symbol": "*",
            "maxOrderQty": "1000",
            "maxOrderNotional": "1000000",
        },
    )
    auto_order(desk)  # warms the caches
    # the optimistic attempt's round trips: an attempt retried with locks (a cached state a
    # concurrent commit made stale, on a loaded machine) rolls back to its savepoint and is
    # measured again
    for _ in range(3):
        with round_trips() as seen:
            order = auto_order(desk)
        if not any(sql.startswith("ROLLBACK TO SAVEPOINT") for _, sql in seen):
            break
    else:
        raise AssertionError("every measured create was retried with locks")
    assert order["routingRule"] is None and order["handling"] == "Auto"
    listing = "\n".join(f"{trip} {sql[:160]}" for trip, sql in seen)
    claim = next(trip for trip, sql in seen if "INSERT INTO order_cl_ord_ids" in sql)
    # the rules' version with the book, the controls in force, the positions: all with the claim
    # (the first three by one function call at a venue on PostgreSQL: rules/migrations/0010)
    for table in ("rules_pretrade_read", "FROM positions WHERE account"):
        assert [trip for trip, sql in seen if table in sql] == [claim], listing
    assert reads_rules([{"sql": sql} for _, sql in seen]) == [], listing
    # the version, the book, the controls in force and the positions are one statement: the claim
    # and that read are all the round trip sends
    assert len([sql for trip, sql in seen if trip == claim]) == 2, listing
    # the positions' projection takes the order's position from the rows read with the claim
    assert [sql for _, sql in seen if "FROM positions WHERE position_id" in sql] == [], listing
    # the test's savepoint (BEGIN in production), the claim with every read of routing and the
    # checks (and the order's position), the write pipeline, the savepoint's release (COMMIT):
    # before, the rules' fingerprint, the controls and the position were three more
    assert len({trip for trip, _ in seen}) == 4, listing
