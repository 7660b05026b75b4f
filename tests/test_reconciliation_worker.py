"""Reconciliation as a task on a REAL Celery worker over the real Redis broker: the beat's task
(`reconciliation.reconcile_all`) finds a trade booked at SIM that the OMS never sent, adopts it,
opens the discrepancy and puts the symbol in SAFE mode; the desk resolves it over HTTP.

Needs REDIS_URL and PostgreSQL (the worker shares the test database); without them the same flow
runs in-process in tests/test_reconciliation.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.positions.models import Position
from oms.reconciliation.models import Discrepancy, ReconciliationRun
from oms.reconciliation.tasks import reconcile_all
from oms.venues.adapter import reset_adapters
from oms.venues.sim.adapter import engine_for
from rules.models import Control
from tests.test_venues_worker import Venue
from tests.venues_support import SUPER, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "ETH-PERP"


@pytest.fixture(scope="module")
def worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    if not settings.REDIS_URL:
        pytest.skip("the worker flow needs REDIS_URL (the in-process flow: tests/test_reconciliation.py)")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the worker process shares the test database: set DATABASE_URL (PostgreSQL)")
    venue = Venue(tmp_path_factory.mktemp("reconciliation"))
    try:
        venue.start_worker()
        yield venue
    finally:
        venue.stop()


@pytest.fixture
def sim(
    worker: Venue, settings: Any, monkeypatch: pytest.MonkeyPatch, admin_user: Any, desk_user: Any
) -> Venue:
    settings.OMS_SIM_PREFIX = worker.prefix
    settings.CELERY_TASK_DEFAULT_QUEUE = worker.queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", worker.queue)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    reset_adapters()
    engine_for("SIM").reset()
    sim_instrument(SYMBOL)
    sim_market(SYMBOL, "2000", "2001", "10", "10")
    return worker


def test_the_scheduled_task_on_a_worker_adopts_an_external_trade_and_engages_safe_mode(
    sim: Venue, desk: Any, boss: Any
) -> None:
    body = {
        "commandType": "SimExternalTradeCommand",
        "account": "ACC-W",
        "symbol": SYMBOL,
        "side": "Sell",
        "qty": "2",
        "px": "2000",
    }
    trade = dispatch("sim", body, actor=SUPER).body["trade"]

    reconcile_all.delay()

    found = wait_for(lambda: Discrepancy.objects.filter(venue="SIM", status="Open").first(), 30)
    assert found is not None, "the worker ran no reconciliation\n" + sim.logs()
    assert (found.kind, found.doc["venueValue"]["execID"]) == ("missing_fill", trade["execID"])
    run = ReconciliationRun.objects.get(pk=found.run_id)
    assert run.doc["trigger"] == "schedule" and run.doc["newDiscrepancyIds"] == [found.discrepancy_id]
    assert "reconciliation.reconcile_all" in sim.logs(), "it ran on the worker, not here"
    control = Control.objects.get(kind="SafeMode", active=True, key=f"SIM:{SYMBOL}")
    assert control.doc["source"] == "reconciliation"
    assert Position.objects.get(account="ACC-W", venue="SIM", symbol=SYMBOL).doc["qty"] == "-2"

    # a second scheduled run finds the fill booked: nothing new, the discrepancy still open
    reconcile_all.delay()
    assert wait_for(lambda: ReconciliationRun.objects.filter(venue="SIM").count() == 2, 30), sim.logs()
    assert Discrepancy.objects.filter(venue="SIM").count() == 1

    response = desk.post(
        "/api/commands/venues",
        {
            "commandType": "ResolveDiscrepancyCommand",
            "discrepancyId": found.discrepancy_id,
            "reason": "booked",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    response = boss.post(
        "/api/commands/controls",
        {"commandType": "ReleaseSafeModeCommand", "controlId": control.control_id, "reason": "reconciled"},
        format="json",
    )
    assert response.status_code == 200, response.json()
