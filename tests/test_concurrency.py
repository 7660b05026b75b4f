"""Concurrent writers on real connections: tree locking, optimistic concurrency and the event
feed's promise that a reader resuming after the last seq it saw never skips an event.

These run with committed transactions (transaction=True): each thread has its own connection.
On SQLite writers queue on the database lock; on PostgreSQL they queue on the tree's root row,
while their commits overlap: numbers come from a sequence and every feed read stops at the
horizon (oms/core/sequence.py). The late committer, the rolled-back writer and the tailing reader
among slow and failing commits below are what prove that no event is ever skipped.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction

from oms.core import eventfeed, publishing, sequence
from oms.core.dispatch import dispatch
from oms.orders.selectors import order_get
from oms.positions.models import Position
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
    end = sequence.horizon()  # PostgreSQL: the horizon, in a statement of its own before the page
    with django_assert_num_queries(1):
        page = eventfeed.events_after(0, 100, end=end)
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


# --- the horizon (PostgreSQL): late commits, rollbacks, a tailing reader ---------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serializes commits: there is no horizon to test"
)


def _client_order(account: str) -> list[int]:
    """One client order (its own account: no row shared with another writer); its events' seqs."""
    result = dispatch(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("CH"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "5",
            "ordType": "Limit",
            "price": "100",
            "account": account,
            "handling": "Desk",
        },
        actor="t",
    )
    return [e["seq"] for e in result.events]


class _HeldOpen:
    """A writer whose transaction takes its numbers, then stays open until `release()`: it commits
    (or rolls back, `fail=True`) late, after other writers took higher numbers and committed."""

    def __init__(self, account: str, *, fail: bool = False) -> None:
        self.seqs: list[int] = []
        self.took = threading.Event()
        self._release = threading.Event()
        self.errors: list[BaseException] = []
        self._fail = fail
        self.thread = threading.Thread(target=self._run, args=(account,))
        self.thread.start()
        assert self.took.wait(30), self.errors

    def _run(self, account: str) -> None:
        try:
            with transaction.atomic():
                self.seqs = _client_order(account)
                self.took.set()
                assert self._release.wait(60)
                if self._fail:
                    raise RuntimeError("rolled back on purpose")
        except RuntimeError:
            pass
        except BaseException as exc:  # asserted by the test
            self.errors.append(exc)
            self.took.set()
        finally:
            connections.close_all()

    def release(self) -> None:
        self._release.set()
        self.thread.join(30)
        assert not self.thread.is_alive() and self.errors == []


def _start() -> int:
    """Where the feed ends after one committed command (it creates the rows every command shares
    after a flush, e.g. the reference cache's version row, which a held writer would hold)."""
    _committed_elsewhere(uid("ACC-WARM"))
    return sequence.feed_end()


def _committed_elsewhere(account: str) -> list[int]:
    out: list[int] = []
    errors = _in_threads([lambda: out.extend(_client_order(account))])
    assert errors == []
    return out


@needs_postgresql
def test_a_late_commit_holds_the_feed_back_until_it_commits_then_comes_first() -> None:
    start = _start()
    late = _HeldOpen(uid("ACC-LATE"))
    early = _committed_elsewhere(uid("ACC-EARLY"))  # higher numbers, committed first
    assert min(early) > max(late.seqs)

    # the feed stops below the late writer's numbers: a reader cannot step past them
    assert sequence.feed_end() < min(late.seqs)
    held = eventfeed.events_after(start, 1000)
    assert all(e["seq"] < min(late.seqs) for e in held)
    assert publishing.read_events(start, 1000) == held
    assert eventfeed.count_events_after(start, end=sequence.horizon()) == len(held)

    late.release()
    page = [e["seq"] for e in eventfeed.events_after(start, 1000)]
    assert [s for s in page if s in late.seqs or s in early] == sorted(late.seqs + early)
    assert page == sorted(page) and sequence.feed_end() >= max(early)


@needs_postgresql
def test_a_rolled_back_writer_leaves_a_hole_that_readers_step_over_at_once() -> None:
    start = _start()
    doomed = _HeldOpen(uid("ACC-DOOMED"), fail=True)
    after = _committed_elsewhere(uid("ACC-AFTER"))
    assert [e["seq"] for e in eventfeed.events_after(start, 1000) if e["seq"] in after] == []

    doomed.release()  # rolled back: its numbers are a hole for ever
    seen = [e["seq"] for e in eventfeed.events_after(start, 1000)]
    assert set(after) <= set(seen) and not set(doomed.seqs) & set(seen)
    assert sequence.feed_end() >= max(after)

    # the publisher steps over the hole in its first batch: nothing waited for
    got: list[int] = []

    class Sink(publishing.Sink):
        durable = False
        name = "hole-test"

        async def publish(self, events: Any) -> int:
            got.extend(e["seq"] for e in events)
            return len(events)

    runner = publishing.SinkRunner(Sink(), publishing._Db())
    runner.cursor = start

    async def drain() -> int:
        began = time.monotonic()
        n = await runner.drain(time.monotonic() + 10)
        assert time.monotonic() - began < 5
        await runner.close()
        await runner.db.close()
        return n

    assert asyncio.run(drain()) == len(seen)
    assert got == seen and runner.stats.gaps >= 1


@needs_postgresql
def test_a_tailing_reader_never_skips_among_slow_and_rolled_back_commits() -> None:
    """Writers whose commits are slow (a transaction held open after its numbers were taken) or
    fail (rolled back: holes) while a reader tails the feed from its last seq: the reader ends with
    exactly the committed events, in seq order, each once."""
    start = _start()
    seen: list[int] = []
    done = threading.Event()
    rolled_back: list[int] = []

    def reader() -> None:
        after = start
        while True:
            finished = done.is_set()
            batch = eventfeed.events_after(after, 200)
            for event in batch:
                seen.append(event["seq"])
                after = event["seq"]
            if finished and not batch:
                return

    def writer(k: int) -> Any:
        def go() -> None:
            rng = random.Random(k)
            for i in range(12):
                account = f"ACC-TAIL-{k}-{i}"
                roll = rng.random()
                if roll < 0.3:
                    _client_order(account)
                    continue
                try:
                    with transaction.atomic():
                        seqs = _client_order(account)
                        time.sleep(rng.uniform(0.1, 0.3))  # a slow commit, numbers already taken
                        if roll > 0.8:
                            rolled_back.extend(seqs)
                            raise LookupError("rolled back")
                except LookupError:
                    pass

        return go

    reading = threading.Thread(target=lambda: _in_threads([reader]))
    reading.start()
    errors = _in_threads([writer(k) for k in range(4)])
    done.set()
    reading.join(timeout=120)

    assert errors == []
    committed = [e["seq"] for e in eventfeed.events_after(start, 100_000)]
    assert seen == committed  # nothing skipped, nothing twice, in order
    assert rolled_back and not set(rolled_back) & set(committed)  # holes, stepped over
