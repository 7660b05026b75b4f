"""Order trees: client orders reflect their market orders, market orders their slices; children
never exceed what their parent has left to place; cancelling a parent cascades to its working
children; client orders handled Auto are placed automatically."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oms.orders.models import Order
from tests.lifecycle import D, Desk, assert_tree_replays, px, q, uid


def tree_numbers(order: dict) -> tuple[Decimal, int]:
    return D(order["placedQty"]), order["workingChildren"]


def accepted_child(t: Desk, parent: dict, qty, **fields) -> dict:
    return t.do("AcceptOrderCommand", t.child(parent, qty, **fields))


# --- reflection -----------------------------------------------------------------------------------


def test_client_order_reflects_its_market_orders(trader_any: Desk) -> None:
    t = trader_any
    client = t.client_order(100)
    a = accepted_child(t, client, 60)
    b = accepted_child(t, client, 40)
    client = t.refresh(client)
    assert q(client) == ("New", 100, 0, 100)
    assert tree_numbers(client) == (100, 2)
    t.fill(a, 60, "10")
    t.fill(b, 10, "12")
    client = t.refresh(client)
    assert q(client) == ("PartiallyFilled", 100, 70, 30)
    assert px(client) == Decimal("10.2857142857")  # (600 + 120) / 70
    assert D(client["allocatedQty"]) == 70
    assert tree_numbers(client) == (100, 1)  # a is filled, b still works
    t.fill(b, 30, "12")
    client = t.refresh(client)
    assert q(client) == ("Filled", 100, 100, 0)
    assert (px(client), D(client["allocatedQty"])) == (Decimal("10.8"), 100)
    assert tree_numbers(client) == (100, 0)


def test_slices_reflect_into_market_and_client(trader_any: Desk) -> None:
    t = trader_any
    client = t.client_order(100, ordType="Limit", price="10")
    market = accepted_child(t, client, 100)
    s1 = accepted_child(t, market, 50)
    s2 = accepted_child(t, market, 30)
    assert (s1["kind"], s1["parentId"], s1["rootId"]) == ("Slice", market["orderId"], client["orderId"])
    market = t.refresh(market)
    assert tree_numbers(market) == (80, 2)
    assert tree_numbers(t.refresh(client)) == (100, 1)
    t.fill(s1, 50, "9.8")
    t.fill(s2, 10, "10")
    market = t.refresh(market)
    assert q(market) == ("PartiallyFilled", 100, 60, 40)
    assert px(market) == Decimal("9.8333333333")  # (490 + 100) / 60
    assert market["allocatedQty"] is None  # allocation is kept on the client order
    client = t.refresh(client)
    assert q(client) == ("PartiallyFilled", 100, 60, 40)
    assert (px(client), D(client["allocatedQty"])) == (Decimal("9.8333333333"), 60)
    assert_tree_replays(client)
    # a slice has no children of its own
    body = t.child_command(s1, 1)
    t.refused("orders", body, 400, "validation_failed")


def test_correction_and_bust_on_a_slice_recompute_the_whole_tree(trader: Desk) -> None:
    client = trader.client_order(100)
    market = accepted_child(trader, client, 100)
    s = accepted_child(trader, market, 50)
    execution = trader.execute(s, 50, "10")["execution"]
    trader.ok(
        "executions", trader.exec_command("CorrectExecutionCommand", execution, lastQty="20", lastPx="11")
    )
    assert (q(trader.refresh(market))[2], px(trader.refresh(market))) == (20, 11)
    client = trader.refresh(client)
    assert (D(client["cumQty"]), D(client["allocatedQty"]), px(client)) == (20, 20, 11)
    trader.ok("executions", trader.exec_command("BustExecutionCommand", execution))
    client = trader.refresh(client)
    assert (q(client), D(client["allocatedQty"]), px(client)) == (("New", 100, 0, 100), 0, 0)
    assert q(trader.refresh(market)) == ("New", 100, 0, 100)


def test_tree_query_nests_children(desk, db) -> None:
    t = Desk("http", desk)
    client = t.client_order(100)
    market = accepted_child(t, client, 100)
    s = t.child(market, 40)
    tree = desk.get(f"/api/queries/orders/{client['orderId']}/tree").json()
    assert tree["orderId"] == client["orderId"]
    assert [c["orderId"] for c in tree["children"]] == [market["orderId"]]
    assert [c["orderId"] for c in tree["children"][0]["children"]] == [s["orderId"]]
    assert tree["children"][0]["children"][0]["children"] == []
    # any order's tree is that order and what is below it
    subtree = desk.get(f"/api/queries/orders/{market['orderId']}/tree").json()
    assert subtree["orderId"] == market["orderId"]
    assert [c["orderId"] for c in subtree["children"]] == [s["orderId"]]


# --- placing children -----------------------------------------------------------------------------


def test_child_inherits_the_parents_terms(trader: Desk) -> None:
    client = trader.client_order(100, side="SellShort", ordType="Limit", price="25.5", timeInForce="GTC")
    m = trader.child(client, 40)
    assert (m["symbol"], m["side"], m["account"]) == ("ACME", "SellShort", "ACC1")
    assert (m["ordType"], D(m["price"]), m["timeInForce"], m["venue"]) == (
        "Limit",
        Decimal("25.5"),
        "GTC",
        "MANUAL",
    )
    assert (m["kind"], m["parentId"], m["rootId"], m["status"]) == (
        "Market",
        client["orderId"],
        client["orderId"],
        "PendingNew",
    )
    other = trader.child(client, 10, venue="XLON", ordType="Limit", price="26")  # a sell may ask more
    assert (other["venue"], D(other["price"])) == ("XLON", 26)


@pytest.mark.parametrize(("field", "value"), [("symbol", "OTHER"), ("side", "Sell"), ("account", "ACC2")])
def test_child_must_match_the_parent(trader_any: Desk, field: str, value: str) -> None:
    t = trader_any
    client = t.client_order(100)
    body = t.child_command(client, 10, **{field: value})
    error = t.refused("orders", body, 400, "validation_failed")
    assert list(error["fields"]) == [field]
    assert Order.objects.filter(parent_id=client["orderId"]).count() == 0


def test_child_of_unknown_parent_is_not_found(trader: Desk) -> None:
    body = {"commandType": "CreateOrderCommand", "clOrdID": uid(), "parentId": "O-nope", "orderQty": "10"}
    assert "parentId" in trader.refused("orders", body, 404, "not_found")["fields"]


def test_child_must_not_trade_through_the_parents_limit(trader: Desk) -> None:
    client = trader.client_order(100, ordType="Limit", price="10")
    for terms in ({"ordType": "Market"}, {"ordType": "Limit", "price": "10.01"}):
        body = trader.child_command(client, 10, **terms)
        assert trader.refused("orders", body, 422, "rule_refused")["rule"] == "child_within_parent_limit"
    m = accepted_child(trader, client, 10, ordType="Limit", price="9.9")
    cmd = trader.command("ReplaceOrderCommand", m, clOrdID=uid(), price="10.5")
    trader.refused("orders", cmd, 422, "rule_refused")


def test_children_never_exceed_the_parents_quantity(trader_any: Desk) -> None:
    t = trader_any
    client = t.client_order(100)
    first = t.child(client, 60)
    body = t.child_command(client, 41)
    error = t.refused("orders", body, 409, "exceeds_parent_quantity")
    assert "orderQty" in error["fields"]
    t.child(client, 40)
    assert tree_numbers(t.refresh(client)) == (100, 2)
    # a child that finishes early gives back what it did not do
    first = t.fill(first, 10)
    first = t.do("ConfirmCancelCommand", first)
    assert q(first) == ("Canceled", 60, 10, 0)
    client = t.refresh(client)
    assert tree_numbers(client) == (50, 1)
    t.refused("orders", {**body, "clOrdID": uid(), "orderQty": "51"}, 409, "exceeds_parent_quantity")
    assert D(t.child(client, 50)["orderQty"]) == 50


def test_repeated_child_placement_is_a_duplicate(trader: Desk) -> None:
    client = trader.client_order(100)
    body = trader.child_command(client, 60)
    status, first = trader.send("orders", body)
    status_again, again = trader.send("orders", body)
    assert (status, status_again, again["duplicate"]) == (201, 200, True)
    assert again["order"]["orderId"] == first["order"]["orderId"]
    assert tree_numbers(trader.refresh(client)) == (60, 1)  # placed once
    trader.refused("orders", {**body, "orderQty": "50"}, 409, "duplicate_cl_ord_id")


def test_slices_never_exceed_the_market_order(trader: Desk) -> None:
    client = trader.client_order(100)
    market = trader.child(client, 50)
    body = trader.child_command(market, 1)
    trader.refused("orders", body, 409, "invalid_transition")  # slicing waits for the venue's ack
    market = trader.do("AcceptOrderCommand", market)
    trader.child(market, 30)
    body = trader.child_command(market, 21)
    trader.refused("orders", body, 409, "exceeds_parent_quantity")


def test_done_for_day_child_frees_its_unfilled_quantity(trader: Desk) -> None:
    client = trader.client_order(100)
    m = trader.fill(accepted_child(trader, client, 100), 30)
    trader.do("DoneForDayCommand", m)
    assert tree_numbers(trader.refresh(client)) == (30, 0)
    assert q(trader.child(client, 70)) == ("PendingNew", 70, 0, 70)


def test_replacing_a_child_beyond_the_parent_is_allowed(trader: Desk) -> None:
    client = trader.client_order(100)
    m = accepted_child(trader, client, 100)
    m = trader.replace(m, orderQty=120)
    assert tree_numbers(trader.refresh(client)) == (120, 1)  # the pending quantity is committed
    m = trader.do("ConfirmReplaceCommand", m)
    assert q(m) == ("New", 120, 0, 120)
    m = trader.fill(m, 120)
    client = trader.refresh(client)
    assert (D(client["cumQty"]), client["status"]) == (120, "Filled")  # over-executed, for the desk to see


def test_rejected_replace_gives_back_the_pending_quantity(trader: Desk) -> None:
    client = trader.client_order(100)
    m = trader.replace(accepted_child(trader, client, 80), orderQty=100)
    assert tree_numbers(trader.refresh(client)) == (100, 1)
    trader.do("RejectReplaceCommand", m)
    assert tree_numbers(trader.refresh(client)) == (80, 1)


# --- client orders: the OMS is the counterparty ---------------------------------------------------


def test_client_replace_takes_effect_at_once(trader_any: Desk) -> None:
    t = trader_any
    client = t.client_order(100, ordType="Limit", price="10")
    original = client["clOrdID"]
    client = t.replace(client, "R-" + original, orderQty=150, price="10.5")
    assert q(client) == ("New", 150, 0, 150)
    assert (D(client["price"]), client["clOrdID"], client["origClOrdID"], client["pending"]) == (
        Decimal("10.5"),
        "R-" + original,
        original,
        None,
    )


def test_client_replace_below_placed_quantity_is_refused(trader: Desk) -> None:
    client = trader.client_order(100)
    m = trader.fill(accepted_child(trader, client, 60), 20)
    cmd = trader.command("ReplaceOrderCommand", client, clOrdID=uid(), orderQty="59")
    trader.refused("orders", cmd, 409, "exceeds_parent_quantity")
    client = trader.replace(client, orderQty=60)
    assert q(client) == ("PartiallyFilled", 60, 20, 40)
    trader.fill(m, 40)
    assert q(trader.refresh(client)) == ("Filled", 60, 60, 0)


def test_client_replace_to_cum_qty_leaves_it_filled(trader: Desk) -> None:
    client = trader.client_order(100)
    m = trader.fill(accepted_child(trader, client, 60), 60)
    assert q(trader.refresh(client)) == ("PartiallyFilled", 100, 60, 40)
    client = trader.replace(trader.refresh(client), orderQty=60)
    assert q(client) == ("Filled", 60, 60, 0)
    assert m["status"] == "Filled"


def test_client_cancel_without_working_children_takes_effect_at_once(trader_any: Desk) -> None:
    t = trader_any
    client = t.client_order(100)
    t.fill(accepted_child(t, client, 30), 30)  # a finished child does not hold the cancel up
    client = t.cancel(t.refresh(client), "CX-1" + uid())
    assert q(client) == ("Canceled", 100, 30, 0)
    assert client["clOrdID"].startswith("CX-1")
    # nothing more can be placed under a canceled client order
    body = t.child_command(client, 10)
    t.refused("orders", body, 409, "invalid_transition")


def test_desk_rejects_a_client_order_it_has_not_worked(trader: Desk) -> None:
    client = trader.do("RejectOrderCommand", trader.client_order(100), text="restricted list")
    assert q(client) == ("Rejected", 100, 0, 0)
    worked = trader.client_order(100)
    trader.child(worked, 10)
    trader.refused("orders", trader.command("RejectOrderCommand", worked), 409, "invalid_transition")


# --- cancel cascade -------------------------------------------------------------------------------


def two_children(t: Desk) -> tuple[dict, dict, dict]:
    client = t.client_order(100)
    a = t.fill(accepted_child(t, client, 60), 20, "10")
    b = accepted_child(t, client, 40)
    return t.refresh(client), a, b


def test_cancel_cascades_to_working_children(trader_any: Desk) -> None:
    t = trader_any
    client, a, b = two_children(t)
    original, cancel_id = client["clOrdID"], uid("CC")
    answer = t.ok("orders", t.command("CancelOrderCommand", client, clOrdID=cancel_id))
    client = answer["order"]
    assert q(client) == ("PendingCancel", 100, 20, 80)
    requested_events = {e["aggregateId"] for e in answer["events"] if e["type"] == "OrderCancelRequested"}
    assert requested_events == {client["orderId"], a["orderId"], b["orderId"]}
    a, b = t.refresh(a), t.refresh(b)
    assert (q(a), q(b)) == (("PendingCancel", 60, 20, 40), ("PendingCancel", 40, 0, 40))
    requested = {a["pendingCancel"]["clOrdID"], b["pendingCancel"]["clOrdID"]}
    assert len(requested) == 2 and cancel_id not in requested  # each child gets its own ClOrdID
    t.fill(a, 10, "11")  # fills keep coming while the cascade waits
    client = t.refresh(client)
    assert q(client) == ("PendingCancel", 100, 30, 70)
    a = t.do("ConfirmCancelCommand", a)
    assert q(a) == ("Canceled", 60, 30, 0)
    assert a["clOrdID"] in requested
    assert q(t.refresh(client)) == ("PendingCancel", 100, 30, 70)  # b still works
    t.do("ConfirmCancelCommand", b)
    client = t.refresh(client)
    assert q(client) == ("Canceled", 100, 30, 0)
    assert (client["clOrdID"], client["origClOrdID"], client["workingChildren"]) == (cancel_id, original, 0)
    assert px(client) == Decimal("10.3333333333")
    assert_tree_replays(client)


def test_cascade_completes_when_the_last_child_fills(trader: Desk) -> None:
    client, a, b = two_children(trader)
    client = trader.cancel(client)
    trader.do("ConfirmCancelCommand", trader.refresh(b))
    trader.fill(a, 40)  # the venue filled the rest before it saw the cancel
    a = trader.refresh(a)
    assert q(a) == ("PendingCancel", 60, 60, 0)
    client = trader.refresh(client)
    assert q(client) == ("Canceled", 100, 60, 0)
    assert client["workingChildren"] == 0
    a = trader.do("RejectCancelCommand", a, text="too late to cancel")
    assert q(a) == ("Filled", 60, 60, 0)
    assert q(trader.refresh(client)) == ("Canceled", 100, 60, 0)


def test_child_cancel_rejected_fails_the_parents_cancel(trader_any: Desk) -> None:
    t = trader_any
    client, a, b = two_children(t)
    client = t.cancel(client)
    a = t.do("RejectCancelCommand", t.refresh(a), text="cannot cancel")
    assert q(a) == ("PartiallyFilled", 60, 20, 40)
    client = t.refresh(client)
    assert q(client) == ("PartiallyFilled", 100, 20, 80)
    assert client["pendingCancel"] is None
    # the other child's cancel still goes through; the client order stays open for the desk
    t.do("ConfirmCancelCommand", t.refresh(b))
    client = t.refresh(client)
    assert q(client) == ("PartiallyFilled", 100, 20, 80)
    assert tree_numbers(client) == (60, 1)
    assert_tree_replays(client)


def test_cascade_reaches_slices(trader: Desk) -> None:
    client = trader.client_order(100)
    market = accepted_child(trader, client, 100)
    s1 = accepted_child(trader, market, 50)
    s2 = trader.child(market, 30)  # not yet acknowledged
    client = trader.cancel(client)
    market, s1, s2 = trader.refresh(market), trader.refresh(s1), trader.refresh(s2)
    assert [o["status"] for o in (client, market, s1, s2)] == ["PendingCancel"] * 4
    s2 = trader.do("AcceptOrderCommand", s2)  # B.1.e inside a cascade
    assert s2["status"] == "PendingCancel"
    trader.fill(s1, 5)
    trader.do("ConfirmCancelCommand", s1)
    assert q(trader.refresh(market)) == ("PendingCancel", 100, 5, 95)
    trader.do("ConfirmCancelCommand", s2)
    assert q(trader.refresh(market)) == ("Canceled", 100, 5, 0)
    client = trader.refresh(client)
    assert q(client) == ("Canceled", 100, 5, 0)
    assert D(client["allocatedQty"]) == 5
    assert_tree_replays(client)


def test_slice_cancel_rejected_fails_the_cancel_all_the_way_up(trader: Desk) -> None:
    client = trader.client_order(100)
    market = accepted_child(trader, client, 100)
    s1 = accepted_child(trader, market, 50)
    s2 = accepted_child(trader, market, 50)
    trader.cancel(trader.refresh(client))
    trader.do("RejectCancelCommand", trader.refresh(s1))
    client, market, s2 = trader.refresh(client), trader.refresh(market), trader.refresh(s2)
    assert (client["status"], client["pendingCancel"]) == ("New", None)
    assert (market["status"], market["pendingCancel"]) == ("New", None)
    assert s2["status"] == "PendingCancel"
    trader.do("ConfirmCancelCommand", s2)
    assert (q(trader.refresh(market)), tree_numbers(trader.refresh(market))) == (
        ("New", 100, 0, 100),
        (50, 1),
    )
    assert q(trader.refresh(client)) == ("New", 100, 0, 100)


def test_cancel_of_a_filled_client_order_is_refused(trader: Desk) -> None:
    client = trader.client_order(100)
    trader.fill(accepted_child(trader, client, 100), 100)
    client = trader.refresh(client)
    assert q(client) == ("Filled", 100, 100, 0)
    trader.refused(
        "orders", trader.command("CancelOrderCommand", client, clOrdID=uid()), 409, "invalid_transition"
    )


@pytest.mark.parametrize("report", ["ConfirmCancelCommand", "ExpireOrderCommand", "DoneForDayCommand"])
def test_market_order_cannot_finish_before_its_working_slices(trader: Desk, report: str) -> None:
    """A parent never stops working while its children work: otherwise the client order would
    count it as done and a later client cancel would no longer reach the slices."""
    client = trader.client_order(100)
    market = accepted_child(trader, client, 100)
    s = accepted_child(trader, market, 40)
    trader.refused("orders", trader.command(report, trader.refresh(market)), 409, "invalid_transition")
    assert q(trader.refresh(market)) == ("New", 100, 0, 100)
    assert tree_numbers(trader.refresh(client)) == (100, 1)
    trader.cancel(trader.refresh(client))
    assert trader.refresh(s)["status"] == "PendingCancel"  # the cascade still reaches the slice
    trader.do("ConfirmCancelCommand", trader.refresh(s))
    assert q(trader.refresh(market)) == ("Canceled", 100, 0, 0)
    assert q(trader.refresh(client)) == ("Canceled", 100, 0, 0)


def test_cascade_when_a_child_is_rejected_or_expires(trader: Desk) -> None:
    client = trader.client_order(100)
    a = trader.child(client, 50)
    b = accepted_child(trader, client, 50)
    trader.cancel(client)
    trader.do("RejectOrderCommand", trader.refresh(a))
    assert trader.refresh(client)["status"] == "PendingCancel"
    trader.do("ExpireOrderCommand", trader.refresh(b))
    assert q(trader.refresh(client)) == ("Canceled", 100, 0, 0)


def test_second_cancel_while_cascade_pending_is_refused(trader: Desk) -> None:
    client, _, _ = two_children(trader)
    client = trader.cancel(client)
    trader.refused(
        "orders", trader.command("CancelOrderCommand", client, clOrdID=uid()), 409, "invalid_transition"
    )
    trader.refused(
        "orders",
        trader.command("ReplaceOrderCommand", client, clOrdID=uid(), orderQty="90"),
        409,
        "invalid_transition",
    )
    body = trader.child_command(client, 1)
    trader.refused("orders", body, 409, "invalid_transition")


# --- automatic placement --------------------------------------------------------------------------


def test_auto_client_order_is_placed_as_a_market_order(
    trader: Desk, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        client = trader.client_order(100, venue="XNAS", handling="Auto", ordType="Limit", price="10")
    assert client["handling"] == "Auto"
    children = [o.doc for o in Order.objects.filter(parent_id=client["orderId"])]
    assert len(children) == 1
    m = children[0]
    assert (m["kind"], m["venue"], m["status"], D(m["orderQty"])) == ("Market", "XNAS", "PendingNew", 100)
    assert (m["ordType"], D(m["price"])) == ("Limit", 10)
    assert tree_numbers(trader.refresh(client)) == (100, 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"venue": "XNAS", "handling": "Desk"},
        {"venue": "MANUAL", "handling": "Auto"},
        {"venue": None, "handling": "Auto"},
    ],
)
def test_desk_orders_wait_for_the_desk(trader: Desk, django_capture_on_commit_callbacks, fields) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        client = trader.client_order(100, **fields)
    assert client["handling"] == "Desk"
    assert client["routingReason"]
    assert not Order.objects.filter(parent_id=client["orderId"]).exists()


@pytest.mark.django_db(transaction=True)
def test_auto_placement_after_commit_over_http(desk) -> None:
    t = Desk("http", desk)
    client = t.client_order(50, venue="XNAS", handling="Auto")
    tree = desk.get(f"/api/queries/orders/{client['orderId']}/tree").json()
    assert [(c["kind"], c["venue"], D(c["orderQty"])) for c in tree["children"]] == [("Market", "XNAS", 50)]
    assert tree_numbers(tree) == (50, 1)
    # the desk sees the venue's reports come back through the tree
    m = t.fill(t.do("AcceptOrderCommand", tree["children"][0]), 50, "10")
    assert q(m) == ("Filled", 50, 50, 0)
    assert q(t.refresh(client)) == ("Filled", 50, 50, 0)
