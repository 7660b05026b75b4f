"""Positions (issue 12): built only from applied executions in the same transaction (fills,
corrections, busts), open-order exposure maintained with the order events, dirty flags that
refuse adding orders, the projection feeding `max_open_notional`, replay and the query API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executions.models import Execution
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError, RuleRefused
from oms.core.replay import replay
from oms.positions.dirty import clear_dirty, mark_dirty
from oms.positions.models import Position, PositionEvent
from oms.positions.repository import position_id
from tests.conftest import uid

pytestmark = pytest.mark.django_db
D = Decimal
VENUE = "XV"


# --- helpers --------------------------------------------------------------------------------------


def cmd(topic: str, command_type: str, **fields: Any) -> dict[str, Any]:
    return dispatch(topic, {"commandType": command_type, **fields}, actor="trader").body


def client_order(
    account: str, side: str = "Buy", qty: Any = "100", venue: str | None = VENUE, **kw: Any
) -> str:
    body = {
        "clOrdID": uid("C"),
        "symbol": kw.pop("symbol", "ACME"),
        "side": side,
        "orderQty": str(qty),
        "ordType": "Limit",
        "price": kw.pop("price", "100"),
        "timeInForce": "GTC",
        "account": account,
        "handling": "Desk",
        **({"venue": venue} if venue else {}),
        **kw,
    }
    return str(cmd("orders", "CreateOrderCommand", **body)["order"]["orderId"])


def child(parent_id: str, qty: Any, venue: str = VENUE, accept: bool = True) -> str:
    order_id = str(
        cmd(
            "orders",
            "CreateOrderCommand",
            clOrdID=uid("M"),
            parentId=parent_id,
            orderQty=str(qty),
            venue=venue,
        )["order"]["orderId"]
    )
    if accept:
        cmd("orders", "AcceptOrderCommand", orderId=order_id)
    return order_id


def fill(order_id: str, qty: Any, px: Any, venue: str = VENUE) -> str:
    body = cmd(
        "executions",
        "ExecuteOrderCommand",
        orderId=order_id,
        execID=uid("X"),
        lastQty=str(qty),
        lastPx=str(px),
        venue=venue,
    )
    assert body["execution"]["status"] == "Allocated", body["execution"]
    return str(body["execution"]["executionId"])


def position(account: str, venue: str = VENUE, symbol: str = "ACME") -> dict[str, Any]:
    row = Position.objects.filter(pk=position_id(account, venue, symbol)).first()
    assert row is not None, (account, venue, symbol)
    return dict(row.doc)


def open_qty(account: str, venue: str = VENUE, symbol: str = "ACME") -> tuple[Decimal, Decimal, Decimal]:
    doc = position(account, venue, symbol)
    return D(doc["qty"]), D(doc["openBuyQty"]), D(doc["openSellQty"])


def books(account: str) -> tuple[str, str]:
    """A buy and a sell market order (1,000,000 each) at VENUE for `account`."""
    buy = child(client_order(account, "Buy", 1_000_000, price="1000"), 1_000_000)
    sell = child(client_order(account, "Sell", 1_000_000, price="1"), 1_000_000)
    return buy, sell


def independent_fold(fills: list[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """Signed qty, average cost, realized P&L of fills in order (written apart from the app's fold):
    a fill on the side of the position (or from flat) re-weights the cost; an opposite fill
    realizes against it; what crosses zero opens the other side at the fill's price."""
    qty, avg, realized = D(0), D(0), D(0)
    for q, px in fills:
        if qty == 0 or (q > 0) == (qty > 0):
            avg = (avg * abs(qty) + px * abs(q)) / (abs(qty) + abs(q))
            qty += q
            continue
        closing = min(abs(q), abs(qty))
        realized += closing * (px - avg) * (1 if qty > 0 else -1)
        new_qty = qty + q
        if new_qty == 0:
            avg = D(0)
        elif (new_qty > 0) != (qty > 0):
            avg = px
        qty = new_qty
    return qty, avg, realized


# --- 1. the position is the fold of its applied executions ----------------------------------------

qtys = st.integers(min_value=1, max_value=500).map(lambda n: D(n) / 4)
pxs = st.integers(min_value=9000, max_value=11000).map(lambda n: D(n) / 100)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.booleans(), qtys, pxs),
        st.tuples(st.just("correct"), st.integers(0, 30), qtys, pxs),
        st.tuples(st.just("bust"), st.integers(0, 30), st.just(D(0)), st.just(D(0))),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_position_equals_an_independent_fold_of_the_applied_executions(steps: list[tuple[Any, ...]]) -> None:
    account = uid("H")
    buy, sell = books(account)
    applied: list[str] = []  # execution ids in the order they were applied
    for op, a, qty, px in steps:
        if op == "fill":
            applied.append(fill(buy if a else sell, qty, px))
            continue
        live = [e for e in applied if Execution.objects.get(pk=e).status != "Busted"]
        if not live:
            continue
        target = live[a % len(live)]
        if op == "correct":
            cmd("executions", "CorrectExecutionCommand", executionId=target, lastQty=str(qty), lastPx=str(px))
        else:
            cmd("executions", "BustExecutionCommand", executionId=target)
    sides = {buy: 1, sell: -1}
    executions = {e.pk: e for e in Execution.objects.filter(pk__in=applied)}
    fills = [
        (executions[e].last_qty * sides[executions[e].order_id], executions[e].last_px)
        for e in applied
        if executions[e].status in ("Allocated", "Applied")
    ]
    qty, avg, realized = independent_fold(fills)
    doc = position(account)
    assert (D(doc["qty"]), D(doc["avgCost"]), D(doc["realizedPnl"])) == (qty, avg, realized)
    assert doc["fillCount"] == len(fills)
    # the open orders follow the fills: each market order's leaves
    buys = sum((q for q, _ in fills if q > 0), D(0))
    sells = -sum((q for q, _ in fills if q < 0), D(0))
    assert (D(doc["openBuyQty"]), D(doc["openSellQty"])) == (1_000_000 - buys, 1_000_000 - sells)
    assert D(doc["worstLong"]) == qty + D(doc["openBuyQty"])
    assert D(doc["worstShort"]) == qty - D(doc["openSellQty"])


def test_a_fill_through_zero_restarts_the_cost_and_realizes_with_the_multiplier(boss: Any) -> None:
    from tests.controls_support import instrument

    instrument(boss, VENUE, "BTCUSD", kind="Future", multiplier="5", tickSize="0.01", lotSize="1", minQty="1")
    account = uid("A")
    buy = child(client_order(account, "Buy", 100, symbol="BTCUSD", price="1000"), 100)
    sell = child(client_order(account, "Sell", 100, symbol="BTCUSD", price="1"), 100)
    fill(buy, 10, 100)
    fill(buy, 10, 110)  # avg 105
    fill(sell, 30, 120)  # closes 20 at +15 x 5 = 1500, opens -10 at 120
    doc = position(account, symbol="BTCUSD")
    assert (doc["qty"], doc["avgCost"], doc["realizedPnl"], doc["multiplier"]) == ("-10", "120", "1500", "5")


def test_a_bust_reverses_the_fill_exactly_even_before_later_fills() -> None:
    account = uid("A")
    buy, sell = books(account)
    first = fill(buy, 10, 100)
    fill(sell, 10, 90)  # flat, realized -100
    fill(buy, 5, 95)
    cmd("executions", "BustExecutionCommand", executionId=first)
    # as if the first fill never happened: short 10 at 90, then 5 bought back at 95 -> -25
    doc = position(account)
    assert (doc["qty"], doc["avgCost"], doc["realizedPnl"]) == ("-5", "90", "-25")
    assert (D(doc["openBuyQty"]), D(doc["openSellQty"])) == (1_000_000 - 5, 1_000_000 - 10)


def test_a_held_execution_changes_no_position_until_the_desk_allocates_it() -> None:
    account = uid("A")
    buy = child(client_order(account, "Buy", 10), 10)
    body = cmd(
        "executions",
        "ExecuteOrderCommand",
        orderId=buy,
        execID=uid("X"),
        lastQty="20",
        lastPx="100",
        venue=VENUE,
    )  # an overfill: held for review
    assert body["execution"]["status"] == "PendingReview"
    assert open_qty(account) == (0, 10, 0)
    cmd("executions", "CorrectExecutionCommand", executionId=body["execution"]["executionId"], lastQty="4")
    assert open_qty(account) == (0, 10, 0)
    cmd("executions", "AllocateExecutionCommand", executionId=body["execution"]["executionId"])
    assert open_qty(account) == (4, 6, 0)


# --- 2. open-order exposure follows the order events ---------------------------------------------


def test_exposure_after_create_place_reject_fill_replace_and_cancel() -> None:
    acc = uid("A")
    parent = client_order(acc, "Buy", 100)
    assert open_qty(acc) == (0, 100, 0)
    first = child(parent, 60)
    assert open_qty(acc) == (0, 100, 0)  # moved from the client order to its market order
    other = child(parent, 40, venue="YV", accept=False)
    assert open_qty(acc) == (0, 60, 0) and open_qty(acc, "YV") == (0, 40, 0)
    cmd("orders", "RejectOrderCommand", orderId=other, text="no")
    assert open_qty(acc, "YV") == (0, 0, 0)
    assert open_qty(acc) == (0, 100, 0)  # the client order may place those 40 again
    fill(first, 10, 100)
    assert open_qty(acc) == (10, 90, 0)
    cmd("orders", "ReplaceOrderCommand", orderId=parent, clOrdID=uid("R"), orderQty="150")
    assert open_qty(acc) == (10, 140, 0)
    cmd("orders", "ReplaceOrderCommand", orderId=first, clOrdID=uid("R"), orderQty="80")
    assert open_qty(acc) == (10, 140, 0)  # the pending replace counts at once, worst case
    cmd("orders", "ConfirmReplaceCommand", orderId=first)
    assert open_qty(acc) == (10, 140, 0)
    cmd("orders", "CancelOrderCommand", orderId=parent, clOrdID=uid("X"))
    assert open_qty(acc) == (10, 140, 0)  # pending cancels still may fill
    cmd("orders", "ConfirmCancelCommand", orderId=first)
    assert open_qty(acc) == (10, 0, 0)
    doc = position(acc)
    assert (doc["worstLong"], doc["worstShort"]) == ("10", "10")


def test_a_venue_less_client_order_is_open_at_no_venue_until_placed() -> None:
    acc = uid("A")
    parent = client_order(acc, "Sell", 30, venue=None)
    assert open_qty(acc, "") == (0, 0, 30)
    assert position(acc, "")["venue"] is None
    child(parent, 30)
    assert open_qty(acc, "") == (0, 0, 0) and open_qty(acc) == (0, 0, 30)


# --- 3. dirty flags -------------------------------------------------------------------------------


def test_mark_and_clear_dirty_keep_reasons_as_a_set_through_events() -> None:
    acc = uid("A")
    mark_dirty(acc, VENUE, "ACME", "unknown_outcome:O1")
    again = mark_dirty(acc, VENUE, "ACME", "unknown_outcome:O1")
    assert again.body["duplicate"] is True and again.events == []
    mark_dirty(acc, VENUE, "ACME", "fills_missing:XV")
    doc = position(acc)
    assert doc["dirty"] is True and doc["dirtyReasons"] == ["fills_missing:XV", "unknown_outcome:O1"]
    clear_dirty(acc, VENUE, "ACME", "unknown_outcome:O1")
    assert position(acc)["dirty"] is True
    clear_dirty(acc, VENUE, "ACME", "fills_missing:XV")
    assert position(acc)["dirty"] is False
    types = list(PositionEvent.objects.filter(aggregate_id=doc["positionId"]).values_list("type", flat=True))
    assert types == [
        "PositionOpened",
        "PositionMarkedDirty",
        "PositionMarkedDirty",
        "PositionDirtyCleared",
        "PositionDirtyCleared",
    ]


def test_dirty_commands_are_internal_not_accepted_over_http(desk: Any) -> None:
    body = {"commandType": "MarkPositionDirtyCommand", "account": "A", "symbol": "ACME", "reason": "x"}
    response = desk.post("/api/commands/positions", body, format="json")
    assert response.status_code == 400 and "commandType" in response.json()["error"]["fields"]


def test_a_dirty_position_refuses_adding_orders_and_lets_reducing_orders_and_cancels_through(
    desk: Any,
) -> None:
    acc = uid("A")
    buy = child(client_order(acc, "Buy", 50), 50)
    fill(buy, 20, 100)  # long 20, 30 more to buy open
    working = client_order(acc, "Buy", 5)
    mark_dirty(acc, VENUE, "ACME", "unknown_outcome:" + buy)
    before = Position.objects.get(pk=position_id(acc, VENUE, "ACME")).version

    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("C"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "1",
        "ordType": "Limit",
        "price": "100",
        "account": acc,
        "venue": VENUE,
        "handling": "Desk",
    }
    response = desk.post("/api/commands/orders", body, format="json")
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert (error["code"], error["rule"]) == ("rule_refused", "position_dirty")
    assert error["details"]["reasons"] == ["unknown_outcome:" + buy]
    # a sell larger than the long also adds (it would go short)
    response = desk.post(
        "/api/commands/orders", {**body, "clOrdID": uid("C"), "side": "Sell", "orderQty": "21"}, format="json"
    )
    assert response.status_code == 422 and response.json()["error"]["rule"] == "position_dirty"
    # reducing: a sell within the long passes, and so does a cancel
    response = desk.post(
        "/api/commands/orders", {**body, "clOrdID": uid("C"), "side": "Sell", "orderQty": "20"}, format="json"
    )
    assert response.status_code == 201, response.json()
    response = desk.post(
        "/api/commands/orders",
        {"commandType": "CancelOrderCommand", "orderId": working, "clOrdID": uid("X")},
        format="json",
    )
    assert response.status_code == 200, response.json()
    # a replace adding quantity is refused; one that lowers it passes
    with pytest.raises(RuleRefused) as refused:
        cmd("orders", "ReplaceOrderCommand", orderId=buy, clOrdID=uid("R"), orderQty="60")
    assert refused.value.rule == "position_dirty"
    cmd("orders", "ReplaceOrderCommand", orderId=buy, clOrdID=uid("R"), orderQty="40")
    assert Position.objects.get(pk=position_id(acc, VENUE, "ACME")).version > before
    # clean again: adding orders pass
    clear_dirty(acc, VENUE, "ACME", "unknown_outcome:" + buy)
    response = desk.post("/api/commands/orders", {**body, "clOrdID": uid("C")}, format="json")
    assert response.status_code == 201, response.json()


def test_a_dirty_position_at_another_venue_does_not_gate_this_one() -> None:
    acc = uid("A")
    mark_dirty(acc, "YV", "ACME", "fills_missing:YV")
    client_order(acc, "Buy", 5)  # at XV: passes
    with pytest.raises(RuleRefused):
        client_order(acc, "Buy", 5, venue=None)  # may go anywhere, YV included


# --- 4. max_open_notional reads the projection ----------------------------------------------------


def limits(boss: Any, **fields: Any) -> None:
    response = boss.post(
        "/api/commands/limits", {"commandType": "SetLimitsCommand", "symbol": "ACME", **fields}, format="json"
    )
    assert response.status_code in (200, 201), response.json()


def test_max_open_notional_counts_the_position_and_its_open_orders_worst_case(boss: Any) -> None:
    acc = uid("A")
    limits(boss, account=acc, maxOpenNotional="10000")
    buy = child(client_order(acc, "Buy", 60), 60)
    fill(buy, 60, 100)  # long 60, nothing open: 6,000
    # a sell of 100 would leave worst short -40 and worst long 60: 6,000 -> passes
    client_order(acc, "Sell", 100)
    # a buy of 41 makes the worst long 101 x 100 = 10,100 > 10,000
    with pytest.raises(RuleRefused) as refused:
        client_order(acc, "Buy", 41)
    details = refused.value.details
    assert refused.value.rule == "max_open_notional"
    assert (details["value"], details["position"], details["openBuy"], details["openSell"]) == (
        "10100",
        "6000",
        "4100",
        "10000",
    )
    client_order(acc, "Buy", 40)  # exactly 10,000


def test_max_open_notional_reads_as_much_with_one_open_order_as_with_thirty(boss: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    acc = uid("A")
    limits(boss, account=acc, maxOpenNotional="1000000")
    client_order(acc, "Buy", 1)
    with CaptureQueriesContext(connection) as few:
        client_order(acc, "Buy", 1)
    for _ in range(30):
        client_order(acc, "Buy", 1)
    with CaptureQueriesContext(connection) as many:
        client_order(acc, "Buy", 1)
    assert len(many.captured_queries) == len(few.captured_queries)
    assert position(acc)["openBuyQty"] == "33"


def test_the_checks_read_positions_from_the_statements_sent_with_the_clordid_claim(
    boss: Any, monkeypatch: Any
) -> None:
    """`position_dirty` (the order's account and symbol) and `maxOpenNotional` (its scope, here
    every symbol of the account) read the positions sent ahead in the clOrdID claim's pipeline
    (rules.pretrade.prefetch): no read of its own, and the answers still refuse."""
    import rules.intent

    acc = uid("A")
    limits(boss, account=acc, symbol="*", maxOpenNotional="10000")
    buy = child(client_order(acc, "Buy", 60), 60)
    fill(buy, 60, 100)  # long 60 ACME: 6,000
    # another symbol in the scope, counted at its book's mid: 10 x 50 = 500
    book = {"commandType": "SetBookCommand", "venue": VENUE, "symbol": "OTHER"}
    response = boss.post(
        "/api/commands/books", {**book, "bids": [["49", "5"]], "asks": [["51", "5"]]}, format="json"
    )
    assert response.status_code in (200, 201), response.json()
    client_order(acc, "Buy", 10, symbol="OTHER", price="50")
    reads: list[tuple[Any, Any]] = []
    source = rules.intent._positions[0]

    def spy(account: Any, symbol: Any) -> Any:
        reads.append((account, symbol))
        return source(account, symbol)

    monkeypatch.setattr(rules.intent, "_positions", [spy])
    client_order(acc, "Buy", 30)  # worst long 90 ACME: 9,000 + 500
    with pytest.raises(RuleRefused) as refused:
        client_order(acc, "Buy", 6)  # 9,600 + 500 > 10,000 (without OTHER it would pass)
    assert refused.value.rule == "max_open_notional"
    assert refused.value.details["value"] == "10100"
    mark_dirty(acc, VENUE, "ACME", "unknown_outcome:" + buy)
    with pytest.raises(RuleRefused) as refused:
        client_order(acc, "Buy", 1)
    assert refused.value.rule == "position_dirty"
    assert reads == []


# --- 5. replay and the query API ------------------------------------------------------------------


def test_replay_verifies_and_rebuilds_positions() -> None:
    acc = uid("A")
    buy, sell = books(acc)
    first = fill(buy, 10, 100)
    fill(sell, 4, 105)
    cmd("executions", "CorrectExecutionCommand", executionId=first, lastQty="8")
    mark_dirty(acc, VENUE, "ACME", "discrepancy:D1")
    assert replay(types=["position"]).ok
    pid = position_id(acc, VENUE, "ACME")
    good = position(acc)
    Position.objects.filter(pk=pid).update(qty=D(999), doc={**good, "qty": "999"}, fills={})
    report = replay(types=["position"])
    assert not report.ok and {d.aggregate_id for d in report.differences} == {pid}
    call_command("replay", "--rebuild", "--type", "position")
    assert position(acc) == good
    call_command("replay", "--verify")  # every aggregate, orders and executions included


def test_query_api_lists_filters_and_adds_unrealized_pnl_from_the_book(desk: Any, viewer: Any) -> None:
    acc = uid("A")
    buy = child(client_order(acc, "Buy", 10), 10)
    fill(buy, 10, 100)
    response = viewer.get("/api/queries/positions", {"account": acc})
    assert response.status_code == 200
    (doc,) = response.json()["results"]
    assert (doc["venue"], doc["qty"], doc["unrealizedPnl"], doc["markPx"]) == (VENUE, "10", None, None)
    ok = desk.post(
        "/api/commands/books",
        {
            "commandType": "SetBookCommand",
            "venue": VENUE,
            "symbol": "ACME",
            "bids": [["104", "1"]],
            "asks": [["106", "1"]],
        },
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    detail = viewer.get(f"/api/queries/positions/{doc['positionId']}").json()
    assert (detail["markPx"], detail["unrealizedPnl"]) == ("105", "50")
    events = viewer.get(f"/api/queries/positions/{doc['positionId']}/events").json()["results"]
    assert [e["type"] for e in events][:2] == ["PositionOpened", "PositionOpenOrdersChanged"]
    assert events[-1]["type"] == "PositionFilled" and events[-1]["topic"] == "position-events"
    assert "unrealizedPnl" not in events[-1]["state"]  # a read-time value, never an event's
    assert viewer.get("/api/queries/positions", {"account": acc, "venue": "NOPE"}).json()["count"] == 0
    assert viewer.get("/api/queries/positions/PNOPE").status_code == 404


def test_an_error_rolls_back_the_position_with_the_order() -> None:
    acc = uid("A")
    parent = client_order(acc, "Buy", 10)
    with pytest.raises(ApplicationError):
        cmd("orders", "CreateOrderCommand", clOrdID=uid("M"), parentId=parent, orderQty="11", venue=VENUE)
    assert open_qty(acc) == (0, 10, 0)


# --- 6. the live fills are bounded --------------------------------------------------------------


def _env(version: int, event: Any) -> Any:
    import datetime as dt

    from oms.core.fold import Envelope

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return Envelope(event.event_type(), event.to_data(), "P1", version, now, now)


def test_old_fills_fold_into_the_base_and_a_bust_there_is_reversed_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oms.positions import events as ev
    from oms.positions import state as ps

    monkeypatch.setattr(ps, "MAX_LIVE_FILLS", 3)
    s = ps.apply(None, _env(1, ev.PositionOpened(account="A", venue=VENUE, symbol="ACME")))
    trades = [(D(10), D(100)), (D(-4), D(110)), (D(6), D(90)), (D(-20), D(95)), (D(5), D(99))]
    for i, (q, px) in enumerate(trades):
        fill_event = ev.PositionFilled(
            order_id="O", execution_id=f"E{i}", signed_qty=q, last_px=px, multiplier=D(1)
        )
        s = ps.apply(s, _env(i + 2, fill_event))
    assert [f.execution_id for f in s.fills] == ["E2", "E3", "E4"]  # E0, E1 are in the base
    assert (s.qty, s.avg_cost, s.realized_pnl) == independent_fold(trades)
    # a bust of E3 (live) is exact; a bust of E0 (in the base) reverses 10 @ 100 at the end
    s = ps.apply(
        s, _env(8, ev.PositionFillBusted(order_id="O", execution_id="E3", signed_qty=D(-20), last_px=D(95)))
    )
    assert (s.qty, s.avg_cost, s.realized_pnl) == independent_fold(
        [t for i, t in enumerate(trades) if i != 3]
    )
    s = ps.apply(
        s, _env(9, ev.PositionFillBusted(order_id="O", execution_id="E0", signed_qty=D(10), last_px=D(100)))
    )
    assert s.qty == sum(q for i, (q, _) in enumerate(trades) if i not in (0, 3))
    assert s.fills[-1].execution_id == "E0" + ps.REVERSAL
    assert len(s.fills) == 3


def test_an_open_discrepancy_on_a_position_counts_in_its_safe_mode_scopes() -> None:
    from rules.controls import open_discrepancies_in_scope

    acc = uid("A")
    mark_dirty(acc, VENUE, "ACME", "discrepancy:D9")
    mark_dirty(acc, "YV", "ACME", "unknown_outcome:O1")  # dirty, but no discrepancy
    assert open_discrepancies_in_scope("account", acc) == 1
    assert open_discrepancies_in_scope("symbol", f"{VENUE}:ACME") >= 1
    assert open_discrepancies_in_scope("symbol", "YV:ACME") == 0
    clear_dirty(acc, VENUE, "ACME", "discrepancy:D9")
    assert open_discrepancies_in_scope("account", acc) == 0
