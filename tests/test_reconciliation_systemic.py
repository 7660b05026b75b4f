"""A venue that disagrees on many symbols is systemic: discrepancies open on more than
OMS_RECONCILE_VENUE_SAFE_SYMBOLS symbols of one venue put the whole venue in SAFE mode (with an
alert), which a superuser cannot release while any of them is open."""

from __future__ import annotations

from typing import Any

import pytest

from oms.core.dispatch import dispatch
from rules.models import Control
from tests.conftest import uid
from tests.venues_support import SUPER, fresh_sim_venue, sim_instrument, sim_market

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOLS = ("AAA-PERP", "BBB-PERP", "CCC-PERP", "DDD-PERP")


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    settings.OMS_RECONCILE_VENUE_SAFE_SYMBOLS = 2
    with fresh_sim_venue(settings, tmp_path, gap_hold_ms=0):
        for symbol in SYMBOLS:
            sim_instrument(symbol)
            sim_market(symbol, "100", "101", "50", "50")
        yield


def external_trade(symbol: str) -> None:
    body = {
        "commandType": "SimExternalTradeCommand",
        "account": "ACC-V",
        "symbol": symbol,
        "side": "Buy",
        "qty": "1",
        "px": "100",
    }
    dispatch("sim", body, actor=SUPER)


def venue_safe() -> Control | None:
    return Control.objects.filter(kind="SafeMode", active=True, scope="venue", key="SIM").first()


def new_order(post: Any, symbol: str) -> tuple[int, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("N"),
        "symbol": symbol,
        "side": "Buy",
        "orderQty": "1",
        "ordType": "Market",
        "account": "ACC-V",
        "venue": "SIM",
        "handling": "Auto",
    }
    status, answer = post("orders", body)
    return status, answer


def test_discrepancies_on_more_symbols_than_the_limit_put_the_whole_venue_in_safe_mode(
    post: Any, boss: Any, caplog: Any
) -> None:
    for symbol in SYMBOLS[:2]:  # two symbols: at the limit, each in SAFE mode on its own
        external_trade(symbol)
    status, body = post("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"})
    assert status == 200 and len(body["discrepancies"]) == 2, body
    assert venue_safe() is None
    status, answer = new_order(post, SYMBOLS[3])
    assert status == 201, answer

    external_trade(SYMBOLS[2])  # a third symbol: more than 2, systemic
    status, body = post("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"})

    assert status == 200 and len(body["discrepancies"]) == 1, body
    control = venue_safe()
    assert control is not None and control.doc["source"] == "reconciliation"
    assert "3 symbols of SIM" in control.doc["reason"] and "systemic" in control.doc["reason"]
    assert any("ALERT" in r.getMessage() and "systemic" in r.getMessage() for r in caplog.records)
    status, refused = new_order(post, SYMBOLS[3])  # a symbol with no discrepancy of its own
    assert (status, refused["error"]["rule"]) == (422, "safe_mode")
    release = {"commandType": "ReleaseSafeModeCommand", "controlId": control.control_id, "reason": "ok"}
    response = boss.post("/api/commands/controls", release, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "open_discrepancies"

    # found again by the next run: engaged once, not twice
    post("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"})
    assert Control.objects.filter(kind="SafeMode", scope="venue", key="SIM").count() == 1


def test_the_rule_is_off_at_zero(post: Any, settings: Any) -> None:
    settings.OMS_RECONCILE_VENUE_SAFE_SYMBOLS = 0
    for symbol in SYMBOLS:
        external_trade(symbol)
    status, body = post("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"})
    assert status == 200 and len(body["discrepancies"]) == 4, body
    assert venue_safe() is None
