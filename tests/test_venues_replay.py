"""Session recording and `manage.py replay_session`: a session against SIM (partial fills, a
replace loop, a cancel, reordered and duplicated fills) replays into an empty database with the
same events byte for byte; a broken file is refused clearly; recording off writes nothing."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from oms.core import ambient
from oms.core.dispatch import dispatch
from oms.core.eventfeed import count_events_after
from oms.venues.ingest import consumers
from oms.venues.recording import recorder as recorder_module
from oms.venues.recording.recorder import RecordingAdapter, recording, start_from_settings, stop_recording
from oms.venues.recording.runner import canonical, session_events
from oms.venues.recording.sessionfile import load
from oms.venues.routing import adapter_for
from oms.venues.sim.adapter import engine_for
from rules.models import Instrument
from tests.conftest import uid
from tests.venues_support import (
    children,
    client_order,
    doc,
    fresh_sim_venue,
    ingest,
    sim_faults,
    sim_instrument,
    sim_market,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "BTC-PERP"


@pytest.fixture(autouse=True)
def fresh_sim(settings: Any, admin_user: Any, desk_user: Any, tmp_path: Any) -> Any:
    with fresh_sim_venue(settings, tmp_path):
        yield
        stop_recording()


def replace(order_id: str, **fields: str) -> None:
    body = {"commandType": "ReplaceOrderCommand", "orderId": order_id, "clOrdID": uid("RP"), **fields}
    dispatch("orders", body, actor="trader")


def record_session(path: Path) -> dict[str, Any]:
    """Partial fills, a replace loop and a cancel, with reordered and duplicated fills at SIM."""
    with recording(path):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "100", "101", "5", "4")
        sim_faults(reorderFills=1)  # the first fill comes after the message that follows it
        market = client_order(SYMBOL, "10")  # 4 at once at 101, the rest works
        [market_child] = children(market["orderId"])
        wait_for(lambda: doc(market_child["orderId"])["cumQty"] == "4", 3, ingest)

        resting = client_order(SYMBOL, "6", ordType="Limit", price="100")
        [limit_child] = children(resting["orderId"])
        for price, qty in (("99.5", "5"), ("99", "4"), ("98.5", "3")):  # the cancel/replace loop
            replace(limit_child["orderId"], price=price, orderQty=qty)
            ingest()
        cancel = {
            "commandType": "CancelOrderCommand",
            "orderId": limit_child["orderId"],
            "clOrdID": uid("CX"),
        }
        dispatch("orders", cancel, actor="trader")

        sim_faults(duplicateFills=2)  # the next two fills come twice (same execID)
        sim_market(SYMBOL, "100", "102", "5", "3")  # the market order's rest fills in two
        ingest()
        sim_market(SYMBOL, "100", "103", "5", "20")
        wait_for(lambda: doc(market_child["orderId"])["status"] == "Filled", 3, ingest)
        for _ in range(3):
            ingest()
        stats = dict(consumers()[0].stats)
    return {
        "market": doc(market_child["orderId"]),
        "limit": doc(limit_child["orderId"]),
        "faults": engine_for("SIM").faults(),
        "stats": stats,
    }


def test_a_recorded_sim_session_replays_into_an_empty_database_with_the_same_events_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.jsonl"
    outcome = record_session(path)
    assert (outcome["market"]["status"], outcome["market"]["cumQty"]) == ("Filled", "10")
    assert (outcome["limit"]["status"], outcome["limit"]["orderQty"]) == ("Canceled", "3")
    assert outcome["faults"] == {}, "both faults fired (used up)"
    assert outcome["market"]["avgPx"] == str((4 * 101 + 3 * 102 + 3 * 103) / Decimal(10))
    assert outcome["stats"]["duplicates"] >= 1, "a duplicated fill reached the consumer and was dropped"
    session = load(path)
    original = "".join(canonical(e) + "\n" for e in session_events(session.correlation_ids()))
    types = [json.loads(line)["type"] for line in original.splitlines()]
    assert types.count("OrderReplaced") == 3 and "OrderCanceled" in types
    assert types.count("OrderFilled") + types.count("OrderPartiallyFilled") >= 2
    assert "ReconciliationRunCompleted" in types, "the consumer's first resync ran a reconciliation (timed)"
    lines = path.read_text().splitlines()
    assert any('"k":"call"' in line and '"m":"watch_executions"' in line for line in lines)
    assert any('"m":"replace_order"' in line for line in lines)

    call_command("flush", interactive=False, verbosity=0)  # an empty database (users and all)
    assert count_events_after(0, ["order-events"]) == 0
    replayed = tmp_path / "replayed.jsonl"
    out = io.StringIO()
    call_command("replay_session", str(path), events_out=str(replayed), stdout=out)

    assert replayed.read_bytes() == original.encode(), "the replay's events are the original's, byte for byte"
    report = out.getvalue()
    assert f"events produced: {len(types)}" in report and "orders: 4" in report
    assert f"{SYMBOL}: qty 10" in report, "the final position"


def test_the_command_line_replays_into_a_fresh_database_of_its_own_with_the_same_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.jsonl"
    record_session(path)
    original = tmp_path / "original.jsonl"
    call_command("replay_session", str(path), original_out=str(original), stdout=io.StringIO())
    replayed = tmp_path / "replayed.jsonl"

    done = manage("replay_session", str(path), "--fresh", "--events-out", str(replayed))

    assert done.returncode == 0, done.stderr[-3000:]
    assert "replaying into a fresh database" in done.stdout and "orders: 4" in done.stdout
    assert replayed.read_bytes() == original.read_bytes() and original.stat().st_size > 0


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "oms.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_replay_that_draws_a_different_time_is_not_byte_for_byte_equal(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with recording(path):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "100", "101", "5", "4")
        client_order(SYMBOL, "2")
    original = "".join(canonical(e) + "\n" for e in session_events(load(path).correlation_ids()))
    lines = path.read_text().splitlines()
    # one microsecond later, once: the commands decide the same, one recordedAt differs
    at = next(i for i, line in enumerate(lines) if line.startswith('{"k":"now"') and "." in line)
    entry = json.loads(lines[at])
    stamp = entry["v"]
    micro = int(stamp[20:26])
    entry["v"] = f"{stamp[:20]}{(micro + 1) % 1_000_000:06d}{stamp[26:]}"
    lines[at] = json.dumps(entry, separators=(",", ":"))
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    call_command("flush", interactive=False, verbosity=0)

    replayed = tmp_path / "replayed.jsonl"
    call_command("replay_session", str(tampered), events_out=str(replayed), stdout=io.StringIO())

    got = replayed.read_text()
    assert len(got.splitlines()) == len(original.splitlines())
    assert got != original and entry["v"].replace("+00:00", "Z") in got


def _session_file(tmp_path: Path) -> Path:
    path = tmp_path / "session.jsonl"
    with recording(path):
        sim_instrument(SYMBOL)
        sim_market(SYMBOL, "100", "101", "5", "4")
        client_order(SYMBOL, "2")
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) - 40], "the last line is cut off"),
        (lambda text: "\n".join(text.splitlines()[:-1]) + "\n", "never ends (the file is truncated)"),
        (lambda text: text.replace('"k":"call"', '"k":"cal"', 1), "unknown entry kind 'cal'"),
        (lambda text: text.replace('{"k":"now"', '{"k":"now" garbage', 1), "not JSON"),
        (
            lambda text: re.sub(r'"cum_qty":"(\d+)"', r'"cum_qty":\1', text, count=1),
            "a decimal is written as a string",
        ),
        (
            lambda text: text.replace('"type":"VenueOrderReport"', '"type":"VenueOrderReprot"', 1),
            "unknown record type",
        ),
        (lambda text: "hello\n", "not JSON"),
    ],
)
def test_a_truncated_or_garbled_recording_is_refused_with_the_line_and_replays_nothing(
    tmp_path: Path, damage: Any, message: str
) -> None:
    path = _session_file(tmp_path)
    path.write_text(damage(path.read_text()))
    call_command("flush", interactive=False, verbosity=0)
    before = count_events_after(0)  # the routing rules the flush seeds again

    with pytest.raises(CommandError, match="not a replayable session") as refused:
        call_command("replay_session", str(path), stdout=io.StringIO())

    assert message in str(refused.value) and str(path) in str(refused.value)
    assert count_events_after(0) == before, "nothing replayed"


def test_the_command_line_reports_a_garbled_file_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"k":"session","format":1}\n{"k":"begin","n":1\n')
    done = manage("replay_session", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{path}:2: not JSON" in done.stderr


def test_a_replay_that_departs_from_the_recording_stops_with_the_line(tmp_path: Path) -> None:
    path = _session_file(tmp_path)
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"m":"place_order"' in line)
    lines[at] = lines[at].replace('"m":"place_order"', '"m":"cancel_order"')
    path.write_text("\n".join(lines) + "\n")
    call_command("flush", interactive=False, verbosity=0)

    with pytest.raises(CommandError, match="diverged") as diverged:
        call_command("replay_session", str(path), stdout=io.StringIO())

    assert f"{path}:{at + 1}: the original called SIM cancel_order" in str(diverged.value)


def test_recording_off_writes_nothing_and_the_adapters_are_the_venues_own(
    settings: Any, tmp_path: Path
) -> None:
    settings.OMS_VENUE_RECORD_DIR = ""
    assert start_from_settings() is None
    sim_instrument(SYMBOL)
    sim_market(SYMBOL, "100", "101", "5", "4")
    client_order(SYMBOL, "2")
    ingest()

    assert ambient.active() is None
    assert not isinstance(adapter_for("SIM"), RecordingAdapter)
    assert list(tmp_path.glob("**/*.jsonl")) == []


def test_the_record_dir_setting_records_until_stopped_and_nothing_after(
    settings: Any, tmp_path: Path
) -> None:
    settings.OMS_VENUE_RECORD_DIR = str(tmp_path / "sessions")
    recorder = start_from_settings()
    assert recorder is not None
    sim_instrument(SYMBOL)
    sim_market(SYMBOL, "100", "101", "5", "4")
    client_order(SYMBOL, "2")
    stop_recording()
    [path] = list((tmp_path / "sessions").glob("session-*.jsonl"))
    size = path.stat().st_size
    assert load(path).drivers == 3

    client_order(SYMBOL, "1")

    assert path.stat().st_size == size and ambient.active() is None


def test_a_driver_that_waits_too_long_for_its_turn_runs_unrecorded_and_the_file_says_so(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(recorder_module, "SERIAL_WAIT_SECONDS", 0.1)
    path = tmp_path / "session.jsonl"
    started, release = threading.Event(), threading.Event()

    def slow_driver() -> None:
        with ambient.driver("task", {"name": "slow", "args": []}):
            started.set()
            release.wait(5)

    with recording(path):
        other = threading.Thread(target=slow_driver)
        other.start()
        started.wait(5)
        sim_instrument(SYMBOL)  # a command while the slow driver holds the turn
        release.set()
        other.join(5)

    assert '"k":"overlap"' in path.read_text()
    assert Instrument.objects.filter(symbol=SYMBOL).count() == 1, "the command itself ran"
    with pytest.raises(CommandError, match="overlapped another while recording"):
        call_command("replay_session", str(path), stdout=io.StringIO())
