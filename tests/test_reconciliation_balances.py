"""Balances in a reconciliation run: the venue's cash per account and currency against the OMS's
ledger (opening cash plus what the applied executions realized). SIM keeps balances of its own
(OMS_SIM_CASH plus its fills and transfers made at the venue); a ccxt venue reports one wallet,
compared here from ccxt's recorded fetchBalance answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from oms.core.dispatch import dispatch
from oms.reconciliation import runner
from oms.venues.routing import adapter_for
from oms.venues.sim.adapter import engine_for
from oms.venues.sim.cash import transfer
from tests.ccxt_support import cases, environment_for, num, stubbed_adapter
from tests.conftest import uid
from tests.venues_support import SUPER, children, client_order, doc, fresh_sim_venue, ingest, sim_market

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "BTC-PERP"
OPENING = {"ACC-V": {"USDT": "100000"}}
SUBJECT = "balance|ACC-V|USDT"


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    settings.OMS_SIM_CASH = OPENING
    settings.OMS_RECONCILE_OPENING_CASH = {"SIM": OPENING}
    with fresh_sim_venue(settings, tmp_path, gap_hold_ms=0):
        body = {
            "commandType": "UpsertInstrumentCommand",
            "venue": "SIM",
            "symbol": SYMBOL,
            "kind": "Perpetual",
            "baseCurrency": "BTC",
            "quoteCurrency": "USDT",
            "tickSize": "0.5",
            "lotSize": "1",
            "minQty": "1",
        }
        dispatch("instruments", body, actor=SUPER)
        sim_market(SYMBOL, "100", "101", "50", "50")
        yield


def run_recon(post: Any) -> dict[str, Any]:
    status, body = post("venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"})
    assert status == 200, body
    return dict(body)


def round_trip() -> None:
    """Buy 5 at the ask (101), sell them at the bid (100): 5 USDT realized loss, flat."""
    client_order(SYMBOL, "5")
    ingest()
    client_order(SYMBOL, "5", side="Sell")
    ingest()


def sim_cash(account: str = "ACC-V", currency: str = "USDT") -> Decimal:
    adapter = adapter_for("SIM")
    assert adapter is not None
    return next(b.total for b in adapter.fetch_balances() if (b.account, b.currency) == (account, currency))


def venue_control() -> dict[str, Any]:
    from rules.models import Control

    found: dict[str, Any] = Control.objects.get(kind="SafeMode", active=True, scope="venue", key="SIM").doc
    return found


def test_balances_that_agree_after_trading_open_nothing(post: Any) -> None:
    round_trip()
    assert sim_cash() == Decimal("99995"), "SIM's wallet: opening cash plus the realized loss"

    body = run_recon(post)

    assert body["discrepancies"] == [] and body["safeMode"] is False
    assert body["checked"]["balances"] == 1


def test_a_difference_within_the_tolerance_is_no_discrepancy(post: Any, settings: Any) -> None:
    settings.OMS_RECONCILE_BALANCE_TOLERANCE = "0.01"
    transfer(engine_for("SIM"), "ACC-V", "USDT", Decimal("0.005"))

    assert run_recon(post)["discrepancies"] == []


def test_an_adapter_without_balances_is_skipped(post: Any, settings: Any) -> None:
    settings.OMS_SIM_CASH = {}
    from oms.venues.adapter import reset_adapters

    reset_adapters()  # SIM's `has` is decided when its adapter is built
    transfer(engine_for("SIM"), "ACC-V", "USDT", Decimal("-250"))

    body = run_recon(post)

    assert body["discrepancies"] == [] and body["checked"]["balances"] == 0


def test_balance_mismatch_holds_the_venue_in_safe_mode_until_resolved_and_released(
    post: Any, boss: Any
) -> None:
    """Cash left the venue account without a fill (a withdrawal the OMS never booked): the
    positions agree, the balance does not. SAFE mode on the whole venue (cash backs every
    symbol); new orders refused, cancels pass; resolving is refused while the venue still
    differs; once it agrees, resolve, then a superuser releases."""
    round_trip()
    sim_market(SYMBOL, "100", "101", "50", "0")  # nothing to sell: the next buy rests
    resting = client_order(SYMBOL, "2")
    ingest()
    transfer(engine_for("SIM"), "ACC-V", "USDT", Decimal("-250"))

    body = run_recon(post)

    [found] = body["discrepancies"]
    assert (found["kind"], found["subject"], found["account"], found["symbol"]) == (
        "position_mismatch",
        SUBJECT,
        "ACC-V",
        None,
    )
    assert found["oms"] == {"currency": "USDT", "total": "99995"}
    assert found["venueValue"]["total"] == "99745"
    assert (found["safeModeScope"], found["safeModeKey"]) == ("venue", "SIM")
    assert body["safeMode"] is True and body["checked"]["balances"] == 1
    control = venue_control()
    assert control["source"] == "reconciliation"

    # new orders at the venue are refused (any symbol), a cancel passes
    new = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("N"),
        "symbol": SYMBOL,
        "side": "Buy",
        "orderQty": "1",
        "ordType": "Market",
        "account": "ACC-V",
        "venue": "SIM",
        "handling": "Auto",
    }
    status, refused = post("orders", new)
    assert (status, refused["error"]["rule"]) == (422, "safe_mode"), refused
    child = children(resting["orderId"])[0]
    cancel = {"commandType": "CancelOrderCommand", "orderId": child["orderId"], "clOrdID": uid("C")}
    status, canceled = post("orders", cancel)
    assert status == 200, canceled
    assert doc(child["orderId"])["status"] in ("PendingCancel", "Canceled")

    # still different: neither resolve nor release
    resolve = {
        "commandType": "ResolveDiscrepancyCommand",
        "discrepancyId": found["discrepancyId"],
        "reason": "r",
    }
    status, persists = post("venues", resolve)
    assert (status, persists["error"]["code"]) == (409, "discrepancy_persists"), persists
    release = {"commandType": "ReleaseSafeModeCommand", "controlId": control["controlId"], "reason": "ok"}
    response = boss.post("/api/commands/controls", release, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "open_discrepancies")
    assert run_recon(post)["discrepancies"][0]["discrepancyId"] == found["discrepancyId"], (
        "found again, not twice"
    )

    # the venue credits it back: it agrees, the desk resolves, a superuser releases
    transfer(engine_for("SIM"), "ACC-V", "USDT", Decimal("250"))
    status, resolved = post("venues", resolve)
    assert status == 200, resolved
    assert resolved["discrepancy"]["status"] == "Resolved"
    response = boss.post("/api/commands/controls", release, format="json")
    assert response.status_code == 200, response.json()
    status, accepted = post("orders", {**new, "clOrdID": uid("N")})
    assert status == 201, accepted


def test_a_fill_the_oms_lacks_moves_the_venue_wallet_and_is_repaired_before_the_balance_check(
    post: Any,
) -> None:
    """An external trade realizes P&L at the venue; the run adopts and books it (missing_fill),
    so the ledger agrees with the wallet after the repairs: no balance discrepancy on top."""
    sim_body = {"account": "ACC-V", "symbol": SYMBOL, "qty": "2", "px": "100"}
    dispatch("sim", {"commandType": "SimExternalTradeCommand", **sim_body, "side": "Buy"}, actor=SUPER)
    dispatch(
        "sim",
        {"commandType": "SimExternalTradeCommand", **sim_body, "side": "Sell", "px": "110"},
        actor=SUPER,
    )
    assert sim_cash() == Decimal("100020")

    body = run_recon(post)

    assert {d["kind"] for d in body["discrepancies"]} == {"missing_fill"}
    assert not any(d["subject"].startswith("balance|") for d in body["discrepancies"])


# --- a ccxt venue: one wallet per API key, from ccxt's recorded fetchBalance answers ---------------


def _wallet_case() -> tuple[str, dict[str, Any]]:
    for exchange_id in ("binance", "bybit"):
        for case in cases(exchange_id, "fetchBalance"):
            totals = {c: v for c, v in case["parsedResponse"]["total"].items() if v is not None}
            if case["input"] == [] and totals:
                return exchange_id, case
    raise AssertionError("no recorded fetchBalance case")


@pytest.mark.parametrize("off_by", [Decimal(0), Decimal(5)])
def test_ccxt_wallet_is_compared_venue_wide_on_the_currencies_the_oms_books(
    settings: Any, off_by: Decimal
) -> None:
    exchange_id, case = _wallet_case()
    adapter, transport = stubbed_adapter(
        exchange_id, environment=environment_for(exchange_id, case), venue="BINANCE"
    )
    transport.on("GET", "", case["httpResponse"])
    currency, total = next((c, num(v)) for c, v in case["parsedResponse"]["total"].items() if v is not None)
    assert total is not None
    settings.OMS_RECONCILE_OPENING_CASH = {"BINANCE": {"*": {currency: str(total + off_by)}}}

    wallet = adapter.fetch_balances()
    checked, findings = runner.balance_findings("BINANCE", wallet)

    assert checked == 1, "only the currency the OMS books is compared (the rest is not its business)"
    if not off_by:
        assert findings == []
        return
    [finding] = findings
    assert (finding.subject, finding.account, finding.symbol) == (f"balance||{currency}", None, None)
    assert finding.venue_value is not None and Decimal(finding.venue_value["total"]) == total
