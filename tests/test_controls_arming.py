"""Arming (issue 10, step 5): a Live venue accepts orders only while armed (`venue_not_armed`);
RequestArmingCommand then ConfirmArmingCommand by a different user; DisarmCommand refuses again;
a change of the venue's mode disarms it. Cancels and smaller replaces are never refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from oms.core.dispatch import dispatch
from oms.orders.models import Order
from rules.venues import venue_state
from tests.conftest import uid
from tests.controls_support import ok, order_body, refusals, send, venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk2(db: Any) -> APIClient:
    """A second desk trader (the four eyes of arming)."""
    user = User.objects.create_user(username="second", password="pw-second")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    client = APIClient()
    client.force_authenticate(user)
    return client


def arming(client: Any, command: str, name: str = "LIVE1") -> tuple[int, Any]:
    return send(client, "controls", {"commandType": command, "venue": name})


def live_order(**terms: Any) -> dict[str, Any]:
    return order_body(**{"venue": "LIVE1", **terms})


@pytest.fixture
def live(boss: Any) -> dict[str, Any]:
    # a MANUAL adapter: no feed, so only arming decides (a Live broker worked by phone)
    return venue(boss, "LIVE1", adapter="MANUAL", mode="Live")


def test_a_live_venue_refuses_orders_until_two_users_arm_it(
    desk: Any, desk2: Any, boss: Any, live: Any
) -> None:
    before = Order.objects.count()
    status, js = send(desk, "orders", live_order())
    assert (
        status == 422
        and js["error"]["rule"] == "venue_not_armed"
        and js["error"]["details"]["venue"] == "LIVE1"
    )
    assert Order.objects.count() == before and len(refusals("venue_not_armed")) == 1
    status, requested = arming(desk, "RequestArmingCommand")
    assert (
        status == 201 and requested["control"]["kind"] == "Arming" and requested["control"]["active"] is False
    )
    assert requested["control"]["requestedBy"] == "trader"
    assert send(desk, "orders", live_order())[0] == 422  # requested is not armed
    status, js = arming(desk, "ConfirmArmingCommand")
    assert status == 403 and js["error"]["code"] == "second_user_required"
    assert venue_state("LIVE1").armed is False
    status, confirmed = arming(desk2, "ConfirmArmingCommand")
    assert status == 200, confirmed
    control = confirmed["control"]
    assert (control["active"], control["engagedBy"], control["scope"], control["key"]) == (
        True,
        "second",
        "venue",
        "LIVE1",
    )
    assert [e["type"] for e in confirmed["events"]] == ["ArmingConfirmed", "VenueArmed"]
    assert desk.get("/api/queries/venues?venue=LIVE1").json()["results"][0]["armed"] is True
    assert ok(desk, "orders", live_order())["order"]["venue"] == "LIVE1"
    active = boss.get("/api/queries/controls?active=true&scope=venue&key=LIVE1").json()["results"]
    assert [c["controlId"] for c in active] == [control["controlId"]]


def test_disarm_refuses_orders_again_and_repeating_it_changes_nothing(
    desk: Any, desk2: Any, live: Any
) -> None:
    arming(desk, "RequestArmingCommand")
    arming(desk2, "ConfirmArmingCommand")
    order = ok(desk, "orders", live_order(orderQty="10"))["order"]
    status, js = arming(desk2, "DisarmCommand")
    assert status == 200 and js["control"]["active"] is False and js["control"]["releasedBy"] == "second"
    assert venue_state("LIVE1").armed is False
    status, js = send(desk, "orders", live_order())
    assert status == 422 and js["error"]["rule"] == "venue_not_armed"
    status, again = arming(desk, "DisarmCommand")
    assert status == 200 and again["duplicate"] is True and again["events"] == []
    # what reduces risk still passes on a disarmed Live venue
    replace = {"commandType": "ReplaceOrderCommand", "orderId": order["orderId"], "clOrdID": uid("R")}
    assert send(desk, "orders", {**replace, "orderQty": "11"})[1]["error"]["rule"] == "venue_not_armed"
    assert ok(desk, "orders", {**replace, "clOrdID": uid("R"), "orderQty": "5"})["order"]["orderQty"] == "5"
    cancel = {"commandType": "CancelOrderCommand", "orderId": order["orderId"], "clOrdID": uid("X")}
    assert ok(desk, "orders", cancel)["order"]["status"] == "Canceled"


def test_disarm_withdraws_a_pending_request(desk: Any, desk2: Any, live: Any) -> None:
    arming(desk, "RequestArmingCommand")
    status, js = arming(desk2, "DisarmCommand")
    assert status == 200 and js["control"]["status"] == "Disarmed"
    status, js = arming(desk2, "ConfirmArmingCommand")
    assert status == 409 and js["error"]["code"] == "invalid_transition"


def test_arming_is_refused_for_paper_unknown_or_already_armed_venues(
    desk: Any, desk2: Any, boss: Any, live: Any
) -> None:
    venue(boss, "PAPER1", adapter="MANUAL", mode="Paper")
    status, js = arming(desk, "RequestArmingCommand", "PAPER1")
    assert status == 409 and js["error"]["code"] == "invalid_transition"
    assert arming(desk, "RequestArmingCommand", "NOPE")[0] == 404
    assert arming(desk, "ConfirmArmingCommand")[0] == 409  # nothing requested
    first = arming(desk, "RequestArmingCommand")[1]["control"]
    status, same = arming(desk, "RequestArmingCommand")
    assert status == 200 and same["duplicate"] is True and same["control"]["controlId"] == first["controlId"]
    assert arming(desk2, "RequestArmingCommand")[0] == 409  # someone else's request is pending
    arming(desk2, "ConfirmArmingCommand")
    status, js = arming(desk, "RequestArmingCommand")
    assert status == 409 and "already armed" in js["error"]["message"]


def test_changing_a_venues_mode_disarms_it(desk: Any, desk2: Any, boss: Any, live: Any) -> None:
    arming(desk, "RequestArmingCommand")
    control = arming(desk2, "ConfirmArmingCommand")[1]["control"]
    venue(boss, "LIVE1", adapter="MANUAL", mode="Paper")
    assert venue_state("LIVE1").armed is False
    assert boss.get(f"/api/queries/controls/{control['controlId']}").json()["active"] is False
    venue(boss, "LIVE1", adapter="MANUAL", mode="Live")
    status, js = send(desk, "orders", live_order())
    assert status == 422 and js["error"]["rule"] == "venue_not_armed"


def test_a_viewer_cannot_arm_and_system_jobs_can_disarm(
    viewer: Any, desk: Any, desk2: Any, live: Any
) -> None:
    assert arming(viewer, "RequestArmingCommand")[0] == 403
    arming(desk, "RequestArmingCommand")
    arming(desk2, "ConfirmArmingCommand")
    dispatch(
        "controls",
        {"commandType": "DisarmCommand", "venue": "LIVE1", "reason": "feed lost"},
        actor="system:watchdog",
    )
    assert venue_state("LIVE1").armed is False


def test_changing_a_venues_mode_withdraws_a_pending_request(
    desk: Any, desk2: Any, boss: Any, live: Any
) -> None:
    requested = arming(desk, "RequestArmingCommand")[1]["control"]
    venue(boss, "LIVE1", adapter="MANUAL", mode="Paper")
    venue(boss, "LIVE1", adapter="MANUAL", mode="Live")
    assert boss.get(f"/api/queries/controls/{requested['controlId']}").json()["status"] == "Disarmed"
    status, js = arming(desk2, "ConfirmArmingCommand")  # the old request cannot arm the venue now
    assert status == 409 and js["error"]["code"] == "invalid_transition"
