"""Merging the files of a session recorded by several processes (`sessionfile.load_many`): the
drivers in `g` order whatever file they came from; a missing step, a foreign file, or a file
without step numbers among them refused, naming what is wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from oms.venues.recording.sessionfile import SessionFileError, load_many

SETTINGS = {"OMS_VENUE_GAP_HOLD_MS": 200}


def header(**extra: Any) -> dict[str, Any]:
    base = {"k": "session", "format": 1, "eager": False, "key": "db/sim-a", "settings": SETTINGS}
    return {**base, "users": [], **extra}


def driver(n: int, g: int | None, stamp: str) -> list[dict[str, Any]]:
    begin: dict[str, Any] = {"k": "begin", "n": n, "t": 0, "driver": "step", "args": {"venue": "SIM"}}
    if g is not None:
        begin["g"] = g
    return [begin, {"k": "now", "v": stamp}, {"k": "end", "n": n, "t": 0, "error": None}]


def write(path: Path, head: dict[str, Any], *drivers: list[dict[str, Any]]) -> Path:
    lines = [head, *[e for d in drivers for e in d]]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return path


def stamps(session: Any) -> list[str]:
    return [e["v"] for e in session.entries if e["k"] == "now"]


def test_the_drivers_of_every_file_run_in_global_step_order(tmp_path: Path) -> None:
    api = write(tmp_path / "session-1-10.jsonl", header(g0=0, users=[{"username": "trader"}]),
                driver(1, 1, "a"), driver(2, 4, "d"))  # fmt: skip
    worker = write(tmp_path / "session-1-11.jsonl", header(g0=0, users=[{"username": "boss"}]),
                   driver(1, 2, "b"), driver(2, 3, "c"), driver(3, 5, "e"))  # fmt: skip

    session = load_many([worker, api])

    assert stamps(session) == ["a", "b", "c", "d", "e"]
    assert session.merged and session.drivers == 5
    assert [u["username"] for u in session.header["users"]] == ["boss", "trader"]
    assert [e["file"] for e in session.entries if e["k"] == "begin"][:2] == [str(api), str(worker)]
    assert stamps(load_many([tmp_path])) == ["a", "b", "c", "d", "e"], "a directory stands for its files"


def test_a_step_in_none_of_the_files_is_refused_with_the_missing_numbers(tmp_path: Path) -> None:
    api = write(tmp_path / "a.jsonl", header(g0=0), driver(1, 1, "a"), driver(2, 5, "e"))
    worker = write(tmp_path / "b.jsonl", header(g0=0), driver(1, 3, "c"), driver(2, 7, "g"))

    with pytest.raises(SessionFileError, match=r"steps 2, 4, 6 are in none of the files \(2 given\)"):
        load_many([api, worker])


def test_steps_before_a_later_process_started_must_be_in_the_earlier_files(tmp_path: Path) -> None:
    # the worker started when 2 steps were drawn, the API when none: 1 and 2 are the API's
    api = write(tmp_path / "a.jsonl", header(g0=0), driver(1, 2, "b"))
    worker = write(tmp_path / "b.jsonl", header(g0=2), driver(1, 3, "c"))

    with pytest.raises(SessionFileError, match=r"steps 1 are in none"):
        load_many([api, worker])


@pytest.mark.parametrize("field", ["key", "settings", "eager"])
def test_files_of_different_sessions_are_refused(tmp_path: Path, field: str) -> None:
    other = {"key": "db/sim-b", "settings": {"OMS_VENUE_GAP_HOLD_MS": 500}, "eager": True}[field]
    api = write(tmp_path / "a.jsonl", header(g0=0), driver(1, 1, "a"))
    worker = write(tmp_path / "b.jsonl", header(g0=0, **{field: other}), driver(1, 2, "b"))

    with pytest.raises(SessionFileError, match=f"header's {field} .* not the same session") as refused:
        load_many([api, worker])

    assert str(worker) in str(refused.value)


def test_a_file_without_step_numbers_is_not_merged_with_others(tmp_path: Path) -> None:
    api = write(tmp_path / "a.jsonl", header(g0=0), driver(1, 1, "a"))
    old = write(tmp_path / "b.jsonl", header(), driver(1, None, "b"))

    with pytest.raises(SessionFileError, match="without a global step number") as refused:
        load_many([api, old])

    assert str(old) in str(refused.value)


def test_a_step_number_in_two_files_is_refused(tmp_path: Path) -> None:
    api = write(tmp_path / "a.jsonl", header(g0=0), driver(1, 1, "a"))
    copy = write(tmp_path / "b.jsonl", header(g0=0), driver(1, 1, "a"))

    with pytest.raises(SessionFileError, match="step number 1 twice"):
        load_many([api, copy])


def test_one_file_without_step_numbers_loads_as_before(tmp_path: Path) -> None:
    eager = write(tmp_path / "a.jsonl", header(eager=True), driver(1, None, "a"), driver(2, None, "b"))

    session = load_many([eager])

    assert stamps(session) == ["a", "b"] and not session.merged


@pytest.mark.django_db
def test_one_process_file_of_a_deployment_with_workers_and_no_turn_is_still_refused(tmp_path: Path) -> None:
    # recorded with tasks on workers elsewhere but without the shared turn (SQLite, or no Redis):
    # the other processes' drivers cannot be placed
    api = write(tmp_path / "a.jsonl", header(), driver(1, None, "a"))

    with pytest.raises(CommandError, match="without the cross-process turn") as refused:
        call_command("replay_session", str(api), stdout=io.StringIO())

    assert str(api) in str(refused.value)
