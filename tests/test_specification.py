"""Unit tests of the specification builder (oms/core/specification.py) with the order and
execution specifications: the builder, to_q against the database, matches() on rows and on API
documents (the same predicate), from_params parsing and its per-field errors, ordering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Q

from executions.selectors import ExecutionSpecification
from oms.core.errors import ValidationFailed
from oms.core.specification import Criterion, Specification
from oms.orders.enums import Kind, OrdStatus, Side
from oms.orders.models import Order
from oms.orders.selectors import OrderSpecification, order_query
from tests.conftest import uid


def test_builder_from_the_docstring() -> None:
    spec = OrderSpecification.builder().cl_ord_id("XYZ").status(OrdStatus.NEW).build()
    assert spec.criteria == (
        Criterion("cl_ord_id", "cl_ord_id", "eq", "XYZ", "clOrdID"),
        Criterion("status", "status", "eq", "New", "status"),
    )
    assert spec.to_q() == Q(cl_ord_id="XYZ") & Q(status="New")
    assert spec.matches({"cl_ord_id": "XYZ", "status": "New"})
    assert not spec.matches({"cl_ord_id": "XYZ", "status": "Filled"})
    assert not spec.matches({"cl_ord_id": "ABC", "status": "New"})
    assert spec.matches({"clOrdID": "XYZ", "status": "New"})  # an API document
    assert not spec.matches({"clOrdID": "ABC", "status": "New"})


def test_multi_value_criteria_become_in() -> None:
    spec = OrderSpecification.builder().status(OrdStatus.NEW, "PartiallyFilled").side(Side.BUY).build()
    assert spec.criteria[0] == Criterion("status", "status", "in", ("New", "PartiallyFilled"), "status")
    assert spec.to_q() == Q(status__in=("New", "PartiallyFilled")) & Q(side="Buy")
    assert spec.matches({"status": "PartiallyFilled", "side": "Buy"})
    assert not spec.matches({"status": "Filled", "side": "Buy"})
    assert OrderSpecification.builder().build().matches({"anything": 1})  # no criteria: all


def test_builder_rejects_unknown_criteria_and_bad_values() -> None:
    builder = OrderSpecification.builder()
    with pytest.raises(AttributeError):
        builder.no_such_thing("x")  # type: ignore[attr-defined]  # the test calls a method that does not exist on purpose
    with pytest.raises(ValueError, match="Bogus"):
        builder.status("Bogus")
    with pytest.raises(ValueError, match="ISO-8601"):
        builder.updated_after("yesterday")
    with pytest.raises(ValueError, match="one value"):
        builder.cl_ord_id("a", "b")
    with pytest.raises(ValueError, match="no value"):
        builder.status()
    with pytest.raises(ValueError, match="cannot order by 'bogus'"):
        builder.order("bogus")
    assert builder.build().criteria == ()  # failed additions left nothing behind


def test_ordering() -> None:
    spec = OrderSpecification.builder().order("symbol", "-orderQty").build()
    assert spec.order_by() == ("symbol", "-order_qty", "-order_id")  # ties broken by the id
    assert OrderSpecification.builder().build().order_by() == ("-created_at", "-order_id")
    assert OrderSpecification.builder().order("-orderId").build().order_by() == ("-order_id",)
    # every specification breaks ties by its id column (executions too, since the read-side registry)
    assert ExecutionSpecification.builder().order("transactTime").build().order_by() == (
        "transact_time",
        "-execution_id",
    )


def test_from_params_parses_the_api_names() -> None:
    spec = OrderSpecification.from_params(
        {
            "clOrdID": "C1",
            "status": "New, PartiallyFilled,",
            "symbol": "AAA",
            "rootId": "R",
            "parentId": "P",
            "handling": "Desk",
            "updatedAfter": "2026-01-31T14:30:00+01:00",
            "ordering": "-updatedAt, symbol",
            "unknown": "ignored",
            "side": "",
        }
    )
    by_name = {c.name: c for c in spec.criteria}
    assert set(by_name) == {
        "cl_ord_id",
        "status",
        "symbol",
        "root_id",
        "parent_id",
        "handling",
        "updated_after",
    }
    assert by_name["status"].value == ("New", "PartiallyFilled") and by_name["symbol"].op == "eq"
    assert by_name["updated_after"] == Criterion(
        "updated_after", "updated_at", "gt", dt.datetime(2026, 1, 31, 13, 30, tzinfo=dt.UTC), "updatedAt"
    )
    assert spec.order_by() == ("-updated_at", "symbol", "-order_id")
    naive = OrderSpecification.from_params({"updatedAfter": "2026-01-31T14:30:00"}).criteria[0].value
    assert naive == dt.datetime(2026, 1, 31, 14, 30, tzinfo=dt.UTC)  # UTC assumed


def test_from_params_collects_errors_per_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        OrderSpecification.from_params(
            {
                "status": "New,Bogus,Worse",
                "side": "Up",
                "kind": "Parent",
                "handling": "Robot",
                "updatedAfter": "yesterday",
                "createdAfter": "0001-01-01T00:00:00+01:00",
                "ordering": "nope,-symbol",
            }
        )
    fields = caught.value.fields
    assert set(fields) == {"status", "side", "kind", "handling", "updatedAfter", "createdAfter", "ordering"}
    assert "'Bogus' is not one of" in fields["status"][0]
    assert "'nope'" in fields["ordering"][0]
    assert caught.value.code == "validation_failed" and caught.value.http_status == 400
    with pytest.raises(ValidationFailed) as caught:
        ExecutionSpecification.from_params({"status": "Filled", "ordering": "symbol"})
    assert set(caught.value.fields) == {"status", "ordering"}


def test_criterion_operators() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert Criterion("q", "qty", "gte", Decimal("5")).matches({"qty": Decimal("5")})
    assert not Criterion("q", "qty", "lt", Decimal("5")).matches({"qty": Decimal("5")})
    assert Criterion("q", "qty", "lte", Decimal("5"), "orderQty").matches({"orderQty": "4.5"})
    assert not Criterion("q", "qty", "gt", Decimal("5")).matches({"qty": None})
    assert Criterion("t", "t", "icontains", "cm").matches({"t": "ACME"})
    assert Criterion("u", "updated_at", "gt", now, "updatedAt").matches({"updatedAt": "2026-01-01T00:00:01Z"})
    assert not Criterion("u", "updated_at", "gt", now, "updatedAt").matches(
        {"updatedAt": "2025-12-31T23:59:59Z"}
    )
    with pytest.raises(ValueError):
        Criterion("x", "x", "between", 1).matches({"x": 1})


# --- against the database: to_q and matches() agree -----------------------------------------------


@pytest.fixture
def orders(run: Callable[..., Any]) -> list[dict[str, Any]]:
    def create(**kw: Any) -> dict[str, Any]:
        body = {
            "commandType": "CreateOrderCommand",
            "clOrdID": uid("S"),
            "symbol": "AAA",
            "side": "Buy",
            "orderQty": "10",
            "ordType": "Limit",
            "price": "100",
            "account": "ACC1",
            "handling": "Desk",
            **kw,
        }
        return run("orders", body).body["order"]

    a = create()
    b = create(symbol="BBB", side="Sell", account="ACC2", orderQty="20")
    m = create(
        parentId=a["orderId"],
        orderQty="5",
        venue="MANUAL",
        symbol=None,
        side=None,
        account=None,
        ordType=None,
        price=None,
        handling=None,
    )
    run("orders", {"commandType": "CancelOrderCommand", "orderId": b["orderId"], "clOrdID": uid("K")})
    return [a, b, m]


def _specs(orders: list[dict[str, Any]]) -> list[Specification]:
    a, b, m = orders
    build = OrderSpecification.builder
    return [
        build().cl_ord_id(a["clOrdID"]).build(),
        build().status(OrdStatus.CANCELED).build(),
        build().status("New", "PendingNew").symbol("AAA").build(),
        build().kind(Kind.MARKET).build(),
        build().root_id(a["orderId"]).build(),
        build().parent_id(a["orderId"]).build(),
        build().order_id(a["orderId"], b["orderId"]).build(),
        build().side("Sell", "SellShort").account("ACC2").build(),
        build().venue("MANUAL").build(),
        build().updated_after(m["createdAt"]).build(),  # one command's time: a's update is not after it
        build().created_after("2000-01-01T00:00:00Z").handling("Desk").build(),
        OrderSpecification.from_params({"symbol": "BBB,AAA", "kind": "Client"}),
    ]


def test_to_q_and_matches_agree(orders: list[dict[str, Any]]) -> None:
    ids = {o["orderId"] for o in orders}
    docs = list(Order.objects.filter(order_id__in=ids).values_list("doc", flat=True))
    rows = list(Order.objects.filter(order_id__in=ids).values())
    expected = [
        {orders[0]["orderId"]},
        {orders[1]["orderId"]},
        {orders[0]["orderId"], orders[2]["orderId"]},
        {orders[2]["orderId"]},
        {orders[0]["orderId"], orders[2]["orderId"]},
        {orders[2]["orderId"]},
        {orders[0]["orderId"], orders[1]["orderId"]},
        {orders[1]["orderId"]},
        {orders[2]["orderId"]},
        {orders[1]["orderId"]},
        ids,
        {orders[0]["orderId"], orders[1]["orderId"]},
    ]
    for spec, want in zip(_specs(orders), expected, strict=True):
        in_db = set(order_query(spec).values_list("order_id", flat=True))
        assert in_db == want, spec
        assert {d["orderId"] for d in docs if spec.matches(d)} == want, spec  # API documents
        assert {r["order_id"] for r in rows if spec.matches(r)} == want, spec  # column-keyed rows


def test_apply_orders_the_queryset(orders: list[dict[str, Any]]) -> None:
    spec = OrderSpecification.builder().order("orderQty").build()
    assert [o.order_qty for o in spec.apply(Order.objects.all())] == [Decimal(5), Decimal(10), Decimal(20)]
    newest = OrderSpecification.builder().build().apply(Order.objects.all()).first()
    assert newest is not None and newest.order_id == orders[2]["orderId"]
