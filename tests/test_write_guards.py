"""Guards in the write pipeline (UnitOfWork.guard): what a command's first, optimistic attempt
took from an in-process cache of rarely changing rows is checked in the same round trip as its
writes, and a change since costs one locked retry that reads the rows, never a wrong decision.

The desk's reports ask whether the order's venue has an adapter (409 `venue_reports_only`, issue
11); the answer comes from the cache once a committed command has read it. Transactional tests:
the cache is filled after commit only."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oms.core.dispatch import dispatch
from tests.conftest import uid
from tests.controls_support import venue
from tests.test_api_commands import child, create, execute, send
from tests.test_rules_active_cache import round_trips

pytestmark = pytest.mark.django_db(transaction=True)


def accept(client: Any, order_id: str) -> tuple[int, Any]:
    return send(client, "orders", {"commandType": "AcceptOrderCommand", "orderId": order_id})


def registry_reads(queries: list[dict[str, Any]]) -> list[str]:
    return [q["sql"] for q in queries if "venues" in q["sql"] and "IS NOT DISTINCT FROM" not in q["sql"]]


def test_a_warm_desk_report_reads_no_venue_row_and_checks_the_cache_in_its_write(desk: Any) -> None:
    parent = create(desk)
    child(desk, parent["orderId"], qty="40", venue="XDESK")  # create + accept: the cache learns XDESK
    second = child(desk, parent["orderId"], qty="60", venue="XDESK", accept=False)
    with CaptureQueriesContext(connection) as captured:
        status, js = accept(desk, second["orderId"])
        filled, fill = execute(desk, second["orderId"], "60", venue="XDESK")
    assert status == 200 and js["order"]["status"] == "New"
    assert filled == 201 and fill["execution"]["status"] == "Allocated"
    assert registry_reads(captured.captured_queries) == []
    guards = [q["sql"] for q in captured.captured_queries if "IS NOT DISTINCT FROM" in q["sql"]]
    assert len(guards) == 2  # one per command, in its write pipeline


def test_a_venue_given_an_adapter_after_the_cache_learnt_it_refuses_the_next_desk_report(
    desk: Any, boss: Any
) -> None:
    parent = create(desk)
    child(desk, parent["orderId"], qty="40", venue="XDESK")  # the cache: XDESK has no entry
    second = child(desk, parent["orderId"], qty="60", venue="XDESK", accept=False)
    venue(boss, "XDESK", adapter="SIM")
    status, js = accept(desk, second["orderId"])
    assert status == 409 and js["error"]["code"] == "venue_reports_only", js
    assert desk.get(f"/api/queries/orders/{second['orderId']}").json()["status"] == "PendingNew"


def test_a_registered_desk_venue_moved_to_an_adapter_refuses_the_next_desk_report(
    desk: Any, boss: Any
) -> None:
    venue(boss, "XDESK", adapter="MANUAL")
    parent = create(desk)
    child(desk, parent["orderId"], qty="40", venue="XDESK")  # accepted: the cache learns "MANUAL"
    second = child(desk, parent["orderId"], qty="60", venue="XDESK", accept=False)
    venue(boss, "XDESK", adapter="SIM")
    with CaptureQueriesContext(connection) as captured:
        status, js = accept(desk, second["orderId"])
    assert status == 409 and js["error"]["code"] == "venue_reports_only", js
    # the first attempt's guard failed (rolled back); the locked retry read the row
    assert len(registry_reads(captured.captured_queries)) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg pipelines: PostgreSQL only")
def test_a_warm_child_create_sends_its_checks_reads_with_the_claim_and_a_desk_accept_is_one_pipeline(
    desk: Any,
) -> None:
    parent = create(desk)
    child(desk, parent["orderId"], qty="10", venue="XDESK")  # warms the caches: tree, venue, reference

    def dispatch_as_desk(topic: str, body: dict[str, Any]) -> dict[str, Any]:
        return dispatch(topic, body, actor="desk").body  # type: ignore[no-any-return]  # the JSON body is Any

    body = {"commandType": "CreateOrderCommand", "clOrdID": uid("M"), "parentId": parent["orderId"]}
    with round_trips() as created_trips:
        created = dispatch_as_desk("orders", {**body, "orderQty": "20", "venue": "XDESK"})["order"]
    listing = "\n".join(f"{trip} {sql[:160]}" for trip, sql in created_trips)
    claim = next(trip for trip, sql in created_trips if "INSERT INTO order_cl_ord_ids" in sql)
    # the version, the book and the controls in force by one function call (rules/migrations/0010)
    for table in ("rules_pretrade_read", "FROM positions WHERE account"):
        assert [trip for trip, sql in created_trips if table in sql] == [claim], listing
    # its own position and its parent's come from those rows: none is read in a round trip of its
    # own, the write pipeline follows the claim (then COMMIT, and after it the reaction's reads)
    assert [sql for _, sql in created_trips if "FROM positions WHERE position_id" in sql] == [], listing
    write = next(trip for trip, sql in created_trips if 'INSERT INTO "orders"' in sql)
    assert write == claim + 1, listing
    assert created["status"] == "PendingNew"

    with round_trips() as accept_trips:
        accepted = dispatch_as_desk(
            "orders", {"commandType": "AcceptOrderCommand", "orderId": created["orderId"]}
        )
    assert accepted["order"]["status"] == "New"
    assert {trip for trip, _ in accept_trips} == {1}, accept_trips  # the write pipeline; then COMMIT
