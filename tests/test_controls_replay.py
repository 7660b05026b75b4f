"""The controls' aggregates replay like orders: instruments, limits and refusals rebuilt from their
events equal their state rows (manage.py replay --verify covers them)."""

from __future__ import annotations

from typing import Any

import pytest

from oms.core.replay import replay
from rules.models import Instrument
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
