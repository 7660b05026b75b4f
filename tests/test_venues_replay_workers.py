"""A session across processes (this one as the API, a REAL Celery worker sending to SIM, a REAL
`venue_stream` consumer), each recording its own file into OMS_VENUE_RECORD_DIR, is merged in
commit order and replayed by `replay_session DIR` into an empty database with the same events
byte for byte; a tampered file is caught. Needs REDIS_URL and PostgreSQL (the processes share the
test database); the single-process replay is tests/test_venues_replay.py."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from oms.celery import app as celery_app
from oms.core.dispatch import dispatch
from oms.venues.adapter import reset_adapters
from oms.venues.recording.merge import merge
from oms.venues.recording.recorder import start_recording, stop_recording
from oms.venues.recording.runner import canonical, session_events
from oms.venues.recording.sessionfile import load_set
from oms.venues.sim.adapter import engine_for
from rules.venues import venue_state
from tests.conftest import uid
from tests.test_venues_worker import FLOW_TIMEOUT, Venue, api_order, the_child
from tests.venues_support import SUPER, doc, sim_faults, sim_instrument, sim_market, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "SOL-PERP"


@pytest.fixture
def session_dir(
    django_db_setup: None,
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    admin_user: Any,
    desk_user: Any,
) -> Iterator[tuple[Path, Venue]]:
    if not settings.REDIS_URL:
        pytest.skip("the processes need REDIS_URL (the single-process replay: tests/test_venues_replay.py)")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the processes share the test database: set DATABASE_URL (PostgreSQL)")
    directory = tmp_path / "session"
    venue = Venue(tmp_path, OMS_VENUE_RECORD_DIR=str(directory))
    settings.OMS_SIM_PREFIX = venue.prefix
    settings.OMS_SIM_AMEND = False
    settings.CELERY_TASK_DEFAULT_QUEUE = venue.queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", venue.queue)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    reset_adapters()
    engine_for("SIM").reset()
    # this process is the API: it records first, then the worker and the stream consumer start
    start_recording(directory / f"session-api-{os.getpid()}.jsonl", role="api")
    try:
        venue.start_worker()
        venue.start_stream()
        yield directory, venue
    finally:
        venue.stop()  # a warm shutdown: each file ends with its last whole driver
        stop_recording()
        reset_adapters()
        engine_for("SIM").reset()


def record_across_processes(venue: Venue) -> None:
    """Partial fills, a replace (cancel and place: SIM without amend), a cancel, a SIM fault."""
    sim_instrument(SYMBOL)
    sim_market(SYMBOL, "100", "101", "5", "4")
    dispatch(
        "venues",
        {"commandType": "UpsertVenueCommand", "venue": "SIM", "adapter": "SIM", "mode": "Paper"},
        actor=SUPER,
    )
    healthy = wait_for(lambda: venue_state("SIM").feed.value == "Healthy", 15)  # type: ignore[union-attr]
    assert healthy, venue.logs()
    sim_faults(duplicateFills=2)  # the next two fills come twice on the stream (same execID)

    market = the_child(api_order(SYMBOL, "10")["orderId"], venue)  # 4 at once, the rest works
    assert wait_for(lambda: doc(market["orderId"])["cumQty"] == "4", FLOW_TIMEOUT), venue.logs()

    resting = the_child(api_order(SYMBOL, "6", ordType="Limit", price="99")["orderId"], venue)
    assert wait_for(lambda: doc(resting["orderId"])["status"] == "New", FLOW_TIMEOUT), venue.logs()
    new = uid("RP")
    replace = {"commandType": "ReplaceOrderCommand", "orderId": resting["orderId"], "clOrdID": new}
    dispatch("orders", {**replace, "price": "98.5", "orderQty": "5"}, actor="trader")
    assert wait_for(lambda: doc(resting["orderId"])["clOrdID"] == new, FLOW_TIMEOUT), venue.logs()
    settled = wait_for(lambda: doc(resting["orderId"])["pending"] is None, FLOW_TIMEOUT)
    assert settled and doc(resting["orderId"])["status"] == "New", venue.logs()
    cancel = {"commandType": "CancelOrderCommand", "orderId": resting["orderId"], "clOrdID": uid("CX")}
    dispatch("orders", cancel, actor="trader")
    assert wait_for(lambda: doc(resting["orderId"])["status"] == "Canceled", FLOW_TIMEOUT), venue.logs()

    sim_market(SYMBOL, "100", "102", "5", "3")  # 3 more of the market order
    assert wait_for(lambda: doc(market["orderId"])["cumQty"] == "7", FLOW_TIMEOUT), venue.logs()
    sim_market(SYMBOL, "100", "103", "5", "20")
    assert wait_for(lambda: doc(market["orderId"])["status"] == "Filled", FLOW_TIMEOUT), venue.logs()
    assert engine_for("SIM").faults() == {}, "the fault fired (used up)"


def events_of(directory: Path) -> str:
    sessions = load_set([directory])
    ids = set().union(*(s.correlation_ids() for s in sessions))
    return "".join(canonical(e) + "\n" for e in session_events(ids))


def test_a_session_recorded_by_the_api_a_worker_and_the_stream_replays_merged_byte_for_byte(
    session_dir: tuple[Path, Venue], tmp_path: Path
) -> None:
    directory, venue = session_dir
    record_across_processes(venue)
    venue.stop()
    stop_recording()
    sessions = load_set([directory])
    assert sorted(s.role for s in sessions) == ["api", "stream", "worker"]
    worker = next(s for s in sessions if s.role == "worker")
    assert any(e["k"] == "call" and e["m"] == "place_order" for e in worker.entries)
    order = merge(sessions)
    seqs = [u.seq for u in order if u.seq is not None]
    assert seqs == sorted(seqs) and len({u.file for u in order if u.seq is not None}) == 3
    original = events_of(directory)
    (tmp_path / "original.jsonl").write_text(original)  # beside replayed.jsonl, to diff
    types = [json.loads(line)["type"] for line in original.splitlines()]
    assert "OrderReplaced" in types and "OrderCanceled" in types
    assert types.count("OrderFilled") >= 3, "the market order filled in three parts"

    call_command("flush", interactive=False, verbosity=0)  # an empty database (users and all)
    replayed = tmp_path / "replayed.jsonl"
    out = io.StringIO()
    call_command("replay_session", str(directory), events_out=str(replayed), stdout=out)

    assert replayed.read_text() == original, "the merged replay's events are the original's"
    assert replayed.read_bytes() == original.encode()
    assert f"events produced: {len(types)}" in out.getvalue()
    assert f"{SYMBOL}: qty 10" in out.getvalue(), "the final position"

    # one time in the worker's file one microsecond later: the replay runs, and is not the original
    lines = worker.path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith('{"k":"now"') and "." in line)
    entry = json.loads(lines[at])
    stamp = entry["v"]
    entry["v"] = f"{stamp[:20]}{(int(stamp[20:26]) + 1) % 1_000_000:06d}{stamp[26:]}"
    lines[at] = json.dumps(entry, separators=(",", ":"))
    worker.path.write_text("\n".join(lines) + "\n")
    call_command("flush", interactive=False, verbosity=0)
    call_command("replay_session", str(directory), events_out=str(replayed), stdout=io.StringIO())
    tampered = replayed.read_text()
    assert len(tampered.splitlines()) == len(types) and tampered != original
    assert entry["v"].replace("+00:00", "Z") in tampered

    # a worker's file alone is refused: the session's other processes are missing
    with pytest.raises(CommandError, match="replay the session's directory"):
        call_command("replay_session", str(worker.path), stdout=io.StringIO())
