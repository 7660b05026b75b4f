"""The positions the checks read go out in the reference read's statement (rules.pretrade.prefetch,
rules.intent.POSITIONS_TAGS): the order's own account and symbol, and `maxOpenNotional`'s wider
scope when it is another one, both in the one statement sent with the clOrdID claim; each answer
serves only the scope it was sent for. The checks refuse with the same numbers as a direct read:
positions another process moved, a wider scope, a scope the held snapshot guessed wrong."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from oms.orders.models import Order
from tests.controls_support import ok, order_body, send
from tests.other_process import dispatch_elsewhere

pytestmark = pytest.mark.django_db


def limits(client: Any, account: str = "*", symbol: str = "*", **fields: Any) -> None:
    body = {"commandType": "SetLimitsCommand", "account": account, "symbol": symbol, **fields}
    ok(client, "limits", body)


def refused(client: Any, rule: str, **terms: Any) -> dict[str, Any]:
    before = Order.objects.count()
    status, js = send(client, "orders", order_body(**terms))
    assert status == 422 and js["error"]["rule"] == rule, js
    assert Order.objects.count() == before
    return js["error"]["details"]  # type: ignore[no-any-return]  # the JSON body is Any


def positions_reads(queries: list[dict[str, Any]]) -> list[str]:
    """Statements that read positions for the checks (not the projection's lock by position_id)."""
    return [q["sql"] for q in queries if "FROM positions WHERE account" in q["sql"]]


def test_a_wider_open_notional_scope_is_read_in_the_same_statement_with_the_right_numbers(
    boss: Any, desk: Any
) -> None:
    # maxOpenNotional on the account, every symbol: the order's own positions and the account's
    limits(boss, account="ACC1", maxOpenNotional="15000")
    book = {"commandType": "SetBookCommand", "venue": "XNAS", "symbol": "OTHER"}
    ok(boss, "books", {**book, "bids": [["98", "5"]], "asks": [["102", "5"]]})  # OTHER's mark: 100
    ok(desk, "orders", order_body(symbol="OTHER", orderQty="50", price="90"))  # 5,000 open at the mark
    ok(desk, "orders", order_body(orderQty="60", price="100"))  # 6,000 open in ACME
    with CaptureQueriesContext(connection) as captured:
        details = refused(desk, "max_open_notional", orderQty="50", price="100")
    assert (details["value"], details["openBuy"], details["limit"]) == ("16000", "16000", "15000")
    assert details["unpriced"] == 0 and details["scope"] == {"account": "ACC1", "symbol": "*"}
    reads = positions_reads(captured.captured_queries)
    # one statement: the reference version, the book, the controls, both positions scopes
    assert len(reads) == 1 and "reference_version" in reads[0], reads
    assert "SELECT 3, NULL" in reads[0] and "SELECT 4, NULL" in reads[0], reads
    assert ok(desk, "orders", order_body(orderQty="40", price="100"))  # 10,000: at the limit


def test_a_scope_the_held_snapshot_guessed_wrong_is_read_afresh(boss: Any, desk: Any) -> None:
    limits(boss, account="ACC1", maxOpenNotional="100000")
    ok(desk, "orders", order_body(account="ACC2", orderQty="80", price="100"))  # 8,000 in ACC2
    ok(desk, "orders", order_body(orderQty="10", price="100"))  # warms the snapshot: (ACC1, *)
    # now the limit is on the symbol, every account: the process still holds the old snapshot
    # when it sends the reads, so it sends (ACC1, *); the check reads (*, ACME) itself
    limits(boss, account="ACC1", maxOpenNotional=None)
    limits(boss, symbol="ACME", maxOpenNotional="9500")
    details = refused(desk, "max_open_notional", orderQty="10", price="100")
    assert (details["value"], details["limit"]) == ("10000", "9500")  # ACC1 2,000 + ACC2 8,000
    assert details["scope"] == {"account": "*", "symbol": "ACME"}


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="two processes share one database on PostgreSQL"
)
@pytest.mark.django_db(transaction=True)  # committed: the other process sees the orders and limits
def test_positions_another_process_moved_are_read_by_the_next_order_here(boss: Any, desk: Any) -> None:
    limits(boss, account="ACC1", symbol="ACME", maxOpenNotional="10000")
    ok(desk, "orders", order_body(orderQty="60", price="100"))  # warms every cache of this process
    dispatch_elsewhere("orders", order_body(orderQty="30", price="100"), "desk-other-process")
    details = refused(desk, "max_open_notional", orderQty="20", price="100")
    # 60 here + 30 from the other process + this 20, all at 100
    assert (details["value"], details["openBuy"], details["limit"]) == ("11000", "11000", "10000")
    assert ok(desk, "orders", order_body(orderQty="10", price="100"))
