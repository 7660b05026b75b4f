"""The `sim` commands over HTTP: superuser only, field errors, and the SIM book they set."""

from __future__ import annotations

from typing import Any

import pytest

from oms.venues.sim.adapter import engine_for
from tests.conftest import uid
from tests.test_api_commands import ok, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_sim(settings: Any, tmp_path: Any) -> None:
    settings.OMS_SIM_PREFIX = f"sim-api-{uid('P')}"
    settings.VAR_DIR = tmp_path


def market(symbol: str, **fields: Any) -> dict[str, Any]:
    return {
        "commandType": "SimSetMarketCommand",
        "symbol": symbol,
        "bidPx": "100",
        "askPx": "101",
        "bidSize": "2",
        "askSize": "3",
        **fields,
    }


def test_only_a_superuser_may_drive_the_sim_venue(desk: Any) -> None:
    status, js = send(desk, "sim", market("BTC-PERP"))
    assert (status, js["error"]["code"]) == (403, "permission_denied")
    status, _ = send(desk, "sim", {"commandType": "SimSetFaultsCommand", "faults": {"rejectNext": 1}})
    assert status == 403
    assert engine_for("SIM").faults() == {}


def test_sim_market_sets_the_sim_book_that_prices_the_checks(boss: Any) -> None:
    ok(boss, "sim", market("ETH-PERP", bidPx="1999.5", askPx="2000.5", bidSize="4", askSize="6"))
    book = boss.get("/api/queries/books/SIM/ETH-PERP").json()
    assert (book["bestBid"], book["bestAsk"], book["bids"], book["asks"]) == (
        "1999.5", "2000.5", [["1999.5", "4"]], [["2000.5", "6"]],
    )  # fmt: skip
    assert engine_for("SIM").market("ETH-PERP")["askSize"] == "6"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (market("X", bidPx="101"), "bidPx"),
        (market("X", askSize="-1"), "askSize"),
        (market("X", askPx="abc"), "askPx"),
        ({"commandType": "SimSetFaultsCommand", "faults": {"explode": 1}}, "faults"),
        ({"commandType": "SimSetFaultsCommand", "faults": {"rejectNext": -1}}, "faults"),
        ({"commandType": "SimSetFaultsCommand", "faults": "rejectNext"}, "faults"),
        (
            {
                "commandType": "SimExternalTradeCommand",
                "account": "A",
                "symbol": "X",
                "side": "Up",
                "qty": "1",
                "px": "1",
            },
            "side",
        ),
    ],
)
def test_bad_sim_commands_are_400_with_the_field_and_change_nothing(
    boss: Any, body: dict[str, Any], field: str
) -> None:
    status, js = send(boss, "sim", body)
    assert status == 400, js
    assert js["error"]["code"] == "validation_failed"
    assert field in js["error"]["fields"]
    assert engine_for("SIM").market("X") is None and engine_for("SIM").faults() == {}


def test_faults_and_external_trades_answer_what_the_venue_now_holds(boss: Any) -> None:
    js = ok(
        boss, "sim", {"commandType": "SimSetFaultsCommand", "faults": {"dropAck": 2, "snapshotLagMs": 250}}
    )
    assert js["faults"] == {"dropAck": 2, "snapshotLagMs": 250}
    js = ok(boss, "sim", {"commandType": "SimSetFaultsCommand", "faults": {"dropAck": 0}})
    assert js["faults"] == {"snapshotLagMs": 250}
    trade = ok(
        boss,
        "sim",
        {
            "commandType": "SimExternalTradeCommand",
            "account": "A1",
            "symbol": "BTC-PERP",
            "side": "Buy",
            "qty": "2",
            "px": "64000",
        },
    )
    assert trade["trade"]["execID"].startswith("SIM-X")
    [position] = engine_for("SIM").fetch_positions(account="A1")
    assert (position.qty, position.avg_px) == (2, 64000)
