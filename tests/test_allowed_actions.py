"""`allowedActions`: the desk actions an order or execution takes now, asked of the transition tables.

Three layers: every state of every table against the table itself (pure, parametrized), the
guards that look beneath the overlays, and the handlers: an action the document allows is
accepted by its command, one it does not allow is refused, for orders reached through real
commands.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from executions.actions import ACTION_OF_TRIGGER as EXEC_ACTION_OF_TRIGGER
from executions.actions import execution_allowed_actions
from executions.enums import ExecStatus
from executions.fsm import EXECUTION_FSM
from executions.state import ExecutionState
from oms.orders import actions
from oms.orders.actions import ACTION_OF_TRIGGER, FILL, ORDER_ACTIONS, order_allowed_actions
from oms.orders.enums import Handling, Kind, OrdStatus, Phase
from oms.orders.state import OrderState, derive
from oms.orders.transitions import CLIENT_ORDER, VENUE_ORDER, Trigger
from tests.lifecycle import Desk, uid

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _registry(request: pytest.FixtureRequest) -> Any:
    """The pure layer runs without the venue registry (no database): its predicate is set per
    test; the tests through real commands keep the registry's."""
    if request.node.get_closest_marker("django_db"):
        yield
        return
    installed = list(actions._sent_by_adapter)
    actions.use_adapter_venues(None)
    yield
    actions._sent_by_adapter[:] = installed


def order_in(status: OrdStatus, kind: Kind = Kind.MARKET, **facts: Any) -> OrderState:
    """An order of 100 reporting `status`, with no children and nothing placed unless `facts` say so."""
    phase, cum = {
        OrdStatus.PENDING_NEW: (Phase.PENDING_NEW, "0"),
        OrdStatus.NEW: (Phase.OPEN, "0"),
        OrdStatus.PARTIALLY_FILLED: (Phase.OPEN, "40"),
        OrdStatus.FILLED: (Phase.OPEN, "100"),
        OrdStatus.DONE_FOR_DAY: (Phase.DONE_FOR_DAY, "40"),
        OrdStatus.CANCELED: (Phase.CANCELED, "0"),
        OrdStatus.EXPIRED: (Phase.EXPIRED, "0"),
        OrdStatus.REJECTED: (Phase.REJECTED, "0"),
        OrdStatus.PENDING_CANCEL: (Phase.OPEN, "0"),
        OrdStatus.PENDING_REPLACE: (Phase.OPEN, "0"),
    }[status]
    values: dict[str, Any] = {
        "order_id": "O-1",
        "cl_ord_id": "C-1",
        "kind": kind,
        "root_id": "O-1" if kind is Kind.CLIENT else "O-0",
        "parent_id": None if kind is Kind.CLIENT else "O-0",
        "symbol": "ACME",
        "side": "Buy",
        "order_qty": Decimal(100),
        "ord_type": "Market",
        "time_in_force": "Day",
        "account": "ACC1",
        "handling": Handling.DESK,
        "phase": phase,
        "version": 3,
        "created_at": NOW,
        "updated_at": NOW,
        "venue": "MANUAL",
        "cum_qty": Decimal(cum),
        "pending_cancel": {"clOrdID": "C-2"} if status is OrdStatus.PENDING_CANCEL else None,
        "pending_replace": {"orderQty": "80"} if status is OrdStatus.PENDING_REPLACE else None,
    }
    values.update(facts)
    order = OrderState(**values)
    derive(order)
    if not facts:
        assert order.status is status
    return order


# --- every state of each table, against the table --------------------------------------------------

# (table, status) pairs where a guard beneath the overlay takes a table's trigger away in the
# plain state built by `order_in`, and why
GUARDED: dict[tuple[str, OrdStatus], set[str]] = {
    # an acknowledged order under a cancel request: the venue can no longer accept or reject it
    ("venue order", OrdStatus.PENDING_CANCEL): {"accept", "reject", "confirmReplace", "rejectReplace"},
}


def _table_cases() -> list[Any]:
    cases = []
    for machine, kinds in ((VENUE_ORDER, (Kind.MARKET, Kind.SLICE)), (CLIENT_ORDER, (Kind.CLIENT,))):
        for kind in kinds:
            for status in OrdStatus:
                cases.append(pytest.param(machine, kind, status, id=f"{kind.value}-{status.value}"))
    return cases


@pytest.mark.parametrize(("machine", "kind", "status"), _table_cases())
def test_allowed_actions_are_the_tables_triggers_from_the_state(
    machine: Any, kind: Kind, status: OrdStatus
) -> None:
    order = order_in(status, kind)
    from_table = {ACTION_OF_TRIGGER[Trigger(t)] for t in machine.triggers_from(status)}
    if kind is Kind.SLICE:
        from_table.discard("place")  # a slice never has children
    expected = from_table - GUARDED.get((machine.name, status), set())

    allowed = order_allowed_actions(order)

    assert set(allowed) - {FILL} == expected
    assert len(allowed) == len(set(allowed))
    # a desk fill only on a venue order the venue accepted and that still works
    assert (FILL in allowed) == (kind is not Kind.CLIENT and order.is_working and order.phase is Phase.OPEN)
    assert all(action in ORDER_ACTIONS for action in allowed)


def test_a_filled_working_market_order_takes_a_replace_but_a_filled_canceled_one_does_not() -> None:
    # C.1.c: a filled order's quantity may be increased; an order the venue canceled that a late
    # fill then completed reads Filled but is judged as Canceled (nothing left to change)
    working = order_in(OrdStatus.FILLED)
    finished = order_in(OrdStatus.FILLED, phase=Phase.CANCELED)
    assert finished.status is OrdStatus.FILLED
    assert order_allowed_actions(working) == ["replace", "restate"]
    assert order_allowed_actions(finished) == []


def test_a_cancel_before_the_acknowledgement_still_takes_the_venues_accept_or_reject() -> None:
    order = order_in(OrdStatus.PENDING_CANCEL, phase=Phase.PENDING_NEW)  # B.1.d then B.1.e
    assert order_allowed_actions(order) == [
        "accept",
        "reject",
        "confirmCancel",
        "rejectCancel",
        "expire",
    ]  # no desk fill before the acknowledgement


def test_working_children_hold_back_expire_done_for_day_and_the_venues_cancel() -> None:
    market = order_in(OrdStatus.NEW, working_children=1, placed_qty=Decimal(30))
    assert order_allowed_actions(market) == ["place", "cancel", "replace", "restate", "fill"]


def test_nothing_left_to_place_takes_place_away() -> None:
    client = order_in(OrdStatus.NEW, Kind.CLIENT, placed_qty=Decimal(100), working_children=2)
    assert "place" not in order_allowed_actions(client)
    assert "place" in order_allowed_actions(order_in(OrdStatus.NEW, Kind.CLIENT, placed_qty=Decimal(99)))


def test_a_venue_order_its_adapter_reports_offers_the_desk_cancel_and_replace_only() -> None:
    actions.use_adapter_venues(lambda venue: venue == "SIM")
    working = order_in(OrdStatus.PARTIALLY_FILLED, venue="SIM")
    unacknowledged = order_in(OrdStatus.PENDING_NEW, venue="SIM")
    client = order_in(OrdStatus.NEW, Kind.CLIENT, venue="SIM")
    manual = order_in(OrdStatus.PARTIALLY_FILLED, venue="MANUAL")

    assert order_allowed_actions(working) == ["cancel", "replace"]
    assert order_allowed_actions(unacknowledged) == ["cancel"]
    assert "place" in order_allowed_actions(client) and "expire" in order_allowed_actions(client)
    assert {"confirmCancel", "expire", "restate", FILL} <= set(order_allowed_actions(manual))


def test_the_desk_rejects_only_a_client_order_it_has_not_worked() -> None:
    assert order_allowed_actions(order_in(OrdStatus.NEW, Kind.CLIENT)) == [
        "place", "cancel", "replace", "reject", "expire", "doneForDay", "restate",
    ]  # fmt: skip
    placed = order_in(OrdStatus.NEW, Kind.CLIENT, placed_qty=Decimal(10))
    assert "reject" not in order_allowed_actions(placed)


def test_a_pending_replace_takes_no_second_replace_but_its_answer() -> None:
    order = order_in(OrdStatus.PENDING_REPLACE)
    assert order_allowed_actions(order) == [
        "cancel", "confirmCancel", "confirmReplace", "rejectReplace", "expire", "restate", "fill",
    ]  # fmt: skip


# --- executions --------------------------------------------------------------------------------------


def execution_in(status: ExecStatus) -> ExecutionState:
    return ExecutionState(
        execution_id="E-1",
        exec_id="X-1",
        order_id="O-1",
        client_order_id="O-0",
        venue="MANUAL",
        last_qty=Decimal(10),
        last_px=Decimal(5),
        status=status,
        version=1,
        transact_time=NOW,
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ExecStatus.PENDING_REVIEW, ["allocate", "reject", "correct"]),
        (ExecStatus.ALLOCATED, ["correct", "bust"]),
        (ExecStatus.APPLIED, ["correct", "bust"]),
        (ExecStatus.REJECTED, []),
        (ExecStatus.BUSTED, []),
    ],
)
def test_execution_allowed_actions_follow_the_execution_table(
    status: ExecStatus, expected: list[str]
) -> None:
    allowed = execution_allowed_actions(execution_in(status))
    assert allowed == expected
    assert set(allowed) == {a for t, a in EXEC_ACTION_OF_TRIGGER.items() if EXECUTION_FSM.can(status, t)}


# --- the documents carry it, and the handlers agree with it -------------------------------------------

COMMANDS = {
    "cancel": lambda o: {"commandType": "CancelOrderCommand", "clOrdID": uid("AC")},
    "replace": lambda o: {
        "commandType": "ReplaceOrderCommand",
        "clOrdID": uid("AR"),
        "orderQty": str(Decimal(o["orderQty"]) + 1),
    },
    "accept": lambda o: {"commandType": "AcceptOrderCommand"},
    "reject": lambda o: {"commandType": "RejectOrderCommand"},
    "confirmCancel": lambda o: {"commandType": "ConfirmCancelCommand"},
    "rejectCancel": lambda o: {"commandType": "RejectCancelCommand"},
    "confirmReplace": lambda o: {"commandType": "ConfirmReplaceCommand"},
    "rejectReplace": lambda o: {"commandType": "RejectReplaceCommand"},
    "expire": lambda o: {"commandType": "ExpireOrderCommand"},
    "doneForDay": lambda o: {"commandType": "DoneForDayCommand"},
    "restate": lambda o: {"commandType": "RestateOrderCommand", "orderQty": o["orderQty"]},
}


def _scenarios(desk: Desk) -> dict[str, dict[str, Any]]:
    """Orders in the states the desk meets, reached through commands."""
    out: dict[str, dict[str, Any]] = {}
    out["client new"] = desk.client_order(100)
    worked = desk.client_order(100)
    out["market pending new"] = desk.child(worked, 60)
    out["client with a working child"] = desk.refresh(worked)
    out["market new"] = desk.venue_order(100)
    out["market partially filled"] = desk.fill(desk.venue_order(100), 40)
    out["market filled"] = desk.fill(desk.venue_order(100), 100)
    out["client filled"] = desk.get(out["market filled"]["rootId"])
    out["market pending cancel"] = desk.cancel(desk.venue_order(100))
    out["market cancel before the ack"] = desk.cancel(desk.venue_order(100, accept=False))
    out["market pending replace"] = desk.replace(desk.venue_order(100), orderQty=80)
    out["market done for day"] = desk.do("DoneForDayCommand", desk.venue_order(100))
    out["market canceled"] = desk.do("ConfirmCancelCommand", desk.venue_order(100))
    out["market rejected"] = desk.do("RejectOrderCommand", desk.venue_order(100, accept=False))
    out["client canceled"] = desk.cancel(desk.client_order(100))
    market = desk.venue_order(100)
    out["slice new"] = desk.do("AcceptOrderCommand", desk.child(market, 30))
    out["market with a working slice"] = desk.refresh(market)
    return out


def _accepted(desk: Desk, action: str, order: dict[str, Any]) -> bool:
    """Is the command of `action` accepted on `order`? (tried in a savepoint, rolled back)"""

    class Undo(Exception):
        pass

    if action == "place":
        body = desk.child_command(order, 1)
    else:
        body = {"orderId": order["orderId"], **COMMANDS[action](order)}
    try:
        with transaction.atomic():
            status, answer = desk.send("orders", body)
            raise Undo(status, answer)
    except Undo as undo:
        status, answer = undo.args
    return status in (200, 201)


@pytest.mark.django_db
def test_every_order_action_is_accepted_exactly_when_the_document_allows_it(trader: Desk) -> None:
    scenarios = _scenarios(trader)
    disagreements = []
    tried = {True: 0, False: 0}
    for name, order in scenarios.items():
        doc = trader.refresh(order)
        for action in ("place", *COMMANDS):
            allowed = action in doc["allowedActions"]
            tried[allowed] += 1
            if _accepted(trader, action, doc) != allowed:
                disagreements.append((name, doc["status"], action, allowed))
    assert disagreements == []
    assert tried[True] > 40 and tried[False] > 80, tried  # both sides of every table are exercised


@pytest.mark.django_db
def test_the_documents_and_their_events_carry_allowed_actions(trader: Desk) -> None:
    market = trader.venue_order(100, accept=False)
    # not accepted yet: no desk fill (the venue's adapter may still report one, applied as an accept)
    assert market["allowedActions"] == ["cancel", "accept", "reject", "confirmCancel", "expire"]
    answer = trader.execute(trader.do("AcceptOrderCommand", market), 500)  # an overfill: held
    assert answer["execution"]["status"] == "PendingReview"
    assert answer["execution"]["allowedActions"] == ["allocate", "reject", "correct"]
    rejected = trader.ok("executions", trader.exec_command("RejectExecutionCommand", answer["execution"]))
    assert rejected["execution"]["allowedActions"] == []
