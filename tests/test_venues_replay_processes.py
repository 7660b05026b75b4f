"""A session recorded across processes replays byte for byte: this test process (the API), a REAL
Celery worker and a REAL `manage.py venue_stream SIM`, each recording its own file
(OMS_VENUE_RECORD_DIR) under the cross-process turn (a PostgreSQL advisory lock and a Redis step
counter); the files merged by their step numbers replay into an emptied database with the same
events. Needs PostgreSQL and Redis (the turn is theirs)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.core.eventfeed import count_events_after
from oms.venues.adapter import reset_adapters
from oms.venues.ingest import reset_consumers
from oms.venues.recording.recorder import start_recording, stop_recording
from oms.venues.recording.runner import canonical, session_events
from oms.venues.recording.sessionfile import load_many
from oms.venues.sim.adapter import engine_for
from rules.venues import venue_state
from tests.conftest import uid
from tests.test_venues_worker import FLOW_TIMEOUT, Venue, api_order, settles, the_child
from tests.venues_support import SUPER, doc, sim_faults, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingVenue(Venue):
    """The worker and stream processes of test_venues_worker, each recording into `directory`."""

    def __init__(self, tmp: Path, directory: Path) -> None:
        super().__init__(tmp)
        self.directory = directory

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(OMS_VENUE_RECORD_DIR=str(self.directory), **extra)


@pytest.fixture
def recorded(
    django_db_setup: None, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch,
    admin_user: Any, desk_user: Any,
) -> Iterator[RecordingVenue]:  # fmt: skip
    if not django_settings.REDIS_URL or django_settings.DATABASES["default"]["ENGINE"] != (
        "django.db.backends.postgresql"
    ):
        pytest.skip("recording across processes needs PostgreSQL (the lock) and Redis (the step counter)")
    directory = tmp_path / "sessions"
    venue = RecordingVenue(tmp_path, directory)
    # this process is configured as the worker and stream processes are (the headers must agree)
    settings.OMS_SIM_PREFIX = venue.prefix
    settings.OMS_SIM_AMEND = False
    settings.OMS_VENUE_GAP_HOLD_MS = 200
    settings.OMS_VENUE_RESYNC_SECONDS = 2
    settings.CELERY_TASK_DEFAULT_QUEUE = venue.queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", venue.queue)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    reset_adapters()
    reset_consumers()
    engine_for("SIM").reset()
    start_recording(directory / "session-api.jsonl")
    try:
        venue.start_worker()
        venue.start_stream()
        yield venue
    finally:
        venue.stop()
        stop_recording()
        engine_for("SIM").reset()
        reset_adapters()


def drive_session(venue: RecordingVenue) -> dict[str, Any]:
    """An Auto order filled in parts at two markets, a resting limit (sent on its third attempt:
    rate limited twice) replaced then canceled, and duplicated fills at SIM, through the API and dispatch, on the worker and the stream process."""
    sim_faults(**{name: 0 for name in engine_for("SIM").faults()})
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor=SUPER,
    )
    healthy = wait_for(lambda: venue_state("SIM").feed.value == "Healthy", 30)  # type: ignore[union-attr]  # registered just above
    assert healthy, venue.logs()
    symbol = f"M{uid('S')}"
    sim_instrument(symbol)
    sim_market(symbol, "100", "101", "5", "4")
    sim_faults(duplicateFills=2)
    market = the_child(api_order(symbol, "10")["orderId"], venue)
    settles(market, venue, "PartiallyFilled")

    # the resting order's first two sends are rate limited: the placement's own send hands it to
    # send_order on the queue (delivery 1), whose attempt retries itself (`self.retry`, delivery 2)
    sim_faults(rateLimitNext=2)
    resting = the_child(api_order(symbol, "6", ordType="Limit", price="99")["orderId"], venue)
    settles(resting, venue, "New")
    new = uid("RP")
    replace = {"commandType": "ReplaceOrderCommand", "orderId": resting["orderId"], "clOrdID": new}
    dispatch("orders", {**replace, "price": "98.5", "orderQty": "5"}, actor="trader")
    assert wait_for(lambda: doc(resting["orderId"])["clOrdID"] == new, FLOW_TIMEOUT), venue.logs()
    cancel = {"commandType": "CancelOrderCommand", "orderId": resting["orderId"], "clOrdID": uid("CX")}
    assert wait_for(lambda: doc(resting["orderId"])["status"] == "New", FLOW_TIMEOUT), venue.logs()
    dispatch("orders", cancel, actor="trader")
    assert wait_for(lambda: doc(resting["orderId"])["status"] == "Canceled", FLOW_TIMEOUT), venue.logs()

    sim_market(symbol, "100", "102", "5", "3")
    assert wait_for(lambda: doc(market["orderId"])["cumQty"] == "7", FLOW_TIMEOUT), venue.logs()
    sim_market(symbol, "100", "103", "5", "20")
    filled = settles(market, venue, "Filled")
    return {"market": filled, "limit": doc(resting["orderId"]), "faults": engine_for("SIM").faults()}


def test_a_session_recorded_by_the_api_a_worker_and_the_stream_replays_merged_byte_for_byte(
    recorded: RecordingVenue, tmp_path: Path
) -> None:
    outcome = drive_session(recorded)
    recorded.stop()  # SIGTERM: each finishes the driver it runs (its lines written), then exits
    stop_recording()
    assert outcome["market"]["cumQty"] == "10" and outcome["limit"]["status"] == "Canceled"
    assert outcome["faults"] == {}, "both duplicated fills went out"
    assert recorded.stream is not None
    assert re.search(r"'duplicates': [1-9]", recorded.stream.output()), "the stream dropped a duplicate"
    files = sorted(recorded.directory.glob("session-*.jsonl"))
    assert len(files) == 3, "the API's, the worker's and the stream's"
    assert all('"k":"overlap"' not in f.read_text() for f in files), "every driver had its turn"

    session = load_many([recorded.directory])
    original = "".join(canonical(e) + "\n" for e in session_events(session.correlation_ids()))
    types = [json.loads(line)["type"] for line in original.splitlines()]
    assert "OrderReplaced" in types and "OrderCanceled" in types and types.count("OrderFilled") >= 1
    assert "ReconciliationRunCompleted" in types, "the worker reconciled after the stream's first resync"
    drivers = {(e["file"], e["driver"]) for e in session.entries if e["k"] == "begin"}
    assert {Path(f).name for f, kind in drivers if kind == "task"} != set(), "the worker's tasks"
    assert {kind for _, kind in drivers} >= {"dispatch", "task", "consumer", "step"}
    retried = [e["args"] for e in session.entries if e["k"] == "begin" and e["args"].get("retries")]
    assert [r["retries"] for r in retried if r["name"] == "venues.send_order"] == [1, 2], retried

    call_command("flush", interactive=False, verbosity=0)  # an empty database (users and all)
    assert count_events_after(0, ["order-events"]) == 0
    replayed = tmp_path / "replayed.jsonl"
    out = io.StringIO()
    call_command("replay_session", str(recorded.directory), events_out=str(replayed), stdout=out)

    assert replayed.read_text() == original, "the replay's events are the original's"
    assert replayed.read_bytes() == original.encode(), "byte for byte"
    assert "orders: 4" in out.getvalue()
