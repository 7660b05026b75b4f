"""Upgrading stored documents: rows written before a document field existed get it by migration.

`allowedActions` joined the order, execution, quote request and quote documents after data was
already stored (demo databases survive restarts). The data migrations add it to every state row
lacking it, derived from the document alone, so the API serves it and `replay --verify` stays
clean; the events keep the document as it was written, which replay does not count as damage.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as live_apps

from executions.models import Execution
from oms.core.replay import replay
from oms.lifecycle.audit import triggers_disabled
from oms.orders.models import Order, OrderEvent
from oms.quotes.models import Quote, QuoteRequest
from tests.lifecycle import Desk, new_quote, new_request

pytestmark = pytest.mark.django_db

MIGRATIONS = [
    ("oms.orders.migrations.0003_doc_allowed_actions", [Order]),
    ("executions.migrations.0003_doc_allowed_actions", [Execution]),
    ("oms.quotes.migrations.0002_doc_allowed_actions", [QuoteRequest, Quote]),
]


def _strip(model: Any) -> dict[str, list[str]]:
    """Make the rows look as they did before the field existed; answer what they should get."""
    wanted = {}
    for row in model.objects.all():
        wanted[row.pk] = row.doc["allowedActions"]
        model.objects.filter(pk=row.pk).update(
            doc={k: v for k, v in row.doc.items() if k != "allowedActions"}
        )
    return wanted


def _history(trader: Desk) -> None:
    market = trader.venue_order(100)  # a client order and its accepted market order
    trader.fill(market, 40)  # an execution
    new_quote(new_request())  # a quote request with a quote


def test_the_migrations_give_every_old_row_its_allowed_actions(trader: Desk) -> None:
    _history(trader)
    for module, models in MIGRATIONS:
        migration = importlib.import_module(module).Migration
        wanted = {m: _strip(m) for m in models}
        assert all(wanted.values()), f"{module}: no rows to upgrade"
        for op in migration.operations:
            op.code(live_apps, None)
        for model, docs in wanted.items():
            got = dict(model.objects.values_list("pk", "doc__allowedActions"))
            assert got == docs, model.__name__


def test_a_row_already_upgraded_is_left_alone(trader: Desk) -> None:
    _history(trader)
    order = Order.objects.first()
    assert order is not None
    Order.objects.filter(pk=order.pk).update(doc={**order.doc, "allowedActions": ["marker"]})
    migration = importlib.import_module(MIGRATIONS[0][0]).Migration
    migration.operations[0].code(live_apps, None)
    order.refresh_from_db()
    assert order.doc["allowedActions"] == ["marker"]


def test_replay_accepts_events_written_before_a_document_field_existed(trader: Desk) -> None:
    _history(trader)
    with triggers_disabled("order_events"):
        for event in OrderEvent.objects.all():
            state = {k: v for k, v in event.state.items() if k != "allowedActions"}
            OrderEvent.objects.filter(pk=event.pk).update(state=state)
    assert all("allowedActions" not in e.state for e in OrderEvent.objects.all())
    report = replay()
    assert report.ok, report


def test_replay_still_reports_a_changed_field_in_an_old_event(trader: Desk) -> None:
    _history(trader)
    event = OrderEvent.objects.order_by("pk").first()
    assert event is not None
    with triggers_disabled("order_events"):
        OrderEvent.objects.filter(pk=event.pk).update(state={**event.state, "symbol": "TAMPERED"})
    report = replay()
    assert not report.ok


def _pending_new_as_written_before(trader: Desk) -> Order:
    """A PendingNew market order whose row and events still offer the desk a fill, as written
    before the fill waited for the venue's acknowledgement."""
    market = trader.venue_order(10, accept=False)
    assert "fill" not in market["allowedActions"]
    old = [*market["allowedActions"], "fill"]
    Order.objects.filter(pk=market["orderId"]).update(doc={**market, "allowedActions": old})
    with triggers_disabled("order_events"):
        for event in OrderEvent.objects.filter(aggregate_id=market["orderId"]):
            OrderEvent.objects.filter(pk=event.pk).update(state={**event.state, "allowedActions": old})
    return Order.objects.get(pk=market["orderId"])


def test_the_migration_takes_the_fill_away_from_stored_pending_new_orders(trader: Desk) -> None:
    order = _pending_new_as_written_before(trader)
    accepted = trader.venue_order(10)  # acknowledged: keeps its fill
    assert not replay().ok  # the state row says what the code no longer derives

    migration = importlib.import_module("oms.orders.migrations.0005_doc_allowed_actions_no_fill_before_ack")
    for op in migration.Migration.operations:
        op.code(live_apps, None)

    order.refresh_from_db()
    assert "fill" not in order.doc["allowedActions"]
    assert "fill" in Order.objects.get(pk=accepted["orderId"]).doc["allowedActions"]
    # the events keep what was derived when they were written: not damage
    assert all("fill" in e.state["allowedActions"] for e in OrderEvent.objects.filter(aggregate_id=order.pk))
    report = replay()
    assert report.ok, report


@pytest.mark.parametrize(
    ("module", "in_scope"),
    [
        # 0005: a fill is no longer offered before the venue's acknowledgement
        (
            "oms.orders.migrations.0005_doc_allowed_actions_no_fill_before_ack",
            lambda doc: doc["phase"] == "PendingNew",
        ),
        # 0006: the venue's reports are not offered where its adapter reports them
        (
            "oms.orders.migrations.0006_doc_allowed_actions_adapter_venues",
            lambda doc: doc["kind"] != "Client",
        ),
    ],
)
def test_a_rule_change_rewrites_the_stored_actions_of_the_rows_it_concerns(
    trader: Desk, module: str, in_scope: Any
) -> None:
    trader.venue_order(100, accept=False)  # a client order and its PendingNew market order
    stale = ["stale"]
    rows = list(Order.objects.all())
    wanted = {row.pk: row.doc["allowedActions"] for row in rows}
    for row in rows:
        Order.objects.filter(pk=row.pk).update(doc={**row.doc, "allowedActions": stale})
    for op in importlib.import_module(module).Migration.operations:
        op.code(live_apps, None)
    got = dict(Order.objects.values_list("pk", "doc__allowedActions"))
    concerned = {row.pk for row in rows if in_scope(row.doc)}
    assert concerned and concerned != set(wanted)  # the market order, not its client order
    assert {pk: got[pk] for pk in concerned} == {pk: wanted[pk] for pk in concerned}
    assert all(got[pk] == stale for pk in wanted if pk not in concerned)
