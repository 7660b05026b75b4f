"""Reconciliation against the SIM venue (in-process, the embedded default): each discrepancy kind
from a SIM fault or SimExternalTradeCommand, SAFE mode in its scope, refusals, re-pulled fills,
resolve and release."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.positions.models import Position
from oms.reconciliation.models import Discrepancy, DiscrepancyEvent, ReconciliationRun
from oms.venues.adapter import PlaceRequest, VenueSide
from oms.venues.models import VenueSend
from oms.venues.routing import adapter_for
from oms.venues.sim.adapter import engine_for
from tests.conftest import uid
from tests.venues_support import (
    SUPER,
    children,
    client_order,
    doc,
    fresh_sim_venue,
    ingest,
    sim_faults,
    sim_instrument,
    sim_market,
)

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "BTC-PERP"


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    with fresh_sim_venue(settings, tmp_path, gap_hold_ms=0):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "100", "101", "50", "50")
        yield


def run_recon(post: Any, venue: str = "SIM") -> tuple[int, Any]:
    status, body = post("venues", {"commandType": "RunReconciliationCommand", "venue": venue})
    return status, body


def external_trade(qty: str = "3", side: str = "Buy", account: str = "ACC-V") -> dict[str, Any]:
    body = {
        "commandType": "SimExternalTradeCommand",
        "account": account,
        "symbol": SYMBOL,
        "side": side,
        "qty": qty,
        "px": "100",
    }
    trade: dict[str, Any] = dispatch("sim", body, actor=SUPER).body["trade"]
    return trade


def test_a_clean_venue_reconciles_with_no_discrepancy(post: Any) -> None:
    order = client_order(SYMBOL, "5")
    ingest()
    status, body = run_recon(post)
    assert status == 200, body
    assert set(body) >= {"runId", "venue", "checked", "discrepancies", "safeMode"}
    assert body["discrepancies"] == [] and body["safeMode"] is False
    assert body["checked"]["fills"] >= 1 and body["checked"]["positions"] == 1
    assert doc(children(order["orderId"])[0]["orderId"])["status"] == "Filled"


def test_external_trade_is_adopted_as_a_desk_order_and_is_a_missing_fill_until_resolved(
    post: Any, boss: Any
) -> None:
    """A trade at the venue the OMS never sent: never ignored. It is booked on an adopted order
    held for the desk (so the position agrees with the venue) and is a missing_fill discrepancy
    that holds SAFE mode until the desk resolves it and a superuser releases."""
    trade = external_trade("3")

    status, body = run_recon(post)

    assert status == 200, body
    [found] = body["discrepancies"]
    assert found["kind"] == "missing_fill" and body["safeMode"] is True
    assert found["venueValue"]["execID"] == trade["execID"]
    assert found["oms"]["status"] in ("Applied", "Allocated") and found["orderId"]
    adopted = doc(found["orderId"])
    parent = doc(adopted["parentId"])
    assert (parent["handling"], parent["status"], parent["account"]) == ("Desk", "Filled", "ACC-V")
    assert "adopted" in parent["text"]
    position = Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc
    assert position["qty"] == "3", "the position agrees with the venue's"
    assert safe_control()["source"] == "reconciliation"
    status, refused = new_order(post)
    assert (status, refused["error"]["rule"]) == (422, "safe_mode")

    status, resolved = resolve(post, found["discrepancyId"])
    assert status == 200, resolved
    response = release(boss, safe_control()["controlId"])
    assert response.status_code == 200, response.json()
    _, again = run_recon(post)
    assert again["discrepancies"] == [], "booked once, found once"
    assert position["qty"] == Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc["qty"]


def new_order(post: Any, qty: str = "1", side: str = "Buy") -> tuple[int, Any]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("N"),
        "symbol": SYMBOL,
        "side": side,
        "orderQty": qty,
        "ordType": "Market",
        "account": "ACC-V",
        "venue": "SIM",
        "handling": "Auto",
    }
    return post("orders", body)


def resolve(post: Any, discrepancy_id: str, reason: str = "checked with the venue") -> tuple[int, Any]:
    body = {"commandType": "ResolveDiscrepancyCommand", "discrepancyId": discrepancy_id, "reason": reason}
    return post("venues", body)


def safe_control(key: str = f"SIM:{SYMBOL}") -> dict[str, Any]:
    from rules.models import Control

    row = Control.objects.get(kind="SafeMode", active=True, scope="symbol", key=key)
    found: dict[str, Any] = row.doc
    return found


def release(boss: Any, control_id: str) -> Any:
    body = {"commandType": "ReleaseSafeModeCommand", "controlId": control_id, "reason": "reconciled"}
    return boss.post("/api/commands/controls", body, format="json")


def test_lagging_fill_is_a_position_mismatch_then_re_pulled_resolved_and_released(
    post: Any, boss: Any, desk: Any
) -> None:
    """dropStream loses the fill's stream message and snapshotLagMs hides it from REST: the OMS
    cannot book it yet, the venue's position has it. SAFE mode holds the symbol; once the venue's
    REST shows the fill, the resolve re-pulls it (once) and the position agrees."""
    working = client_order(SYMBOL, "2")  # a working order to cancel under SAFE mode
    ingest()
    sim_market(SYMBOL, "100", "101", "50", "0")  # nothing to sell: the next buy rests
    resting = client_order(SYMBOL, "4")
    ingest()
    sim_faults(dropStream=5, snapshotLagMs=3_600_000)
    sim_market(SYMBOL, "100", "101", "50", "50")  # the resting buy fills; its messages are lost
    ingest()
    child = children(resting["orderId"])[0]
    assert doc(child["orderId"])["cumQty"] == "0", "the OMS has not heard of the fill"

    status, body = run_recon(post)

    assert status == 200, body
    kinds = sorted(d["kind"] for d in body["discrepancies"])
    assert "position_mismatch" in kinds and body["safeMode"] is True
    mismatch = next(d for d in body["discrepancies"] if d["kind"] == "position_mismatch")
    assert (mismatch["venue"], mismatch["account"], mismatch["symbol"]) == ("SIM", "ACC-V", SYMBOL)
    assert mismatch["oms"] == {"qty": "2"} and mismatch["venueValue"] == {"qty": "6"}
    control = safe_control()
    assert (control["source"], control["scope"]) == ("reconciliation", "symbol")
    position = Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc
    assert f"discrepancy:{mismatch['discrepancyId']}" in position["dirtyReasons"]

    # new orders in scope are refused safe_mode; a cancel passes
    status, refused = new_order(post)
    assert (status, refused["error"]["rule"]) == (422, "safe_mode"), refused
    del working
    open_child = children(resting["orderId"])[0]
    status, canceled = post(
        "orders", {"commandType": "CancelOrderCommand", "orderId": open_child["orderId"], "clOrdID": uid("C")}
    )
    assert status in (200, 409), canceled  # a cancel is never refused by SAFE mode (409: already filled)
    assert status != 422

    # the venue still hides the fill: resolving is refused, releasing too
    status, persists = resolve(post, mismatch["discrepancyId"])
    assert (status, persists["error"]["code"]) == (409, "discrepancy_persists"), persists
    response = release(boss, control["controlId"])
    assert (response.status_code, response.json()["error"]["code"]) == (409, "open_discrepancies")

    # the venue's REST catches up: the resolve re-pulls the fill and the position agrees
    sim_faults(snapshotLagMs=0)
    status, resolved = resolve(post, mismatch["discrepancyId"])
    assert status == 200, resolved
    assert resolved["discrepancy"]["status"] == "Resolved"
    assert resolved["discrepancy"]["resolvedBy"] == "trader"
    assert doc(child["orderId"])["cumQty"] == "4", "the fill was re-pulled and booked once"
    position = Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc
    assert position["qty"] == "6"
    assert f"discrepancy:{mismatch['discrepancyId']}" not in position["dirtyReasons"]
    # the lagging snapshot also hid the resting order itself (missing_venue_order): filled now
    for other in Discrepancy.objects.filter(status="Open"):
        status, body = resolve(post, other.discrepancy_id)
        assert status == 200, body
    assert not Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc["dirtyReasons"]

    # a second run finds nothing; the superuser releases SAFE mode; a resolve twice is a 409
    status, again = run_recon(post)
    assert (status, again["discrepancies"], again["safeMode"]) == (200, [], False)
    response = release(boss, control["controlId"])
    assert response.status_code == 200, response.json()
    status, twice = resolve(post, mismatch["discrepancyId"])
    assert (status, twice["error"]["code"]) == (409, "invalid_transition")
    status, accepted = new_order(post)
    assert status == 201, accepted
    triggers = sorted(r.doc["trigger"] for r in ReconciliationRun.objects.filter(venue="SIM"))
    assert triggers == ["demand", "demand", "resync"], "the consumer's start resync ran one too"


def test_a_discrepancy_is_found_again_not_twice_while_the_venue_still_differs(post: Any) -> None:
    sim_market(SYMBOL, "100", "101", "50", "0")
    client_order(SYMBOL, "2")
    ingest()
    sim_faults(snapshotLagMs=3_600_000)
    _, first = run_recon(post)
    _, second = run_recon(post)

    [missing] = first["discrepancies"]
    assert [d["discrepancyId"] for d in second["discrepancies"]] == [missing["discrepancyId"]]
    assert Discrepancy.objects.filter(status="Open").count() == 1
    events = DiscrepancyEvent.objects.filter(type="DiscrepancyFound")
    assert events.count() == 1 and {e.actor for e in events} == {"system:reconciliation"}
    status, persists = resolve(post, missing["discrepancyId"])
    assert (status, persists["error"]["code"]) == (409, "discrepancy_persists")


def test_an_order_open_at_the_venue_the_oms_never_sent_is_adopted_never_sent_again(post: Any) -> None:
    adapter = adapter_for("SIM")
    assert adapter is not None
    sim_market(SYMBOL, "100", "101", "50", "1")
    adapter.place_order(
        PlaceRequest(
            cl_ord_id="ROGUE-1", symbol=SYMBOL, side=VenueSide.BUY, order_qty=Decimal(3), account="ACC-V"
        )
    )  # 1 fills at once, 2 rest

    status, body = run_recon(post)

    assert status == 200, body
    [found] = body["discrepancies"]
    assert found["kind"] == "unknown_venue_order" and found["venueValue"]["clOrdID"] == "ROGUE-1"
    child = doc(found["orderId"])
    assert (child["clOrdID"], child["status"], child["cumQty"]) == ("ROGUE-1", "PartiallyFilled", "1")
    assert doc(child["parentId"])["handling"] == "Desk"
    assert VenueSend.objects.get(pk="ROGUE-1").outcome == "adopted"
    assert VenueSend.objects.get(pk="ROGUE-1").attempts == 0, "its send task sent nothing"
    venue_orders = {o["venueOrderId"] for o in engine_for("SIM").store.hvals("orders")}
    assert len(venue_orders) == 1, "the venue has the one order it had: nothing placed twice"
    assert Position.objects.get(account="ACC-V", venue="SIM", symbol=SYMBOL).doc["qty"] == "1"
    assert safe_control()["active"] is True

    # the desk reviews it: the venue order is the OMS's now, so the resolve passes; a cancel goes
    # out through the ordinary path (SAFE mode never refuses a cancel)
    status, resolved = resolve(post, found["discrepancyId"])
    assert status == 200, resolved
    status, canceled = post(
        "orders", {"commandType": "CancelOrderCommand", "orderId": child["orderId"], "clOrdID": uid("C")}
    )
    assert status == 200, canceled
    ingest()
    assert doc(child["orderId"])["status"] == "Canceled"
    _, again = run_recon(post)
    assert again["discrepancies"] == []


def test_an_order_the_venue_does_not_show_is_a_missing_venue_order_until_it_does(post: Any) -> None:
    sim_market(SYMBOL, "100", "101", "50", "0")
    order = client_order(SYMBOL, "2")
    ingest()
    child = children(order["orderId"])[0]
    assert doc(child["orderId"])["status"] == "New"
    sim_faults(snapshotLagMs=3_600_000)  # the venue's REST does not show the young order

    status, body = run_recon(post)

    assert status == 200, body
    [missing] = body["discrepancies"]
    assert missing["kind"] == "missing_venue_order" and missing["oms"]["orderId"] == child["orderId"]
    assert missing["venueValue"] is None
    status, persists = resolve(post, missing["discrepancyId"])
    assert status == 409, persists
    sim_faults(snapshotLagMs=0)
    status, resolved = resolve(post, missing["discrepancyId"])
    assert status == 200, resolved


def test_a_fill_the_venue_snapshot_does_not_show_yet_is_a_status_mismatch(post: Any) -> None:
    sim_market(SYMBOL, "100", "101", "50", "0")
    order = client_order(SYMBOL, "5")
    ingest()
    child = children(order["orderId"])[0]
    sim_faults(snapshotLagMs=1_500)
    time.sleep(1.6)  # the order is older than the lag: the snapshot shows it, not its new fill
    sim_market(SYMBOL, "100", "101", "50", "2")
    ingest()
    assert doc(child["orderId"])["cumQty"] == "2", "the stream brought the fill"

    status, body = run_recon(post)

    assert status == 200, body
    kinds = {d["kind"] for d in body["discrepancies"]}
    assert "status_mismatch" in kinds, body
    mismatch = next(d for d in body["discrepancies"] if d["kind"] == "status_mismatch")
    assert (mismatch["oms"]["cumQty"], mismatch["venueValue"]["cumQty"]) == ("2", "0")
    sim_faults(snapshotLagMs=0)
    status, resolved = resolve(post, mismatch["discrepancyId"])
    assert status == 200, resolved


def test_bad_input_is_refused_and_writes_nothing(post: Any, viewer: Any, boss: Any) -> None:
    cases = [
        ({"commandType": "RunReconciliationCommand"}, 400, "validation_failed"),
        ({"commandType": "RunReconciliationCommand", "venue": 7}, 400, "validation_failed"),
        ({"commandType": "RunReconciliationCommand", "venue": "NOWHERE"}, 404, "not_found"),
        (
            {"commandType": "ResolveDiscrepancyCommand", "discrepancyId": "D-NONE", "reason": "x"},
            404,
            "not_found",
        ),
        ({"commandType": "ResolveDiscrepancyCommand", "discrepancyId": "D-NONE"}, 400, "validation_failed"),
        ({"commandType": "RecordDiscrepancyCommand", "venue": "SIM"}, 400, "validation_failed"),
    ]
    for body, code, error in cases:
        status, answer = post("venues", body)
        assert (status, answer["error"]["code"]) == (code, error), (body, answer)
    response = viewer.post(
        "/api/commands/venues", {"commandType": "RunReconciliationCommand", "venue": "SIM"}, format="json"
    )
    assert response.status_code == 403
    manual = {"commandType": "UpsertVenueCommand", "venue": "PHONE", "adapter": "MANUAL", "mode": "Paper"}
    assert boss.post("/api/commands/venues", manual, format="json").status_code == 201
    status, answer = post("venues", {"commandType": "RunReconciliationCommand", "venue": "PHONE"})
    assert (status, answer["error"]["code"]) == (409, "no_venue_adapter")
    assert ReconciliationRun.objects.count() == 0 and Discrepancy.objects.count() == 0


def test_discrepancies_query_filters_by_venue_and_status(post: Any, desk: Any) -> None:
    external_trade("1")
    run_recon(post)
    response = desk.get("/api/queries/discrepancies?venue=SIM&status=Open")
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 1
    first = page["results"][0]
    for name in (
        "discrepancyId",
        "runId",
        "kind",
        "venue",
        "account",
        "symbol",
        "oms",
        "venueValue",
        "status",
        "createdAt",
    ):
        assert name in first
    assert desk.get("/api/queries/discrepancies?status=Resolved").json()["count"] == 0
    assert desk.get("/api/queries/discrepancies?status=Nope").status_code == 400
    runs = desk.get("/api/queries/reconciliation-runs?venue=SIM").json()
    assert runs["count"] == 1 and runs["results"][0]["checked"]["fills"] == 1


def test_a_stream_resync_is_followed_by_a_reconciliation(settings: Any) -> None:
    external_trade("2")
    ingest()  # the consumer's first step resyncs ("start"): a reconciliation follows

    run = ReconciliationRun.objects.get(venue="SIM")
    assert run.doc["trigger"] == "resync"
    assert Discrepancy.objects.filter(kind="missing_fill", status="Open").count() == 1


def test_run_by_the_system_records_its_trigger_and_a_refused_adapterless_run_raises() -> None:
    from oms.reconciliation.enums import RunTrigger
    from oms.reconciliation.services import run_reconciliation

    result = run_reconciliation("SIM", RunTrigger.SCHEDULE)
    assert result["discrepancies"] == []
    assert ReconciliationRun.objects.get(pk=result["runId"]).doc["trigger"] == "schedule"
    with pytest.raises(ApplicationError):
        run_reconciliation("NOWHERE", RunTrigger.SCHEDULE)


def test_discrepancies_runs_and_positions_replay_to_their_state(post: Any) -> None:
    from oms.core.replay import replay

    external_trade("2")
    _, body = run_recon(post)
    [fill] = body["discrepancies"]
    status, resolved = resolve(post, fill["discrepancyId"])
    assert status == 200, resolved
    external_trade("1", side="Sell")
    run_recon(post)

    report = replay(types=["discrepancy", "reconciliation_run", "position", "control", "order"])

    assert report.ok, report
    assert Discrepancy.objects.filter(status="Open").count() == 1
