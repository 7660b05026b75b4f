"""The optimistic first attempt: cached tree states, claims in the write pipeline, and the locked
retry when the cache was stale or a key was taken (docs/architecture.md, "Optimistic writes").

A stale cache entry stands for another process having written the row: the entry is put back
to an older committed state by hand, exactly what a second OMS process would leave behind.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from oms.core import metrics
from oms.core.dispatch import dispatch
from oms.core.errors import VersionConflict
from oms.core.statecache import CACHE, StateCache
from oms.orders.errors import DuplicateClOrdID
from oms.orders.repository import ORDER
from oms.orders.selectors import order_get
from tests.conftest import uid

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(db: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """dispatch, with its after-commit callbacks run (the test's transaction never commits): they
    are what puts the states a command wrote into the cache."""

    def send(topic: str, body: dict[str, Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return dispatch(topic, body, actor="tester")

    return send


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(metrics, "optimistic_retry", seen.append)
    return seen


def _market(run: Callable[..., Any], client: str, qty: str) -> str:
    return str(
        run(
            "orders",
            {
                "commandType": "CreateOrderCommand",
                "clOrdID": uid("M"),
                "parentId": client,
                "orderQty": qty,
                "venue": "MANUAL",
            },
        ).body["order"]["orderId"]
    )


def _tree(run: Callable[..., Any], market_qty: str = "100") -> tuple[str, str]:
    client = run(
        "orders",
        {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("C"),
            "symbol": "ACME",
            "side": "Buy",
            "orderQty": "100",
            "ordType": "Limit",
            "price": "10",
            "account": "ACC",
            "handling": "Desk",
        },
    ).body["order"]["orderId"]
    return client, _market(run, client, market_qty)


def _fill(run: Callable[..., Any], market: str, qty: str, exec_id: str | None = None) -> Any:
    return run(
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": market,
            "execID": exec_id or uid("X"),
            "lastQty": qty,
            "lastPx": "10",
            "venue": "MANUAL",
        },
    )


def _restore(order_id: str, state: Any) -> None:
    """What a second process leaves in this one's cache: an older committed state."""
    CACHE.discard(ORDER.name, order_id)
    CACHE.put(ORDER.name, order_id, state)


def test_a_command_on_a_cached_tree_reads_and_locks_no_order_row_before_its_write_pipeline(
    run: Callable[..., Any], retries: list[str]
) -> None:
    _, market = _tree(run)
    with CaptureQueriesContext(connection) as queries:
        accepted = run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})

    assert accepted.body["order"]["status"] == "New"
    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not any("FROM orders" in sql and "version" not in sql for sql in reads), reads
    assert not any("FOR UPDATE" in q["sql"] for q in queries)
    assert retries == []


def test_a_fill_decided_on_a_stale_cached_order_is_retried_with_locks_and_lands_once(
    run: Callable[..., Any], retries: list[str]
) -> None:
    client, market = _tree(run)
    run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})
    stale_market = CACHE.get(ORDER.name, market)
    stale_client = CACHE.get(ORDER.name, client)
    _fill(run, market, "40")
    _restore(market, stale_market)
    _restore(client, stale_client)

    second = _fill(run, market, "60")

    assert retries == ["executions"]
    assert second.body["order"]["cumQty"] == "100"
    assert order_get(market)["status"] == "Filled"
    assert Decimal(order_get(client)["cumQty"]) == 100
    assert CACHE.get(ORDER.name, market).version == order_get(market)["version"]


def test_a_stale_parent_that_is_only_read_fails_the_version_check_and_is_retried(
    run: Callable[..., Any], retries: list[str]
) -> None:
    client, market = _tree(run, market_qty="50")
    stale_client = CACHE.get(ORDER.name, client)
    # the client order changes (a second market child) behind this process's back
    _market(run, client, "50")
    _restore(client, stale_client)
    before = order_get(client)

    # accepting a market order writes only its own row; its root was read from the cache
    accepted = run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})

    assert retries == ["orders"]
    assert accepted.body["order"]["status"] == "New"
    assert order_get(client)["version"] == before["version"]  # read, checked, not written
    assert CACHE.get(ORDER.name, client).version == before["version"]


def test_a_refusal_decided_on_a_stale_cached_order_is_decided_again_on_its_row(
    run: Callable[..., Any], retries: list[str]
) -> None:
    _, market = _tree(run)
    stale = CACHE.get(ORDER.name, market)
    accepted = run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})
    _restore(market, stale)

    # the client sends the version it saw (the row's), which the stale cache does not know
    canceled = run(
        "orders",
        {
            "commandType": "CancelOrderCommand",
            "orderId": market,
            "clOrdID": uid("K"),
            "expectedVersion": accepted.body["order"]["version"],
        },
    )

    assert retries == ["orders"]
    assert canceled.body["order"]["version"] > accepted.body["order"]["version"]


def test_a_real_version_conflict_is_still_a_409_after_the_locked_retry(
    run: Callable[..., Any], retries: list[str]
) -> None:
    _, market = _tree(run)
    with pytest.raises(VersionConflict):
        run("orders", {"commandType": "AcceptOrderCommand", "orderId": market, "expectedVersion": 99})
    assert retries == ["orders"]  # refused on a cached state: decided again on the row


def test_a_repeated_create_is_answered_as_the_duplicate_and_a_changed_one_refused(
    run: Callable[..., Any], retries: list[str]
) -> None:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("D"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "5",
        "ordType": "Limit",
        "price": "10",
        "account": "ACC",
        "handling": "Desk",
    }
    first = run("orders", body)
    again = run("orders", body)

    assert again.body["duplicate"] is True
    assert again.body["order"]["orderId"] == first.body["order"]["orderId"]
    with pytest.raises(DuplicateClOrdID):
        run("orders", {**body, "orderQty": "6"})


def test_a_repeated_exec_id_is_found_by_the_unique_index_and_answered_as_the_same_execution(
    run: Callable[..., Any], retries: list[str]
) -> None:
    _, market = _tree(run)
    run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})
    exec_id = uid("X")
    first = _fill(run, market, "10", exec_id)
    again = _fill(run, market, "10", exec_id)

    assert again.body["duplicate"] is True
    assert again.body["execution"]["executionId"] == first.body["execution"]["executionId"]
    assert order_get(market)["cumQty"] == "10"


def test_with_optimistic_writes_off_every_command_locks_its_tree_first(
    run: Callable[..., Any], settings: Any
) -> None:
    settings.OMS_OPTIMISTIC_WRITES = False
    _, market = _tree(run)
    with CaptureQueriesContext(connection) as queries:
        run("orders", {"commandType": "AcceptOrderCommand", "orderId": market})
    lock_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT doc FROM orders")]
    assert len(lock_reads) == 1
    assert ("FOR UPDATE" in lock_reads[0]) == (connection.vendor == "postgresql")


def test_the_cache_keeps_the_newest_version_and_drops_the_oldest_entries_past_its_bound() -> None:
    class S:
        def __init__(self, version: int) -> None:
            self.version = version

    cache = StateCache(max_entries=2)
    cache.put("a", "1", S(2))
    cache.put("a", "1", S(1))  # an older committed state never replaces a newer one
    cache.put("a", "2", S(1))
    cache.put("a", "3", S(1))

    assert cache.get("a", "1") is None  # the oldest entry went
    assert cache.get("a", "2") is not None and cache.get("a", "3") is not None
    cache.put("a", "2", S(5))
    assert cache.get("a", "2").version == 5


def test_states_read_or_written_in_a_transaction_that_rolls_back_never_enter_the_cache(
    run: Callable[..., Any], django_capture_on_commit_callbacks: Any
) -> None:
    _, market = _tree(run)
    before = CACHE.get(ORDER.name, market)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": market}, actor="t")
            # reads the accepted market order, which this enclosing transaction never commits
            _fill_raw(market)
            raise RuntimeError("the enclosing transaction rolls back")

    assert CACHE.get(ORDER.name, market).version == before.version
    assert order_get(market)["version"] == before.version


def _fill_raw(market: str) -> None:
    dispatch(
        "executions",
        {
            "commandType": "ExecuteOrderCommand",
            "orderId": market,
            "execID": uid("X"),
            "lastQty": "1",
            "lastPx": "10",
            "venue": "MANUAL",
        },
        actor="t",
    )


def test_a_repeated_child_placement_is_answered_as_the_duplicate_not_as_a_refusal_of_its_quantity(
    run: Callable[..., Any], retries: list[str]
) -> None:
    client, _ = _tree(run, market_qty="60")
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("M"),
        "parentId": client,
        "orderQty": "40",
        "venue": "MANUAL",
    }
    first = run("orders", body)

    # the parent has nothing left: the repeat must still be answered as the duplicate
    again = run("orders", body)

    assert again.body["duplicate"] is True
    assert again.body["order"]["orderId"] == first.body["order"]["orderId"]
