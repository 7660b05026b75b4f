"""On PostgreSQL a new order at a venue reads the reference version, its book, its venue's row and
the SAFE modes in force by one call of `rules_pretrade_read` (rules/migrations/0010), whose
statement keeps a generic plan, instead of the UNION statement planned on every create
(docs/benchmarks.md §41). The same rows for every scope; and a kept plan is not kept data: a
SAFE mode another process commits holds the very next order here, after this process's statement
was prepared and its plan cached."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oms.orders.models import Order
from rules import reference
from rules.controls import IN_FORCE_SQL, READ_WITH_IN_FORCE_SQL, in_force_params, read_with_in_force_params
from tests.controls_support import ok, order_body, send, venue
from tests.other_process import dispatch_elsewhere

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="the function is PostgreSQL's"),
]


def engage(client: Any, scope: str, key: str | None = None) -> None:
    body = {"commandType": "EngageSafeModeCommand", "scope": scope, "key": key, "reason": "drill"}
    ok(client, "controls", {k: v for k, v in body.items() if v is not None})


def rows_both_ways(venue_name: str, account: str, symbol: str) -> tuple[list[Any], list[Any]]:
    """The function's rows and the UNION statement's, for one order's scope, as sorted tuples."""
    with connection.cursor() as cur:
        cur.execute(READ_WITH_IN_FORCE_SQL, read_with_in_force_params(venue_name, account, symbol))
        by_function = cur.fetchall()
    union = reference.send_read(
        venue_name, symbol, also=[(IN_FORCE_SQL, in_force_params(venue_name, account, symbol))]
    )
    try:
        by_union = union.fetchall()
    finally:
        union.close()
    return sorted(map(tuple, by_function), key=repr), sorted(map(tuple, by_union), key=repr)


def test_the_function_answers_the_union_statements_rows_for_every_scope(boss: Any, desk: Any) -> None:
    venue(boss, "XPT")
    book = {"commandType": "SetBookCommand", "venue": "XPT", "symbol": "ACME"}
    ok(boss, "books", {**book, "bids": [["99", "5"]], "asks": [["101", "5"]]})
    for scope, key in [("account", "ACC9"), ("symbol", "XPT:ACME"), ("symbol", "OTHER"), ("venue", "XNAS")]:
        engage(desk, scope, key)
    for venue_name, account, symbol in [
        ("XPT", "ACC9", "ACME"),  # its venue row, its book, two SAFE modes hold it
        ("XPT", "ACC1", "ACME"),  # one SAFE mode (the symbol at the venue)
        ("XNAS", "ACC1", "OTHER"),  # no book, no venue row, two SAFE modes
        ("NOWHERE", "ACC1", "NONE"),  # nothing but the version
    ]:
        by_function, by_union = rows_both_ways(venue_name, account, symbol)
        assert by_function == by_union, (venue_name, account, symbol)
        assert [r[0] for r in by_function].count(0) == 1  # the version row, always once
    engage(desk, "global", None)
    by_function, by_union = rows_both_ways("XPT", "ACC1", "ACME")
    assert by_function == by_union and sum(r[0] == 2 for r in by_function) == 2


def test_a_new_order_at_a_venue_sends_one_function_call_with_its_positions(desk: Any) -> None:
    ok(desk, "orders", order_body(venue="XNAS"))
    with CaptureQueriesContext(connection) as captured:
        ok(desk, "orders", order_body(venue="XNAS"))
    reads = [q["sql"] for q in captured.captured_queries if "rules_pretrade_read" in q["sql"]]
    assert len(reads) == 1 and "FROM positions WHERE account" in reads[0], reads
    assert not any("FROM controls" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db(transaction=True)  # committed: the other process engages, this one reads
def test_a_safe_mode_another_process_commits_holds_the_next_order_after_the_plan_is_kept(
    desk: Any, desk_user: Any
) -> None:
    for _ in range(8):  # past psycopg's prepare threshold (5): the call is prepared, its plan kept
        ok(desk, "orders", order_body(venue="XNAS"))
    body = {"commandType": "EngageSafeModeCommand", "scope": "account", "key": "ACC1", "reason": "drill"}
    dispatch_elsewhere("controls", body, desk_user.username)
    before = Order.objects.count()
    status, js = send(desk, "orders", order_body(venue="XNAS"))
    assert status == 422 and js["error"]["rule"] == "safe_mode", js
    assert Order.objects.count() == before
    status, js = send(desk, "orders", order_body(venue="XNAS", account="ACC2"))  # not held
    assert status == 201, js
