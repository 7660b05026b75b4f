"""The controls' aggregates replay like orders: instruments, limits, refusals, venues, controls and
the kill switch's records rebuilt from their events equal their state rows (manage.py replay
--verify covers them)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from oms.core.dispatch import dispatch
from oms.core.replay import replay
from rules.models import Control, Instrument
from tests.controls_support import instrument, ok, order_body, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_instruments_limits_and_refusals_replay_to_their_state(boss: Any, desk: Any) -> None:
    instrument(boss, "SIM", "XBT-PERP")
    instrument(boss, "SIM", "XBT-PERP", tickSize="1", enabled=False)
    ok(boss, "limits", {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "maxOrderQty": "5"})
    ok(
        boss,
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": "*", "priceCollarPct": "2.5"},
    )
    status, _ = send(desk, "orders", order_body(orderQty="6"))
    assert status == 422
    report = replay(types=["instrument", "limit", "refusal"])
    assert report.ok, report
    assert report.events == 5
    Instrument.objects.update(tick_size="0.25")  # a tampered row is found
    assert not replay(types=["instrument"]).ok


def test_venues_controls_and_cancel_alls_replay_to_their_state(boss: Any, desk: Any) -> None:
    second = User.objects.create_user(username="second", password="pw")
    second.groups.add(Group.objects.get_or_create(name="desk")[0])
    desk2 = APIClient()
    desk2.force_authenticate(second)
    ok(
        boss,
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Live"},
    )
    dispatch(
        "venues",
        {"commandType": "RecordVenueFeedCommand", "venue": "SIM", "feed": "Healthy"},
        actor="system:w",
    )
    ok(desk, "controls", {"commandType": "RequestArmingCommand", "venue": "SIM"})
    ok(desk2, "controls", {"commandType": "ConfirmArmingCommand", "venue": "SIM"})
    ok(desk, "controls", {"commandType": "DisarmCommand", "venue": "SIM"})
    engaged = ok(desk, "controls", {"commandType": "EngageSafeModeCommand", "scope": "global", "reason": "r"})
    ok(
        boss,
        "controls",
        {
            "commandType": "ReleaseSafeModeCommand",
            "controlId": engaged["control"]["controlId"],
            "reason": "ok",
        },
    )
    ok(desk, "orders", order_body())
    ok(desk, "controls", {"commandType": "CancelAllCommand", "scope": "account", "key": "ACC1"})
    report = replay(types=["venue", "control", "cancel_all"])
    assert report.ok, report
    assert report.events == 10  # venue 4, controls 5, the kill switch 1
    Control.objects.update(active=True)  # a tampered row is found
    assert not replay(types=["control"]).ok
