"""Orders at SIM go out on a REAL Celery worker over the real Redis broker, and come back through
a REAL stream consumer process (`manage.py venue_stream SIM`); then every SIM fault, and a worker
SIGKILLed in the middle of a send.

Each test ends with the same proof (`assert_matches_venue`): one venue order per OMS order (none
sent twice), the OMS order's status and cumQty equal to the venue's, and its executions exactly
the venue's fills (none lost, none counted twice, by execID). Needs REDIS_URL (and a database a
second process can reach: PostgreSQL); without it the embedded flow is tests/test_venues_embedded.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from executions.models import Execution
from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.core.eventfeed import events_after
from oms.venues.adapter import reset_adapters
from oms.venues.models import VenueDeadLetter, VenueSend
from oms.venues.sim.adapter import engine_for
from rules.venues import venue_state
from tests.conftest import uid
from tests.test_celery_worker import (
    REPO,
    Worker,
    _die_with_parent,
    _forget_queue,
    _stop,
    _worker_database_env,
)
from tests.venues_support import SUPER, children, doc, sim_faults, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

READY_TIMEOUT = 60.0
FLOW_TIMEOUT = 20.0


class Venue:
    """The processes of one module: Celery workers on a queue of their own, the stream consumer,
    all on a SIM venue of their own (a Redis key prefix)."""

    def __init__(self, tmp: Path) -> None:
        self.queue = f"oms-test-{uuid.uuid4().hex[:12]}"
        self.prefix = f"sim-test-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.workers: list[Worker] = []
        self.stream: Worker | None = None

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **_worker_database_env(settings.DATABASES["default"]),
            "DJANGO_SETTINGS_MODULE": "oms.settings",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "OMS_SIM_PREFIX": self.prefix,
            "OMS_VENUE_GAP_HOLD_MS": "200",
            "OMS_VENUE_RESYNC_SECONDS": "2",
            # SIM as a venue without amend: a replace here is the cancel-and-place of
            # oms/venues/cancel_place.py (the amend is covered in-process: test_venues_embedded)
            "OMS_SIM_AMEND": "0",
            "OMS_CELERY_VISIBILITY_TIMEOUT": "4",  # the SIGKILL test waits this long for redelivery
            "OMS_CELERY_RESTORE_INTERVAL": "1",  # and at most a second more for the broker's sweep
            "DB_POOL_MIN": "1",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def _spawn(self, name: str, command: list[str], ready: str) -> Worker:
        log = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, cwd=REPO, env=self.env(), stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent(),
            )  # fmt: skip
        worker = Worker(self.queue, process, log)
        deadline = time.monotonic() + READY_TIMEOUT
        while ready not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start:\n{worker.output()[-4000:]}")
            time.sleep(0.2)
        return worker

    def start_worker(self) -> Worker:
        n = len(self.workers)
        command = [
            sys.executable, "-m", "celery", "-A", "oms", "worker", "--pool=solo", "--concurrency=1",
            "-Q", self.queue, "-n", f"w{n}-{self.queue}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=INFO",
        ]  # fmt: skip
        worker = self._spawn(f"worker{n}", command, " ready.")
        self.workers.append(worker)
        return worker

    def start_stream(self) -> None:
        command = [sys.executable, "manage.py", "venue_stream", "SIM", "--poll", "0.2"]
        self.stream = self._spawn("venue_stream", command, "consuming")

    def logs(self) -> str:
        parts = [
            f"--- {w.log.name}\n{w.output()[-3000:]}"
            for w in [*self.workers, *([self.stream] if self.stream else [])]
        ]
        return "\n".join(parts)

    def stop(self) -> None:
        for process in [w.process for w in self.workers] + ([self.stream.process] if self.stream else []):
            _stop(process)
        _forget_queue(self.queue)


@pytest.fixture(scope="module")
def venue_processes(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    if not settings.REDIS_URL:
        pytest.skip("the worker flow needs REDIS_URL (the embedded flow: tests/test_venues_embedded.py)")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("worker processes share the test database: set DATABASE_URL (PostgreSQL)")
    venue = Venue(tmp_path_factory.mktemp("venues"))
    try:
        venue.start_worker()
        venue.start_stream()
        yield venue
    finally:
        venue.stop()


@pytest.fixture
def sim(
    venue_processes: Venue, settings: Any, monkeypatch: pytest.MonkeyPatch, admin_user: Any, desk_user: Any
) -> Iterator[Venue]:
    """This test's tasks go to the module's workers; its SIM is theirs, registered and Healthy."""
    settings.OMS_SIM_PREFIX = venue_processes.prefix
    settings.OMS_SIM_AMEND = False
    settings.CELERY_TASK_DEFAULT_QUEUE = venue_processes.queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", venue_processes.queue)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    reset_adapters()
    engine_for("SIM").set_faults({name: 0 for name in engine_for("SIM").faults()})
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor=SUPER,
    )
    healthy = wait_for(lambda: venue_state("SIM").feed.value == "Healthy", 15)  # type: ignore[union-attr]  # the venue is registered here: never None
    assert healthy, "the stream consumer reports the SIM feed Healthy\n" + venue_processes.logs()
    yield venue_processes
    reset_adapters()


def api_order(symbol: str, qty: str, *, side: str = "Buy", **extra: Any) -> dict[str, Any]:
    client = APIClient()
    from django.contrib.auth.models import User

    client.force_authenticate(User.objects.get(username="trader"))
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("W"),
        "symbol": symbol,
        "side": side,
        "orderQty": qty,
        "ordType": "Market",
        "account": "ACC-W",
        "venue": "SIM",
        "handling": "Auto",
        **extra,
    }
    response = client.post("/api/commands/orders", body, format="json")
    assert response.status_code == 201, response.content
    order: dict[str, Any] = response.json()["order"]
    return order


def the_child(client_id: str, sim: Venue) -> dict[str, Any]:
    found = wait_for(lambda: children(client_id), FLOW_TIMEOUT)
    assert found, "no market order\n" + sim.logs()
    return dict(found[0])


def settles(child: dict[str, Any], sim: Venue, *statuses: str) -> dict[str, Any]:
    """Wait until the venue order reaches one of `statuses` and agrees with the venue (found by
    the clOrdID it was placed with: a confirmed cancel gives the OMS order the cancel's)."""
    order_id = child["orderId"]

    def agreed() -> bool:
        d = doc(order_id)
        venue = engine_for("SIM").fetch_order(child["clOrdID"])
        return d["status"] in statuses and venue is not None and Decimal(d["cumQty"]) == venue.cum_qty

    assert wait_for(agreed, FLOW_TIMEOUT), f"{doc(order_id)}\n{sim.logs()}"
    return doc(order_id)


def assert_matches_venue(order: dict[str, Any], symbol: str, placed_as: str | None = None) -> None:
    engine = engine_for("SIM")
    placed_as = placed_as or order["clOrdID"]
    venue = engine.fetch_order(placed_as)
    assert venue is not None
    assert order["status"] == venue.status.value
    assert Decimal(order["cumQty"]) == venue.cum_qty
    venue_fills = {f.exec_id: f for f in engine.fetch_fills(None, symbol) if f.cl_ord_id == placed_as}
    executions = list(Execution.objects.filter(order_id=order["orderId"]).values_list("doc", flat=True))
    assert sorted(e["execID"] for e in executions) == sorted(venue_fills), "each venue fill exactly once"
    assert sum(Decimal(e["lastQty"]) for e in executions) == venue.cum_qty
    venue_orders = [
        o for o in engine.store.hvals("orders") if o["symbol"] == symbol and "replacedBy" not in o
    ]
    assert len(venue_orders) == 1, f"one order at the venue, not {len(venue_orders)}"


def test_order_from_the_api_goes_through_the_checks_to_sim_on_a_worker_and_fills_in_parts(sim: Venue) -> None:
    symbol = f"W{uid('S')}"
    sim_instrument(symbol)
    dispatch(
        "limits",
        {"commandType": "SetLimitsCommand", "account": "*", "symbol": symbol, "maxOrderQty": "100"},
        actor=SUPER,
    )
    sim_market(symbol, "100", "101", "5", "4")
    after = events_after(0, 1, None)[-1]["seq"] if events_after(0, 1, None) else 0

    client = api_order(symbol, "10")
    child = the_child(client["orderId"], sim)
    partly = settles(child, sim, "PartiallyFilled")
    assert Decimal(partly["cumQty"]) == 4
    sim_market(symbol, "100", "102", "5", "20")
    filled = settles(child, sim, "Filled")

    assert_matches_venue(filled, symbol)
    assert Decimal(filled["avgPx"]) == (4 * Decimal(101) + 6 * Decimal(102)) / 10
    types = [
        e["type"] for e in events_after(after, 1000, ["order-events"]) if e["aggregateId"] == child["orderId"]
    ]
    assert types[:2] == ["OrderCreated", "OrderAccepted"]
    assert types.count("OrderFilled") == 2
    assert doc(client["orderId"])["status"] == "Filled"
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.status, send.attempts) == ("Done", 1)
    logs = "".join(w.output() for w in sim.workers)
    assert "place_client_order" in logs, "a worker placed it"
    # and sent it in the same task, right after the placement's commit: no second queue trip
    assert "Task venues.send_order" not in logs, logs[-3000:]


@pytest.mark.parametrize(
    "faults",
    [
        {"dropAck": 1},
        {"duplicateFills": 3},
        {"reorderFills": 2},
        {"dropStream": 2},
        {"seqGap": 5},
        {"snapshotLagMs": 300, "dropStream": 1},
        {"timeoutNext": 1},
        {"rateLimitNext": 2},
    ],
    ids=lambda f: "+".join(f),
)
def test_under_each_sim_fault_the_order_ends_equal_to_the_venue_with_every_fill_once(
    sim: Venue, faults: dict[str, Any]
) -> None:
    symbol = f"F{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "3")
    sim_faults(**faults)

    client = api_order(symbol, "8")
    child = the_child(client["orderId"], sim)
    settles(child, sim, "PartiallyFilled")
    sim_market(symbol, "100", "101", "5", "2")
    sim_market(symbol, "100", "101", "5", "10")
    filled = settles(child, sim, "Filled")

    assert_matches_venue(filled, symbol)
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert send.status == "Done"
    if "rateLimitNext" in faults:
        assert send.attempts == 3, "two rate-limited attempts, then the send"
    if "timeoutNext" in faults:
        assert "no answer" in send.last_error, "an unknown outcome, resolved by asking the venue"
    if {"seqGap", "dropStream"} & set(faults):
        assert sim.stream is not None
        assert wait_for(lambda: "stream gap" in sim.stream.output(), 5), "the gap was seen and resynced"


def test_a_rejected_place_rejects_the_order_and_nothing_is_retried(sim: Venue) -> None:
    symbol = f"R{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "3")
    sim_faults(rejectNext=1)

    child = the_child(api_order(symbol, "2")["orderId"], sim)
    rejected = settles(child, sim, "Rejected")

    assert "SIM fault" in (rejected["text"] or "")
    assert_matches_venue(rejected, symbol)
    assert VenueSend.objects.get(pk=child["clOrdID"]).attempts == 1


def test_cancel_of_a_working_sim_order_goes_out_on_the_worker_and_is_confirmed(sim: Venue) -> None:
    symbol = f"C{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "1")
    child = the_child(api_order(symbol, "5")["orderId"], sim)
    settles(child, sim, "PartiallyFilled")

    dispatch(
        "orders",
        {"commandType": "CancelOrderCommand", "orderId": child["orderId"], "clOrdID": uid("CX")},
        actor="trader",
    )
    canceled = settles(child, sim, "Canceled")

    assert Decimal(canceled["cumQty"]) == 1
    assert_matches_venue(canceled, symbol, child["clOrdID"])


def test_a_worker_killed_in_the_middle_of_a_send_leaves_one_order_at_the_venue_and_the_next_worker_finishes(
    sim: Venue,
) -> None:
    symbol = f"K{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "50")
    sim_faults(latencyMs=4000)  # the venue answers slowly: the kill lands after it has the order
    # the send runs in the placement task (oms.orders.tasks): that task is the one redelivered,
    # and it finishes the send it began (the claim is taken: it asks SIM, it does not resend)

    client = api_order(symbol, "3")
    child = the_child(client["orderId"], sim)
    claimed = wait_for(
        lambda: VenueSend.objects.filter(pk=child["clOrdID"], status="Claimed").exists(), FLOW_TIMEOUT
    )
    assert claimed, sim.logs()
    assert wait_for(lambda: engine_for("SIM").fetch_order(child["clOrdID"]) is not None, 5), (
        "the venue has it"
    )
    victim = sim.workers[0]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(10)
    sim_faults(latencyMs=0)
    sim.workers.remove(victim)
    sim.start_worker()  # the broker redelivers the unacked task after the visibility timeout

    filled = settles(child, sim, "Filled")

    assert_matches_venue(filled, symbol)
    # kombu's Redis transport restores an unacked message only on a restore pass after its
    # visibility timeout (4 s here) has run out: on a loaded machine the new worker's start and
    # that pass can take longer than one flow's timeout, so this wait is the longer one
    redelivered = wait_for(
        lambda: VenueSend.objects.filter(pk=child["clOrdID"], status="Done").exists(), 3 * FLOW_TIMEOUT
    )
    assert redelivered, "the unacked task is redelivered to the new worker\n" + sim.logs()
    send = VenueSend.objects.get(pk=child["clOrdID"])
    assert (send.status, send.attempts) == ("Done", 2), (
        "the redelivered task asked the venue, and did not send again"
    )
    assert not VenueDeadLetter.objects.filter(cl_ord_id=child["clOrdID"]).exists()


def test_a_desk_client_order_sliced_into_two_sim_children_sends_both_on_the_worker_and_both_fill(
    sim: Venue,
) -> None:
    symbol = f"D{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "2")
    client = api_order(symbol, "9", handling="Desk")
    assert doc(client["orderId"])["handling"] == "Desk"

    kids = []
    for qty, terms in (("4", {"ordType": "Limit", "price": "101"}), ("5", {"ordType": "Market"})):
        body = {"commandType": "CreateOrderCommand", "clOrdID": uid("DK"), "parentId": client["orderId"],
                "orderQty": qty, "venue": "SIM", **terms}  # fmt: skip
        kids.append(dispatch("orders", body, actor="trader").body["order"])
    for kid in kids:
        settles(kid, sim, "New", "PartiallyFilled", "Filled")
    sim_market(symbol, "100", "101", "5", "20")

    for kid in kids:
        filled = settles(kid, sim, "Filled")
        venue = engine_for("SIM").fetch_order(kid["clOrdID"])
        assert venue is not None and venue.cum_qty == Decimal(kid["orderQty"])
        executions = Execution.objects.filter(order_id=kid["orderId"]).values_list("doc", flat=True)
        assert sum(Decimal(e["lastQty"]) for e in executions) == Decimal(filled["cumQty"])
        assert VenueSend.objects.get(pk=kid["clOrdID"]).attempts == 1
    assert wait_for(lambda: doc(client["orderId"])["status"] == "Filled", FLOW_TIMEOUT)


def test_a_replace_at_sim_without_amend_cancels_then_places_the_rest_on_the_worker(sim: Venue) -> None:
    symbol = f"P{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "3")
    child = the_child(api_order(symbol, "10", ordType="Limit", price="101")["orderId"], sim)
    settles(child, sim, "PartiallyFilled")
    new = uid("RP")

    dispatch(
        "orders",
        {"commandType": "ReplaceOrderCommand", "orderId": child["orderId"], "clOrdID": new, "orderQty": "8"},
        actor="trader",
    )

    replaced = wait_for(lambda: doc(child["orderId"])["clOrdID"] == new, FLOW_TIMEOUT)
    assert replaced, f"{doc(child['orderId'])}\n{sim.logs()}"
    engine = engine_for("SIM")
    # the OMS confirms the replace before it places the rest (so every later answer is about the
    # order it holds): the new venue order follows the confirmation by the place's round trip
    old, placed = (
        engine.fetch_order(child["clOrdID"]),
        wait_for(lambda: engine.fetch_order(new), FLOW_TIMEOUT),
    )
    assert old is not None and (old.status.value, old.cum_qty) == ("Canceled", 3)
    assert placed is not None and placed.order_qty == 5, "8 minus the 3 filled before the cancel"
    sim_market(symbol, "100", "101", "5", "20")
    assert wait_for(lambda: doc(child["orderId"])["status"] == "Filled", FLOW_TIMEOUT), sim.logs()
    filled = doc(child["orderId"])
    assert (filled["orderQty"], filled["cumQty"]) == ("8", "8")
    venue_fills = {f.exec_id for f in engine.fetch_fills(None, symbol)}
    executions = list(Execution.objects.filter(order_id=child["orderId"]).values_list("doc", flat=True))
    assert sorted(e["execID"] for e in executions) == sorted(venue_fills), "each venue fill exactly once"
    assert {e["status"] for e in executions} == {"Allocated"}
    assert [o["clOrdID"] for o in engine.store.hvals("orders") if o["symbol"] == symbol].count(new) == 1
