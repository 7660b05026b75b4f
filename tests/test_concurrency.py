"""Concurrent writers on real connections: tree locking, optimistic concurrency and the event
feed's promise that a reader resuming after the last seq it saw never skips an event.

These run with committed transactions (transaction=True): each thread has its own connection.
On SQLite writers queue on the database lock; on PostgreSQL they queue on the tree's root row
and on the sequence row, which is what is being tested.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from oms.core import eventfeed
from oms.core.dispatch import dispatch
from oms.orders.selectors import order_get
from oms.positions.models import Position, PositionEvent
from tests.conftest import uid

pytestmark = pytest.mark.django_db(transaction=True)


def _client_with_markets(markets: int, qty: int) -> tuple[str, list[str]]:
    client = dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("CC"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": str(markets * qty),
            "ordType": "Limit",
            "price": "100",
            "account": "ACC",
            "handling": "Desk",
        },
        actor="t",
    ).body["order"]["orderId"]
    ids = []
    for _ in range(markets):
        m = dispatch(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": uid("CM"),
                "orderQty": str(qty),
                "venue": "MANUAL",
                "parentId": client,
            },
            actor="t",
        ).body["order"]["orderId"]
        dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": m}, actor="t")
        ids.append(m)
    return client, ids


def _in_threads(work: list[Any]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_concurrent_fills_on_one_tree_all_land_on_the_client_order() -> None:
    threads, fills, qty = 4, 10, 1
    client, markets = _client_with_markets(threads, fills * qty)

    def filler(market: str) -> Any:
        def go() -> None:
            for _ in range(fills):
                r = dispatch(
                    "executions",
                    {
                        "commandType": "ExecuteOrderCommand",
                        "orderId": market,
                        "execID": uid("X"),
                        "lastQty": str(qty),
                        "lastPx": "99.5",
                        "venue": "MANUAL",
                    },
                    actor="t",
                )
                assert r.body["execution"]["status"] == "Allocated"

        return go

    errors = _in_threads([filler(m) for m in markets])

    assert errors == []
    parent = order_get(client)
    assert Decimal(parent["cumQty"]) == threads * fills * qty
    assert Decimal(parent["allocatedQty"]) == threads * fills * qty
    assert parent["status"] == "Filled"
    assert Decimal(parent["avgPx"]) == Decimal("99.5")
    for m in markets:
        assert order_get(m)["status"] == "Filled"
    # the position took every fill once: concurrent fills never lose an update of its row
    positions = Position.objects.filter(account=client_account(client), symbol="ACME")
    assert sum(p.qty for p in positions) == threads * fills * qty
    assert sum(p.version for p in positions) >= threads * fills


def client_account(order_id: str) -> str:
    return str(order_get(order_id)["account"])


def test_a_reader_tailing_the_feed_sees_every_event_once_and_in_seq_order() -> None:
    writers, orders_each = 3, 8
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        after = 0
        while True:
            finished = done.is_set()
            batch = eventfeed.events_after(after, 200)
            for event in batch:
                seen.append(event["seq"])
                after = event["seq"]
            if finished and not batch:
                return

    def writer() -> None:
        for _ in range(orders_each):
            client, _ = _client_with_markets(1, 5)
            dispatch(
                "orders",
                {"commandType": "CancelOrderCommand", "orderId": client, "clOrdID": uid("CX")},
                actor="t",
            )

    reading = threading.Thread(target=lambda: _in_threads([reader]))
    reading.start()
    errors = _in_threads([writer for _ in range(writers)])
    done.set()
    reading.join(timeout=120)

    assert errors == []
    committed = [e["seq"] for e in eventfeed.events_after(0, 100_000)]
    assert seen == committed  # nothing skipped, nothing twice, in order
    assert committed == sorted(committed) and len(set(committed)) == len(committed)


def test_a_feed_page_is_read_in_one_statement_so_one_snapshot(django_assert_num_queries: Any) -> None:
    """Orders and executions live in separate tables: a read per table would take two snapshots,
    and a commit landing between them (seq 6 in the second table while seq 7 and 8 were seen in
    the first) would be skipped for good by a reader resuming after 8. One UNION ALL cannot."""
    _client, (market,) = _client_with_markets(1, 10)
    dispatch(
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": market,
            "execID": uid("X"),
            "lastQty": "1",
            "lastPx": "10",
            "venue": "XNAS",
        },
        actor="test",
    )
    with django_assert_num_queries(1):
        page = eventfeed.events_after(0, 100)
    # (and the seeded routing rules, the feed's first events; positions follow the orders)
    assert {e["topic"] for e in page} == {
        "rule-events",
        "order-events",
        "execution-events",
        "position-events",
    }
    assert [e["seq"] for e in page] == sorted(e["seq"] for e in page)


def test_a_stale_expected_version_is_refused_under_concurrency() -> None:
    _client, (market,) = _client_with_markets(1, 10)
    version = order_get(market)["version"]
    outcomes: list[Any] = []

    def replace(price: str) -> Any:
        def go() -> None:
            try:
                r = dispatch(
                    "orders",
                    {
                        "commandType": "ReplaceOrderCommand",
                        "orderId": market,
                        "clOrdID": uid("R"),
                        "price": price,
                        "expectedVersion": version,
                    },
                    actor="t",
                )
                outcomes.append(r.status_code)
            except Exception as exc:
                outcomes.append(getattr(exc, "code", repr(exc)))

        return go

    errors = _in_threads([replace("99"), replace("98")])

    assert errors == []
    # exactly one replace wins; the other either conflicts on the version or finds one pending
    assert sorted(map(str, outcomes)) in (["200", "version_conflict"], ["200", "replace_pending"])
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two writers at once: PostgreSQL")
def test_two_creates_that_both_read_a_new_position_as_absent_with_their_claim_leave_it_exact() -> None:
    """Each create's pre-trade read (sent with its clOrdID claim) finds no position for its
    account, venue and symbol: both optimistic attempts open it, one insert takes
    `positions_pkey`, the other's commit fails on it and its locked retry adds to the row."""
    from rules import intent

    account, barrier = uid("ACC"), threading.Barrier(2, timeout=30)
    registered = intent._positions_ahead[0]

    def ahead_then_wait(uow: Any, acc: str, symbol: str, rows: list[Any]) -> None:
        registered(uow, acc, symbol, rows)
        if acc == account and uow.optimistic:
            try:
                barrier.wait()  # both have read the position as absent before either writes it
            except threading.BrokenBarrierError:
                pass  # a locked retry of the other writer: nothing to wait for

    def create(qty: str) -> Any:
        def run() -> None:
            out = dispatch(
                "orders",
                {
                    "commandType": "CreateOrderCommand",
                    "clOrdID": uid("CP"),
                    "symbol": "ACME",
                    "side": "Buy",
                    "orderQty": qty,
                    "ordType": "Limit",
                    "price": "100",
                    "account": account,
                    "venue": "XNAS",
                    "handling": "Desk",
                },
                actor="t",
            )
            assert out.status_code == 201, out.body

        return run

    intent._positions_ahead[0] = ahead_then_wait
    try:
        errors = _in_threads([create("3"), create("4")])
    finally:
        intent._positions_ahead[0] = registered
    assert errors == []
    position = Position.objects.get(account=account, venue="XNAS", symbol="ACME")
    assert Decimal(position.doc["openBuyQty"]) == Decimal(7)
    # opened once (PositionOpened, then the first order's open quantity), then the retried
    # create's open quantity added to the row it read with its lock
    assert position.version == 3
    assert [e.type for e in PositionEvent.objects.filter(aggregate_id=position.position_id)].count(
        "PositionOpened"
    ) == 1


def _cursors_left_for_the_collector(release: bool) -> list[Any]:
    """A database error raised through Django's cursor (as a conflicting optimistic write's is),
    caught and dropped: which cursors are then left in reference cycles?"""
    import gc

    from django.db import DatabaseError
    from django.db.backends.utils import CursorWrapper

    from oms.core.dispatch import _frames_released

    def fail() -> None:
        connection.cursor().execute("SELECT no_such_column FROM no_such_table")

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        try:
            if release:
                with _frames_released():
                    fail()
            else:
                fail()
        except DatabaseError:
            pass
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, CursorWrapper)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_database_error_in_a_command_leaves_no_cursor_to_the_cycle_collector() -> None:
    """Django's DatabaseErrorWrapper leaves the error in a cycle with its frame, the cursor below
    it. On SQLite a cursor finalized by another thread's collection waits for its connection's
    mutex, held by its owner thread waiting for the write lock that the collecting thread holds:
    both stall for the 30 s busy timeout and one fails "database is locked" (it happened to
    test_concurrent_fills_on_one_tree_all_land_on_the_client_order). dispatch clears the frames."""
    assert _cursors_left_for_the_collector(release=True) == []
    assert _cursors_left_for_the_collector(release=False) != []  # the cycle the check is about
