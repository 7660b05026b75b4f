"""A replace at a venue without amend is a cancel and a new order (oms.venues.cancel_place): the
new one only once the cancel is confirmed, nothing placed when the old order filled, an unknown
outcome left unknown (never resent), and one FIX replace history on the OMS order.

SIM without amend (`OMS_SIM_AMEND=False`) in-process, then a real ccxt binance exchange without
editOrder whose HTTP is stubbed with recorded-format answers (tests/ccxt_support.py).
"""

from __future__ import annotations

import copy
import itertools
import time
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from django.core.management import call_command

from executions.models import Execution
from oms.core.dispatch import dispatch
from oms.orders.models import Order, OrderEvent
from oms.venues import tasks
from oms.venues.adapter import reset_adapters
from oms.venues.models import VenueDeadLetter, VenueSend
from oms.venues.sim.adapter import engine_for
from tests.ccxt_support import ErrorBody, cases
from tests.conftest import uid
from tests.test_venues_ccxt_setup import fixture_fed_binance  # noqa: F401  (the stubbed exchange)
from tests.test_venues_embedded import fresh_sim, ingest  # noqa: F401  (the autouse SIM)
from tests.venues_support import children, client_order, doc, sim_faults, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_amend(settings: Any) -> None:
    settings.OMS_SIM_AMEND = False
    reset_adapters()


def _replace(order_id: str, **terms: str) -> str:
    cl_ord_id = uid("RP")
    body = {"commandType": "ReplaceOrderCommand", "orderId": order_id, "clOrdID": cl_ord_id, **terms}
    dispatch("orders", body, actor="trader")
    return cl_ord_id


def _history(order_id: str) -> list[str]:
    return list(
        OrderEvent.objects.filter(aggregate_id=order_id).order_by("version").values_list("type", flat=True)
    )


def _resting(symbol: str, qty: str, price: str, ask_size: str = "0") -> dict[str, Any]:
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", ask_size)
    client = client_order(symbol, qty, ordType="Limit", price=price)
    [child] = children(client["orderId"])
    return child


def test_sim_without_amend_cancels_then_places_the_new_terms_under_the_replace_clordid(
    no_amend: None,
) -> None:
    child = _resting("BTC-PERP", "6", "100.5")
    old = child["clOrdID"]

    new = _replace(child["orderId"], orderQty="4", price="100")

    replaced = doc(child["orderId"])
    assert (replaced["status"], replaced["clOrdID"], replaced["origClOrdID"]) == ("New", new, old)
    assert (replaced["orderQty"], replaced["price"]) == ("4", "100")
    assert _history(child["orderId"])[-2:] == ["OrderReplaceRequested", "OrderReplaced"]
    sim = engine_for("SIM")
    was, now = sim.fetch_order(old), sim.fetch_order(new)
    assert was is not None and was.status.value == "Canceled"
    assert now is not None and (now.status.value, now.order_qty, now.price) == ("New", 4, Decimal(100))
    assert now.venue_order_id != was.venue_order_id
    send = VenueSend.objects.get(pk=new)
    assert (send.action, send.status, send.venue_order_id) == ("Replace", "Done", now.venue_order_id)

    sim_market("BTC-PERP", "99", "100", "5", "10")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert doc(child["orderId"])["cumQty"] == "4"
    assert [o.cl_ord_id for o in sim.fetch_open_orders(None)] == []


def test_what_the_old_order_filled_counts_and_the_new_one_is_placed_for_the_rest(no_amend: None) -> None:
    child = _resting("ETH-PERP", "10", "101", ask_size="3")  # 3 fill at once, 7 rest
    wait_for(lambda: doc(child["orderId"])["cumQty"] == "3", 2, ingest)

    new = _replace(child["orderId"], orderQty="8")

    placed = engine_for("SIM").fetch_order(new)
    assert placed is not None and placed.order_qty == 5, "8 minus the 3 the old order filled"
    # reconciliation reads the OMS order (cumQty 3, orderQty 8) against the live venue order
    # (cumQty 0 of 5): the 3 its predecessor filled is no discrepancy
    ran = dispatch("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"}, actor="trader").body
    assert (ran["discrepancies"], ran["safeMode"]) == ([], False)
    sim_market("ETH-PERP", "100", "101", "5", "20")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    filled = doc(child["orderId"])
    assert (filled["orderQty"], filled["cumQty"]) == ("8", "8")
    executions = Execution.objects.filter(order_id=child["orderId"])
    assert sum(Decimal(e.doc["lastQty"]) for e in executions) == 8
    assert {e.doc["status"] for e in executions} == {"Allocated"}, "no fill held for review"


def test_a_second_replace_places_the_rest_after_every_earlier_venue_order_filled(no_amend: None) -> None:
    child = _resting("XRP-PERP", "10", "101", ask_size="3")  # A: 3 of 10 fill
    wait_for(lambda: doc(child["orderId"])["cumQty"] == "3", 2, ingest)
    _replace(child["orderId"], orderQty="9")  # B: 9 - 3 = 6
    sim_market("XRP-PERP", "100", "101", "5", "2")  # B: 2 of 6 fill
    wait_for(lambda: doc(child["orderId"])["cumQty"] == "5", 2, ingest)

    third = _replace(child["orderId"], orderQty="8")  # C: 8 - (3 + 2) = 3, not 8 - 2

    placed = engine_for("SIM").fetch_order(third)
    assert placed is not None and placed.order_qty == 3
    ran = dispatch("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"}, actor="trader").body
    assert ran["discrepancies"] == []
    sim_market("XRP-PERP", "100", "101", "5", "20")
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert (doc(child["orderId"])["orderQty"], doc(child["orderId"])["cumQty"]) == ("8", "8")
    assert {e.doc["status"] for e in Execution.objects.filter(order_id=child["orderId"])} == {"Allocated"}


def test_a_replace_below_what_the_venue_filled_places_nothing_and_ends_the_order(no_amend: None) -> None:
    child = _resting("SOL-PERP", "10", "101", ask_size="4")
    new = _replace(child["orderId"], orderQty="3")

    wait_for(lambda: doc(child["orderId"])["cumQty"] == "4", 2, ingest)
    ended = doc(child["orderId"])
    assert (ended["status"], ended["clOrdID"] != new) == ("Canceled", True)
    assert "OrderReplaceRejected" in _history(child["orderId"])
    assert engine_for("SIM").fetch_order(new) is None, "nothing placed"


def test_a_cancel_leg_that_finds_the_order_filled_places_nothing_and_rejects_the_replace(
    no_amend: None,
) -> None:
    child = _resting("ADA-PERP", "3", "101", ask_size="9")  # filled at SIM; not ingested yet
    assert doc(child["orderId"])["cumQty"] == "0"

    new = _replace(child["orderId"], price="100.5")

    assert _history(child["orderId"])[-1] == "OrderReplaceRejected"
    assert engine_for("SIM").fetch_order(new) is None
    assert VenueSend.objects.get(pk=new).outcome == "ReplaceRejected"
    wait_for(lambda: doc(child["orderId"])["status"] == "Filled", 2, ingest)
    assert doc(child["orderId"])["cumQty"] == "3"


def test_an_unknown_outcome_of_the_new_order_is_left_unknown_and_never_placed_twice(no_amend: None) -> None:
    child = _resting("DOT-PERP", "6", "100.5")
    # the venue takes the new order but does not answer, and its REST view lags: nothing confirms
    sim_faults(timeoutNext=1, snapshotLagMs=60_000)

    new = _replace(child["orderId"], orderQty="5")

    send = VenueSend.objects.get(pk=new)
    assert (send.status, send.outcome) == ("Unknown", "unknown_outcome")
    assert VenueDeadLetter.objects.filter(cl_ord_id=new, reason="unknown_outcome").exists()
    sim_faults(snapshotLagMs=0)
    at_venue = [o for o in engine_for("SIM").fetch_open_orders(None) if o.symbol == "DOT-PERP"]
    assert [o.cl_ord_id for o in at_venue] == [new], "placed once, the old one canceled"
    replaced = doc(child["orderId"])
    assert (replaced["clOrdID"], replaced["orderQty"]) == (new, "5")


# --- ccxt: binance without editOrder, recorded-format answers -----------------------------------


class Binance:
    """A binance spot venue in the stub's terms: orders by clientOrderId, created from the recorded
    createOrder answer, canceled by DELETE; `cancel_times_out` makes the DELETE time out after it
    was sent (the venue may or may not carry it out: `lands` says whether it did)."""

    def __init__(self, transport: Any) -> None:
        self.recorded = cases("binance", "createOrder")[0]["httpResponse"]
        self.orders: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(9_780_331_417)
        self.cancel_times_out = False
        self.lands = False
        self.trades: list[dict[str, Any]] = []
        transport.on("POST", "/api/v3/order", self.create)
        transport.on("GET", "/api/v3/order", self.fetch)
        transport.on("DELETE", "/api/v3/order", self.cancel)
        transport.on("GET", "/api/v3/myTrades", lambda sent: copy.deepcopy(self.trades))

    def create(self, sent: Any) -> dict[str, Any]:
        p = sent.params
        order = {**self.recorded, "clientOrderId": p["newClientOrderId"], "orderId": str(next(self.ids)),
                 "origQty": p["quantity"], "price": p["price"], "executedQty": "0", "status": "NEW"}  # fmt: skip
        self.orders[order["clientOrderId"]] = order
        return order

    def _find(self, p: dict[str, str]) -> dict[str, Any] | None:
        if "origClientOrderId" in p:
            return self.orders.get(p["origClientOrderId"])
        return next((o for o in self.orders.values() if o["orderId"] == p.get("orderId")), None)

    def fetch(self, sent: Any) -> Any:
        found = self._find(sent.params)
        return found if found is not None else ErrorBody(400, {"code": -2013, "msg": "Order does not exist."})

    def cancel(self, sent: Any) -> Any:
        found = self._find(sent.params)
        if found is None:
            return ErrorBody(400, {"code": -2011, "msg": "Unknown order sent."})
        if self.cancel_times_out:
            if self.lands:
                found["status"] = "CANCELED"
            return ccxt.RequestTimeout("DELETE timed out")
        found["status"] = "CANCELED"
        return found

    def fill(self, cl_ord_id: str, qty: str, px: str) -> None:
        order = self.orders[cl_ord_id]
        order["executedQty"] = str(Decimal(order["executedQty"]) + Decimal(qty))
        order["status"] = "PARTIALLY_FILLED"
        recorded = cases("binance", "fetchMyTrades")[0]["httpResponse"][0]
        self.trades.append({**recorded, "symbol": "SOLUSDT", "id": str(len(self.trades) + 1),
                            "orderId": order["orderId"], "price": px, "qty": qty, "isBuyer": True,
                            "time": str(int(time.time() * 1000))})  # fmt: skip


@pytest.fixture
def binance(fixture_fed_binance: Any) -> Binance:  # noqa: F811
    adapter = fixture_fed_binance
    adapter.exchange.has = {**adapter.exchange.has, "editOrder": False}  # a venue that cannot amend
    adapter.has = adapter._capabilities()
    assert adapter.has["replace"] is False
    call_command("sync_instruments", "--venue", "ccxt:binance")
    return Binance(adapter.exchange.fetch)


def _binance_order(qty: str = "0.05", price: str = "241") -> dict[str, Any]:
    body = {
        "commandType": "CreateOrderCommand", "clOrdID": uid("CX"), "symbol": "SOL/USDT", "side": "Buy",
        "orderQty": qty, "ordType": "Limit", "price": price, "timeInForce": "GTC", "account": "ACC-X",
        "venue": "ccxt:binance", "handling": "Auto",
    }  # fmt: skip
    client = dispatch("orders", body, actor="trader").body["order"]
    (child,) = Order.objects.filter(parent_id=client["orderId"]).values_list("doc", flat=True)
    return dict(child)


def test_ccxt_without_edit_order_cancels_applies_the_old_fills_and_places_the_rest(binance: Binance) -> None:
    child = _binance_order("0.06", "241")
    old = child["clOrdID"]
    binance.fill(old, "0.02", "240.5")

    new = _replace(child["orderId"], orderQty="0.05", price="240")

    transport_posts = [o for o in binance.orders.values() if o["clientOrderId"] == new]
    assert len(transport_posts) == 1 and transport_posts[0]["origQty"] == "0.03", "0.05 minus the 0.02 filled"
    assert binance.orders[old]["status"] == "CANCELED"
    replaced = doc(child["orderId"])
    assert (replaced["clOrdID"], replaced["origClOrdID"], replaced["orderQty"]) == (new, old, "0.05")
    assert (replaced["cumQty"], replaced["price"]) == ("0.02", "240")
    (execution,) = Execution.objects.filter(order_id=child["orderId"])
    assert execution.doc["status"] == "Allocated", "the old order's fill at its old price applied first"
    history = _history(child["orderId"])
    assert history[-3:] == ["OrderReplaceRequested", history[-2], "OrderReplaced"]
    assert history[-2].startswith("Order") and "Fill" in history[-2]


def test_ccxt_cancel_leg_timing_out_places_nothing_until_the_venue_shows_the_cancel(binance: Binance) -> None:
    child = _binance_order()
    old = child["clOrdID"]
    binance.cancel_times_out = True

    new = _replace(child["orderId"], price="240")

    assert new not in binance.orders, "nothing placed while the cancel is in doubt"
    assert doc(child["orderId"])["status"] == "PendingReplace"
    assert VenueSend.objects.get(pk=new).status == "Unknown"
    assert VenueDeadLetter.objects.filter(cl_ord_id=new, reason="unknown_outcome").exists()

    binance.orders[old]["status"] = "CANCELED"  # the cancel landed after all
    tasks.check_unknown.apply(args=[new, 1])

    assert [o["clientOrderId"] for o in binance.orders.values()].count(new) == 1
    replaced = doc(child["orderId"])
    assert (replaced["status"], replaced["clOrdID"], replaced["price"]) == ("New", new, "240")
    tasks.check_unknown.apply(args=[new, 1])  # asked again: settled, nothing more is sent
    assert len(binance.orders) == 2
