"""The market order of an Auto client order is sent by the task that placed it, right after its
commit: no `venues.send_order` task is enqueued for it, and the claim on the send still makes one
venue order however often the placement task runs (twice, redelivered after dying between its
commit and the send, or in the middle of the send).

In-process (the embedded default, SQLite or PostgreSQL): the placement task runs eagerly and is
run again by hand as a redelivery would run it. The same on a real worker killed mid-send:
tests/test_venues_worker.py.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from celery import current_task
from django.db import transaction

from oms.orders.tasks import place_client_order
from oms.venues import sending, tasks
from oms.venues.adapter import PlaceRequest, VenueOrderReport
from oms.venues.models import VenueSend
from oms.venues.sim.adapter import SimAdapter, engine_for
from tests.venues_support import (
    children,
    client_order,
    doc,
    fresh_sim_venue,
    ingest,
    sim_faults,
    sim_instrument,
    sim_market,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    with fresh_sim_venue(settings, tmp_path):
        yield


class Spy:
    """Who called the SIM's place_order (the task running it), and every send_order enqueued."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.places: list[str | None] = []
        self.enqueued: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        place, enqueue = SimAdapter.place_order, tasks.send_order.apply_async

        def spied_place(adapter: SimAdapter, request: PlaceRequest) -> VenueOrderReport:
            self.places.append(current_task.name if current_task else None)
            return place(adapter, request)

        def spied_enqueue(args: tuple[Any, ...], kwargs: Any = None, **options: Any) -> Any:
            self.enqueued.append((tuple(args), options))
            return enqueue(args, kwargs, **options)

        monkeypatch.setattr(SimAdapter, "place_order", spied_place)
        monkeypatch.setattr(tasks.send_order, "apply_async", spied_enqueue)  # .delay comes here too


def venue_orders(symbol: str) -> list[dict[str, Any]]:
    return [o for o in engine_for("SIM").store.hvals("orders") if o["symbol"] == symbol]


def market_at_sim(symbol: str) -> None:
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "50")


def test_the_placed_market_order_is_sent_inside_the_placing_task_and_no_send_task_is_enqueued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PS-PERP")
    spy = Spy(monkeypatch)

    client = client_order("PS-PERP", "3")

    [child] = children(client["orderId"])
    assert spy.enqueued == [], "no venues.send_order task for the placed order"
    assert spy.places == [place_client_order.name], "SIM was called from inside the placement task"
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.status, send.attempts, send.outcome) == ("Done", 1, "Filled")
    assert doc(child["orderId"])["status"] != "PendingNew", "the send's answer is in"
    assert len(venue_orders("PS-PERP")) == 1


def test_a_desk_market_order_at_sim_still_goes_out_on_its_own_send_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oms.core.dispatch import dispatch

    market_at_sim("PD-PERP")
    spy = Spy(monkeypatch)
    client = client_order("PD-PERP", "4", handling="Desk")
    body = {"commandType": "CreateOrderCommand", "clOrdID": "PD-KID-1", "parentId": client["orderId"],
            "orderQty": "4", "venue": "SIM"}  # fmt: skip
    kid = dispatch("orders", body, actor="trader").body["order"]

    assert [args for args, _ in spy.enqueued] == [(kid["orderId"],)], (
        "one send_order task, for the desk's order"
    )
    assert spy.places == ["venues.send_order"]
    assert VenueSend.objects.get(pk="PD-KID-1").attempts == 1


def test_the_placement_task_run_again_after_it_finished_sends_nothing_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PT-PERP")
    client = client_order("PT-PERP", "2")
    [child] = children(client["orderId"])
    spy = Spy(monkeypatch)

    place_client_order.apply(args=(client["orderId"],), throw=True)  # a duplicate delivery
    place_client_order.apply(args=(client["orderId"],), throw=True)

    assert len(children(client["orderId"])) == 1, "nothing placed twice"
    assert spy.places == [] and spy.enqueued == []
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1
    assert len(venue_orders("PT-PERP")) == 1


def _die_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> Callable[[], None]:
    """Make `owner.name` raise once, like a worker killed at that point; returns the undo."""
    real = getattr(owner, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(owner, name, real)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(owner, name, dying)
    return lambda: monkeypatch.setattr(owner, name, real)


def test_a_placement_redelivered_after_dying_between_its_commit_and_the_send_sends_the_order_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PK-PERP")
    _die_once(monkeypatch, tasks, "send_placed")  # the commit is done, the send never starts

    client = client_order("PK-PERP", "3")
    [child] = children(client["orderId"])
    assert doc(child["orderId"])["status"] == "PendingNew"
    assert not VenueSend.objects.filter(order_id=child["orderId"]).exists()
    assert venue_orders("PK-PERP") == []
    spy = Spy(monkeypatch)

    place_client_order.apply(args=(client["orderId"],), throw=True)  # the broker redelivers it

    assert len(children(client["orderId"])) == 1, "the placement is not made again"
    assert spy.places == [place_client_order.name] and spy.enqueued == []
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1
    assert len(venue_orders("PK-PERP")) == 1
    assert wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)


def test_a_placement_redelivered_after_dying_in_the_middle_of_the_send_asks_the_venue_and_does_not_resend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PM-PERP")
    _die_once(monkeypatch, sending, "finish")  # SIM has the order, the OMS has not heard

    client = client_order("PM-PERP", "3")
    [child] = children(client["orderId"])
    assert VenueSend.objects.get(pk=child["clOrdID"]).status == "Claimed"
    assert len(venue_orders("PM-PERP")) == 1
    spy = Spy(monkeypatch)

    place_client_order.apply(args=(client["orderId"],), throw=True)

    assert spy.places == [], "the claim was taken: the venue is asked, nothing is sent again"
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.status, send.attempts) == ("Done", 2)
    assert len(venue_orders("PM-PERP")) == 1
    assert wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)


def test_a_transient_error_on_the_placing_tasks_send_is_retried_by_send_order_on_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PR-PERP")
    sim_faults(rateLimitNext=1)
    spy = Spy(monkeypatch)

    client = client_order("PR-PERP", "2")

    [child] = children(client["orderId"])
    [(args, options)] = spy.enqueued
    assert args == (child["orderId"],)
    assert options["retries"] == 1, "the placing task's attempt counts among the retries"
    assert options["countdown"] >= 0.5, "with the backoff (eager here: run at once)"
    assert spy.places == [place_client_order.name, "venues.send_order"]
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.status, send.attempts) == ("Done", 2)
    assert len(venue_orders("PR-PERP")) == 1
    assert wait_for(lambda: Decimal(doc(child["orderId"])["cumQty"]) == 2, 2, ingest)


def test_a_redelivered_placement_leaves_a_send_waiting_for_its_retry_to_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PW-PERP")
    sim_faults(rateLimitNext=1)
    monkeypatch.setattr(tasks.send_order, "apply_async", lambda *args, **options: None)  # still queued

    client = client_order("PW-PERP", "2")
    [child] = children(client["orderId"])
    assert VenueSend.objects.get(pk=child["clOrdID"]).status == "Retrying"
    spy = Spy(monkeypatch)

    place_client_order.apply(args=(client["orderId"],), throw=True)

    assert spy.places == [], "the rate limit's wait is the queued retry's, not skipped"
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1
    assert venue_orders("PW-PERP") == []


def test_a_placement_run_inside_a_callers_transaction_sends_nothing_before_that_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market_at_sim("PA-PERP")
    monkeypatch.setattr(place_client_order, "delay", lambda *args, **kwargs: None)  # placed by hand below
    client = client_order("PA-PERP", "2")
    spy = Spy(monkeypatch)

    with transaction.atomic():
        place_client_order.apply(args=(client["orderId"],), throw=True)
        [child] = children(client["orderId"])
        assert spy.places == [] and spy.enqueued == [], "nothing reaches the venue before the commit"

    assert [args for args, _ in spy.enqueued] == [(child["orderId"],)], "the creation's reaction sends it"
    assert spy.places == ["venues.send_order"]
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1
    assert len(venue_orders("PA-PERP")) == 1
