"""SAFE mode (issue 10, step 5): each scope refuses exactly the new orders and quantity-raising
replaces it holds (422 rule_refused `safe_mode`, recorded as OrderRefused), cancels always pass;
engaging is desk or superuser, releasing superuser only with a reason and no open discrepancy;
`GET /api/queries/controls` with the contract's fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.orders.models import Order
from rules import controls
from rules.errors import CheckRefused
from tests.conftest import uid
from tests.controls_support import ok, order_body, refusals, send

pytestmark = pytest.mark.django_db

CONTROL_FIELDS = {
    "controlId", "kind", "scope", "key", "reason", "active", "engagedBy", "engagedAt",
    "releasedBy", "releasedAt", "source", "version",
}  # fmt: skip

# probe orders (account, symbol, venue) and the scopes that hold each
PROBES = {
    "p1": ("A1", "S1", "V1"),
    "p2": ("A2", "S1", "V2"),
    "p3": ("A1", "S2", "V2"),
    "p4": ("A2", "S2", None),
}
SCOPES = [
    ("global", None, {"p1", "p2", "p3", "p4"}),
    ("venue", "V1", {"p1"}),
    ("account", "A1", {"p1", "p3"}),
    ("symbol", "S1", {"p1", "p2"}),
    ("symbol", "V2:S1", {"p2"}),
    ("symbol", "V9:S1", set()),
]


def engage(
    client: Any, scope: str, key: str | None = None, reason: str = "drill", **extra: Any
) -> dict[str, Any]:
    body = {"commandType": "EngageSafeModeCommand", "scope": scope, "key": key, "reason": reason, **extra}
    return ok(client, "controls", {k: v for k, v in body.items() if v is not None})["control"]


def release(client: Any, control_id: str, reason: str | None = "all clear") -> tuple[int, Any]:
    body = {"commandType": "ReleaseSafeModeCommand", "controlId": control_id, "reason": reason}
    return send(client, "controls", {k: v for k, v in body.items() if v is not None})


def probe(name: str, **terms: Any) -> dict[str, Any]:
    account, symbol, venue = PROBES[name]
    return order_body(account=account, symbol=symbol, venue=venue, **terms)


@pytest.mark.parametrize(("scope", "key", "held"), SCOPES)
def test_each_scope_refuses_exactly_the_new_orders_it_holds(
    desk: Any, scope: str, key: str | None, held: set[str]
) -> None:
    control = engage(desk, scope, key)
    for name in sorted(PROBES):
        before = Order.objects.count()
        status, js = send(desk, "orders", probe(name))
        if name in held:
            assert status == 422, (name, js)
            assert js["error"]["code"] == "rule_refused" and js["error"]["rule"] == "safe_mode"
            assert js["error"]["details"]["controlId"] == control["controlId"]
            assert Order.objects.count() == before
        else:
            assert status == 201, (name, js)
    recorded = refusals("safe_mode")
    assert sorted(r["account"] + r["symbol"] for r in recorded) == sorted(
        PROBES[n][0] + PROBES[n][1] for n in held
    )
    listed = desk.get("/api/queries/refusals?rule=safe_mode").json()
    assert listed["count"] == len(held)


def test_safe_mode_is_checked_in_process_too(desk_user: Any) -> None:
    dispatch(
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "account", "key": "A1", "reason": "drill"},
        actor="trader",
    )
    with pytest.raises(CheckRefused) as caught:
        dispatch("orders", probe("p1"), actor="trader")
    assert caught.value.rule == "safe_mode" and caught.value.http_status == 422
    assert dispatch("orders", probe("p2"), actor="trader").status_code == 201
    assert [r["account"] for r in refusals("safe_mode")] == ["A1"]


def test_children_are_new_orders_too(desk: Any) -> None:
    parent = ok(desk, "orders", probe("p4", orderQty="10"))["order"]
    engage(desk, "venue", "V7")
    child = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("M"),
        "parentId": parent["orderId"],
        "orderQty": "5",
    }
    status, js = send(desk, "orders", {**child, "venue": "V7"})
    assert status == 422 and js["error"]["rule"] == "safe_mode"
    assert ok(desk, "orders", {**child, "clOrdID": uid("M"), "venue": "V8"})["order"]["kind"] == "Market"


def test_replaces_that_raise_quantity_are_refused_lower_ones_and_cancels_pass(desk: Any) -> None:
    a = ok(desk, "orders", probe("p1", orderQty="10"))["order"]
    b = ok(desk, "orders", probe("p1", orderQty="10"))["order"]
    engage(desk, "account", "A1")
    replace = {"commandType": "ReplaceOrderCommand", "orderId": a["orderId"]}
    status, js = send(desk, "orders", {**replace, "clOrdID": uid("R"), "orderQty": "11"})
    assert status == 422 and js["error"]["rule"] == "safe_mode"
    assert Order.objects.get(pk=a["orderId"]).doc["orderQty"] == "10"
    lower = ok(desk, "orders", {**replace, "clOrdID": uid("R"), "orderQty": "4"})["order"]
    assert lower["orderQty"] == "4"
    repriced = ok(desk, "orders", {**replace, "clOrdID": uid("R"), "price": "101"})["order"]
    assert repriced["price"] == "101"  # the contract refuses quantity increases only
    canceled = ok(
        desk, "orders", {"commandType": "CancelOrderCommand", "orderId": b["orderId"], "clOrdID": uid("X")}
    )
    assert canceled["order"]["status"] == "Canceled"
    assert len(refusals("safe_mode")) == 1


def test_the_controls_query_has_the_contract_fields_and_filters(desk: Any, viewer: Any) -> None:
    venue_control = engage(desk, "venue", "V1", reason="venue flapping")
    engage(desk, "global")
    assert set(venue_control) >= CONTROL_FIELDS
    assert (venue_control["kind"], venue_control["scope"], venue_control["key"]) == (
        "SafeMode",
        "venue",
        "V1",
    )
    assert venue_control["active"] is True and venue_control["engagedBy"] == "trader"
    assert venue_control["source"] == "desk" and venue_control["releasedBy"] is None
    page = viewer.get("/api/queries/controls?active=true&scope=venue&key=V1").json()
    assert [c["controlId"] for c in page["results"]] == [venue_control["controlId"]]
    assert viewer.get("/api/queries/controls?active=true").json()["count"] == 2
    assert viewer.get("/api/queries/controls?active=false").json()["count"] == 0
    assert viewer.get("/api/queries/controls?active=maybe").status_code == 400
    events = viewer.get(f"/api/queries/controls/{venue_control['controlId']}/events").json()["results"]
    assert [(e["type"], e["topic"], e["actor"]) for e in events] == [
        ("SafeModeEngaged", "control-events", "trader")
    ]
    assert events[0]["data"]["reason"] == "venue flapping"


def test_engaging_the_same_scope_again_answers_the_control_in_force(desk: Any, boss: Any) -> None:
    first = engage(desk, "symbol", "S1")
    status, again = send(
        boss,
        "controls",
        {"commandType": "EngageSafeModeCommand", "scope": "symbol", "key": "S1", "reason": "again"},
    )
    assert (
        status == 200 and again["duplicate"] is True and again["control"]["controlId"] == first["controlId"]
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "global", "key": "X"}, "key"),
        ({"scope": "venue"}, "key"),
        ({"scope": "desk", "key": "X"}, "scope"),
        ({"scope": "venue", "key": "V1", "reason": None}, "reason"),
        ({"scope": "venue", "key": "V1", "reason": "   "}, "reason"),
    ],
)
def test_a_malformed_engage_is_400_and_engages_nothing(desk: Any, body: dict[str, Any], field: str) -> None:
    full = {"commandType": "EngageSafeModeCommand", "reason": "r", **body}
    status, js = send(desk, "controls", {k: v for k, v in full.items() if v is not None})
    assert status == 400 and field in js["error"]["fields"], js
    assert desk.get("/api/queries/controls").json()["count"] == 0


def test_a_viewer_cannot_engage_and_a_person_cannot_pose_as_reconciliation(viewer: Any, desk: Any) -> None:
    status, _ = send(
        viewer, "controls", {"commandType": "EngageSafeModeCommand", "scope": "global", "reason": "x"}
    )
    assert status == 403
    status, js = send(
        desk,
        "controls",
        {
            "commandType": "EngageSafeModeCommand",
            "scope": "global",
            "reason": "x",
            "source": "reconciliation",
        },
    )
    assert status == 403 and js["error"]["code"] == "permission_denied"
    engaged = dispatch(
        "controls",
        {
            "commandType": "EngageSafeModeCommand",
            "scope": "venue",
            "key": "V1",
            "reason": "position mismatch",
        },
        actor="system:reconciliation",
    ).body["control"]
    assert engaged["source"] == "reconciliation"


def test_release_is_superuser_only_needs_a_reason_and_lets_orders_through_again(desk: Any, boss: Any) -> None:
    control = engage(desk, "account", "A1")
    status, js = release(desk, control["controlId"])
    assert status == 403 and js["error"]["code"] == "permission_denied"
    status, js = release(boss, control["controlId"], reason=None)
    assert status == 400 and "reason" in js["error"]["fields"]
    assert send(desk, "orders", probe("p1"))[0] == 422
    status, js = release(boss, control["controlId"])
    assert status == 200, js
    released = js["control"]
    assert released["active"] is False and released["releasedBy"] == "boss" and released["releasedAt"]
    assert released["version"] == 2
    assert send(desk, "orders", probe("p1"))[0] == 201
    status, js = release(boss, control["controlId"])
    assert status == 409 and js["error"]["code"] == "invalid_transition"
    assert release(boss, "K-NOPE")[0] == 404
    events = boss.get(f"/api/queries/controls/{control['controlId']}/events").json()["results"]
    assert [(e["type"], e["actor"]) for e in events] == [
        ("SafeModeEngaged", "trader"),
        ("SafeModeReleased", "boss"),
    ]
    assert events[1]["data"]["releaseReason"] == "all clear"


@pytest.fixture
def discrepancies() -> Iterator[dict[tuple[str, str], int]]:
    open_ones: dict[tuple[str, str], int] = {}

    def count(scope: str, key: str) -> int:
        return open_ones.get((scope, key), 0)

    controls.register_open_discrepancies(count)
    yield open_ones
    controls._DISCREPANCY_COUNTERS.remove(count)


def test_release_is_refused_while_the_scope_has_an_open_discrepancy(
    desk: Any, boss: Any, discrepancies: dict[tuple[str, str], int]
) -> None:
    control = engage(desk, "venue", "SIM", reason="position mismatch")
    discrepancies[("venue", "SIM")] = 2
    status, js = release(boss, control["controlId"])
    assert (
        status == 409
        and js["error"]["code"] == "open_discrepancies"
        and js["error"]["openDiscrepancies"] == 2
    )
    assert boss.get(f"/api/queries/controls/{control['controlId']}").json()["active"] is True
    discrepancies[("venue", "SIM")] = 0
    assert release(boss, control["controlId"])[0] == 200


def test_the_preview_shows_the_safe_mode_refusal(desk: Any) -> None:
    engage(desk, "global")
    response = desk.post("/api/commands/orders/preview", probe("p1"), format="json")
    assert response.status_code == 200
    assert [r["rule"] for r in response.json()["refusals"]] == ["safe_mode"]


def test_engage_by_an_unknown_actor_in_process_is_refused(db: Any) -> None:
    with pytest.raises(ApplicationError) as caught:
        dispatch(
            "controls",
            {"commandType": "EngageSafeModeCommand", "scope": "global", "reason": "x"},
            actor="nobody",
        )
    assert caught.value.http_status == 403
