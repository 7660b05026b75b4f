"""Every order the OMS creates for the market at an adapter venue goes out on the send path, the
desk's children and slices too; and the desk never enters the reports of such an order.

Embedded default (tasks in-process, SIM in a file of its own); the same flow on a real worker is
tests/test_venues_worker.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from executions.models import Execution
from oms.core.dispatch import dispatch
from oms.core.eventfeed import events_after
from oms.venues.models import VenueSend
from oms.venues.sim.adapter import engine_for
from oms.venues.tasks import send_order
from tests.conftest import uid
from tests.test_venues_embedded import fresh_sim, ingest  # noqa: F401  (the autouse fixture)
from tests.venues_support import client_order, doc, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _child(parent_id: str, qty: str, venue: str = "SIM", **terms: Any) -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("DK"),
        "parentId": parent_id,
        "orderQty": qty,
        "venue": venue,
        **terms,
    }
    order: dict[str, Any] = dispatch("orders", body, actor="trader").body["order"]
    return order


def _desk_order(symbol: str, qty: str, venue: str = "SIM", **terms: Any) -> dict[str, Any]:
    terms = {k: v for k, v in {"ordType": "Limit", "price": "102", **terms}.items() if v is not None}
    return client_order(symbol, qty, handling="Desk", venue=venue, **terms)


def test_a_desk_client_order_sliced_into_two_children_at_sim_sends_both_which_fill() -> None:
    sim_instrument("BTC-PERP")
    sim_market("BTC-PERP", "100", "101", "5", "3")
    client = _desk_order("BTC-PERP", "10", ordType="Market", price=None)
    assert client["handling"] == "Desk" and not VenueSend.objects.exists(), "the desk works it"

    limit = _child(client["orderId"], "4", ordType="Limit", price="101")
    market = _child(client["orderId"], "6", ordType="Market")

    sends = {s.order_id: s for s in VenueSend.objects.all()}
    assert {sends[limit["orderId"]].action, sends[market["orderId"]].action} == {"Place"}
    assert sends[limit["orderId"]].cl_ord_id == limit["clOrdID"]
    wait_for(lambda: doc(limit["orderId"])["status"] == "PartiallyFilled", 2, ingest)
    sim_market("BTC-PERP", "100", "101", "5", "20")
    wait_for(lambda: doc(market["orderId"])["status"] == "Filled", 2, ingest)
    wait_for(lambda: doc(limit["orderId"])["status"] == "Filled", 2, ingest)

    root = doc(client["orderId"])
    assert (root["status"], Decimal(root["cumQty"])) == ("Filled", 10)
    for child in (limit, market):
        at_venue = engine_for("SIM").fetch_order(child["clOrdID"])
        assert at_venue is not None and at_venue.cum_qty == Decimal(child["orderQty"])
        fills = Execution.objects.filter(order_id=child["orderId"])
        assert sum(e.doc["lastQty"] and Decimal(e.doc["lastQty"]) for e in fills) == at_venue.cum_qty
        assert {e.doc["status"] for e in fills} == {"Allocated"}


def test_a_duplicated_send_task_of_a_desk_child_places_it_once() -> None:
    sim_instrument("ETH-PERP")
    sim_market("ETH-PERP", "100", "101", "5", "0")  # nothing to fill against: it rests
    client = _desk_order("ETH-PERP", "5")
    child = _child(client["orderId"], "5", ordType="Limit", price="100.5")
    assert doc(child["orderId"])["status"] == "New"

    again = send_order.apply(args=[child["orderId"]]).get()

    assert again is None  # the order is acknowledged and its send settled: nothing is sent
    assert [o.cl_ord_id for o in engine_for("SIM").fetch_open_orders(None)] == [child["clOrdID"]]
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1


def test_slices_of_a_market_order_kept_at_manual_go_to_sim_and_fill_it() -> None:
    sim_instrument("SOL-PERP")
    sim_market("SOL-PERP", "100", "101", "5", "9")
    client = _desk_order("SOL-PERP", "6", venue="MANUAL")
    parent = _child(client["orderId"], "6", venue="MANUAL", ordType="Limit", price="102")
    assert not VenueSend.objects.exists(), "a MANUAL order is worked by phone"
    dispatch("orders", {"commandType": "AcceptOrderCommand", "orderId": parent["orderId"]}, actor="trader")

    slices = [_child(parent["orderId"], "2", ordType="Limit", price="101") for _ in range(3)]

    assert {s.order_id for s in VenueSend.objects.all()} == {s["orderId"] for s in slices}
    wait_for(lambda: all(doc(s["orderId"])["status"] == "Filled" for s in slices), 2, ingest)
    assert (doc(parent["orderId"])["cumQty"], doc(client["orderId"])["cumQty"]) == ("6", "6")


def test_slicing_a_market_order_that_is_itself_at_sim_is_refused_and_changes_nothing(desk: Any) -> None:
    sim_instrument("XRP-PERP")
    sim_market("XRP-PERP", "100", "101", "5", "0")
    client = _desk_order("XRP-PERP", "4")
    parent = _child(client["orderId"], "4", ordType="Limit", price="100.5")
    before = len(events_after(0, 10_000))

    answer = desk.post(
        "/api/commands/orders",
        {"commandType": "CreateOrderCommand", "clOrdID": uid("SL"), "parentId": parent["orderId"],
         "orderQty": "1", "venue": "SIM"},
        format="json",
    )  # fmt: skip

    assert answer.status_code == 400, answer.json()
    assert answer.json()["error"]["code"] == "validation_failed"
    assert "parentId" in answer.json()["error"]["fields"]
    assert len(events_after(0, 10_000)) == before
    assert [o.cl_ord_id for o in engine_for("SIM").fetch_open_orders(None)] == [parent["clOrdID"]]


# --- the desk never enters reports for an adapter venue -------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        {"commandType": "AcceptOrderCommand"},
        {"commandType": "RejectOrderCommand", "text": "typed in"},
        {"commandType": "ConfirmCancelCommand", "text": "typed in"},
        {"commandType": "ExpireOrderCommand"},
        {"commandType": "DoneForDayCommand"},
        {"commandType": "RestateOrderCommand", "orderQty": "3", "text": "typed in"},
    ],
    ids=lambda c: c["commandType"],
)
def test_the_desk_entering_an_order_report_for_a_sim_order_is_refused_409(desk: Any, command: Any) -> None:
    sim_instrument("ADA-PERP")
    sim_market("ADA-PERP", "100", "101", "5", "0")
    client = _desk_order("ADA-PERP", "4")
    child = _child(client["orderId"], "4", ordType="Limit", price="100.5")
    version = doc(child["orderId"])["version"]

    answer = desk.post("/api/commands/orders", {**command, "orderId": child["orderId"]}, format="json")

    assert answer.status_code == 409, answer.json()
    error = answer.json()["error"]
    assert error["code"] == "venue_reports_only" and "orderId" in error["fields"]
    assert doc(child["orderId"])["version"] == version


def test_a_sim_orders_document_offers_only_cancel_and_replace_while_a_manual_one_offers_the_reports(
    desk: Any,
) -> None:
    sim_instrument("AVAX-PERP")
    sim_market("AVAX-PERP", "100", "101", "5", "0")  # nothing to fill against: it rests, New
    client = _desk_order("AVAX-PERP", "4")
    at_sim = _child(client["orderId"], "4", ordType="Limit", price="100.5")
    manual_client = _desk_order("AVAX-PERP", "4", venue="MANUAL")
    at_manual = _child(manual_client["orderId"], "4", venue="MANUAL", ordType="Limit", price="100.5")

    sim_doc = desk.get(f"/api/queries/orders/{at_sim['orderId']}").json()
    manual_doc = desk.get(f"/api/queries/orders/{at_manual['orderId']}").json()

    assert sim_doc["status"] == "New" and sim_doc["allowedActions"] == ["cancel", "replace"]
    assert manual_doc["status"] == "PendingNew"
    assert {"accept", "reject", "confirmCancel", "expire"} <= set(manual_doc["allowedActions"])
    # the client order is the OMS's own: the desk still works it whatever its venue
    assert "restate" in desk.get(f"/api/queries/orders/{client['orderId']}").json()["allowedActions"]


def test_the_desk_entering_a_fill_for_a_sim_order_is_refused_and_the_venues_own_fill_applies(
    desk: Any,
) -> None:
    sim_instrument("DOT-PERP")
    sim_market("DOT-PERP", "100", "101", "5", "0")
    client = _desk_order("DOT-PERP", "4")
    child = _child(client["orderId"], "4", ordType="Limit", price="101")
    fill = {
        "commandType": "ExecuteOrderCommand", "orderId": child["orderId"], "execID": uid("X"),
        "lastQty": "1", "lastPx": "101", "venue": "SIM",
    }  # fmt: skip

    answer = desk.post("/api/commands/executions", fill, format="json")
    elsewhere = desk.post(
        "/api/commands/executions", {**fill, "orderId": "O-none", "execID": uid("X")}, format="json"
    )

    assert answer.status_code == 409 and answer.json()["error"]["code"] == "venue_reports_only"
    assert elsewhere.status_code == 409 and "venue" in elsewhere.json()["error"]["fields"]
    assert not Execution.objects.exists()
    sim_market("DOT-PERP", "100", "101", "5", "9")  # the venue's own fill comes by the stream
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert Execution.objects.filter(order_id=child["orderId"]).count() == 1


def test_a_correction_or_bust_of_a_sim_trade_by_the_desk_is_refused(desk: Any) -> None:
    sim_instrument("LTC-PERP")
    sim_market("LTC-PERP", "100", "101", "5", "9")
    client = _desk_order("LTC-PERP", "2", ordType="Market", price=None)
    child = _child(client["orderId"], "2", ordType="Market")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    execution = Execution.objects.get(order_id=child["orderId"])

    correct = {"commandType": "CorrectExecutionCommand", "executionId": execution.pk, "lastPx": "100"}
    bust = {"commandType": "BustExecutionCommand", "executionId": execution.pk}
    answers = [desk.post("/api/commands/executions", body, format="json") for body in (correct, bust)]

    assert [a.status_code for a in answers] == [409, 409]
    assert {a.json()["error"]["code"] for a in answers} == {"venue_reports_only"}
    assert Execution.objects.get(pk=execution.pk).doc["version"] == execution.doc["version"]


def test_the_desk_still_enters_the_reports_of_a_manual_order(desk: Any) -> None:
    client = _desk_order("BTC-PERP", "2", venue="MANUAL")
    child = _child(client["orderId"], "2", venue="MANUAL", ordType="Limit", price="101")

    accepted = desk.post(
        "/api/commands/orders",
        {"commandType": "AcceptOrderCommand", "orderId": child["orderId"]},
        format="json",
    )
    filled = desk.post(
        "/api/commands/executions",
        {"commandType": "ExecuteOrderCommand", "orderId": child["orderId"], "execID": uid("X"),
         "lastQty": "2", "lastPx": "101", "venue": "MANUAL"},
        format="json",
    )  # fmt: skip

    assert (accepted.status_code, filled.status_code) == (200, 201)
    assert doc(child["orderId"])["status"] == "Filled"
