"""The checks' reference data: limit specificity against an independent resolution (Hypothesis),
the in-process cache of instruments and limits read with the book in one statement, and its
invalidation by any write (a command, a raw UPDATE, another process on PostgreSQL), never by a
transaction that rolled back."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from rules import reference
from rules.limits import ANY, LIMIT_FIELDS, effective_limits
from rules.models import Limit
from tests.conftest import uid
from tests.controls_support import instrument, ok, order_body, send
from tests.other_process import dispatch_elsewhere

ACTOR = "system:tests"
SCOPES = [(a, s) for a in ("A", "B", ANY) for s in ("S", "T", ANY)]


def set_limits(account: str, symbol: str, **fields: Any) -> None:
    dispatch(
        "limits",
        {"commandType": "SetLimitsCommand", "account": account, "symbol": symbol, **fields},
        actor=ACTOR,
    )


def _value(api: str) -> st.SearchStrategy[Any]:
    if api == "allowMarketOrders":
        return st.booleans()
    if api in ("maxOrdersPerSecond", "maxCancelReplacePerMinute"):
        return st.integers(1, 1000)
    return st.integers(1, 10**6).map(str)


# every scope, each field set (a value) or not (None): the command clears what an example leaves out
limit_sets = st.fixed_dictionaries(
    {scope: st.fixed_dictionaries({api: st.none() | _value(api) for api in LIMIT_FIELDS}) for scope in SCOPES}
)


def reference_resolution(
    limits: dict[tuple[str, str], dict[str, Any]], account: str, symbol: str
) -> dict[str, Any]:
    """Independently of rules.limits: of the scopes matching the order that set a field, the one
    naming the account wins, then the one naming the symbol."""
    out = {}
    for api in LIMIT_FIELDS:
        matching = [
            (scope, doc[api])
            for scope, doc in limits.items()
            if doc[api] is not None and scope[0] in (account, ANY) and scope[1] in (symbol, ANY)
        ]
        if matching:
            scope, value = max(matching, key=lambda m: (m[0][0] != ANY, m[0][1] != ANY))
            out[api] = (scope, value)
    return out


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(limits=limit_sets, order_scope=st.sampled_from([("A", "S"), ("B", "T"), ("C", "S"), ("A", "U")]))
def test_the_effective_limit_per_field_is_the_most_specific_scope_that_sets_it(
    limits: dict[tuple[str, str], dict[str, Any]], order_scope: tuple[str, str]
) -> None:
    for (account, symbol), fields in limits.items():
        set_limits(account, symbol, **fields)
    account, symbol = order_scope
    expected = reference_resolution(limits, account, symbol)
    got = effective_limits(account, symbol)
    assert {api: ((e.account, e.symbol), e.value) for api, e in got.items()} == {
        api: (scope, Decimal(v) if isinstance(v, str) else v) for api, (scope, v) in expected.items()
    }
    if "maxOrderQty" in expected:  # and an order one above it is refused by that very scope
        scope, qty = expected["maxOrderQty"]
        body = order_body(account=account, symbol=symbol, orderQty=str(int(qty) + 1), clOrdID=uid("H"))
        with pytest.raises(ApplicationError) as refused:
            dispatch("orders", body, actor="desk")
        assert refused.value.extra["details"]["scope"] == {"account": scope[0], "symbol": scope[1]}


# --- the cache ------------------------------------------------------------------------------------


def reference_reads(queries: list[dict[str, Any]]) -> list[str]:
    tables = (
        "reference_version",
        "rules_pretrade_read",  # PostgreSQL, at a venue: the version and the book (rules/migrations/0010)
        '"limits"',
        " limits",
        '"instruments"',
        " instruments",
        " books",
        '"books"',
    )
    # the positions' projection locks the order's position with its instrument's multiplier in
    # one statement (oms/positions/repository.py): a write of the order's events, not a check's read
    # (the checks' read of the positions is part of the reference read: it counts with it)
    return [
        q["sql"]
        for q in queries
        if "FROM" in q["sql"]
        and any(t in q["sql"] for t in tables)
        and "FROM positions WHERE position_id" not in q["sql"]
    ]


@pytest.mark.django_db
def test_a_warm_cache_reads_the_reference_data_and_the_book_in_one_statement(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "XBT", tickSize="0.5", lotSize="1", minQty="1")
    ok(
        boss,
        "books",
        {
            "commandType": "SetBookCommand",
            "venue": "SIM",
            "symbol": "XBT",
            "bids": [["99", "5"]],
            "asks": [["101", "5"]],
        },
    )
    ok(
        boss,
        "limits",
        {
            "commandType": "SetLimitsCommand",
            "account": "*",
            "symbol": "*",
            "maxOrderQty": "10",
            "priceCollarPct": "5",
        },
    )
    assert ok(desk, "orders", order_body(symbol="XBT", venue="SIM", orderQty="1", price="100"))  # warms it
    reloads = reference.stats["reloads"]
    with CaptureQueriesContext(connection) as captured:
        assert ok(desk, "orders", order_body(symbol="XBT", venue="SIM", orderQty="2", price="100"))
        status, js = send(desk, "orders", order_body(symbol="XBT", venue="SIM", orderQty="2", price="107"))
    assert status == 422 and js["error"]["details"]["referencePx"] == "101"  # the book was read
    reads = reference_reads(captured.captured_queries)
    head = "rules_pretrade_read" if connection.vendor == "postgresql" else "reference_version"
    assert len(reads) == 2 and all(head in sql for sql in reads), reads
    assert reference.stats["reloads"] == reloads


@pytest.mark.django_db
def test_a_tightened_limit_binds_the_next_order(boss: Any, desk: Any) -> None:
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "100"},
    )
    assert ok(desk, "orders", order_body(orderQty="50"))
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "10"},
    )
    status, js = send(desk, "orders", order_body(orderQty="50"))
    assert status == 422 and js["error"]["details"]["limit"] == "10"


@pytest.mark.django_db
def test_a_write_outside_the_commands_invalidates_too(boss: Any, desk: Any) -> None:
    """A replay, an admin repair or a manual UPDATE: the triggers move the version, not the handlers."""
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "100"},
    )
    assert ok(desk, "orders", order_body(orderQty="50"))
    row = Limit.objects.get()
    Limit.objects.filter(pk=row.pk).update(doc={**row.doc, "maxOrderQty": "10"})
    status, js = send(desk, "orders", order_body(orderQty="50"))
    assert status == 422 and js["error"]["details"]["limit"] == "10"
    Limit.objects.all().delete()
    assert ok(desk, "orders", order_body(orderQty="50"))


@pytest.mark.django_db
def test_a_cache_filled_in_a_rolled_back_transaction_is_never_taken_for_current(desk: Any) -> None:
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        set_limits(ANY, ANY, maxOrderQty="1")
        with pytest.raises(ApplicationError):
            dispatch("orders", order_body(orderQty="5"), actor="desk")  # the cache now holds the limit
        raise Undo
    # the limit never committed: the version the cache holds was never committed either
    assert ok(desk, "orders", order_body(orderQty="5"))
    set_limits("ACC1", ANY, maxOrderQty="2")  # a new version, not the rolled-back one again
    status, js = send(desk, "orders", order_body(orderQty="5"))
    assert status == 422 and js["error"]["details"]["limit"] == "2"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="two processes share one database on PostgreSQL"
)
def test_a_limit_set_by_another_process_binds_this_process_at_once(boss: Any, desk: Any) -> None:
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "100"},
    )
    assert ok(desk, "orders", order_body(orderQty="50"))  # this process caches maxOrderQty 100
    limits = {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "10"}
    dispatch_elsewhere("limits", limits, "system:other-process")
    status, js = send(desk, "orders", order_body(orderQty="50"))
    assert (
        status == 422 and js["error"]["rule"] == "max_order_qty" and js["error"]["details"]["limit"] == "10"
    )
