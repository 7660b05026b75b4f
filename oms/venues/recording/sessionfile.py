"""Reading a recorded session: the whole file is parsed and checked before anything is replayed,
so a truncated or garbled file is refused with the line at fault and changes nothing.

A session recorded by several processes (API, Celery workers, `venue_stream`: see `turn`) is a
file per process; `load_many` checks they belong together and merges their drivers into one
order, by the global step number `g` each driver drew under the cross-process lock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oms.venues.recording.codec import CodecError, decode, decode_error
from oms.venues.recording.recorder import FORMAT

DRAWS = ("now", "mono", "id", "cid")
DRIVERS = ("dispatch", "task", "consumer", "step")


class SessionFileError(Exception):
    """The file is not a complete recorded session; the message names the line."""


@dataclass
class Session:
    path: Path
    header: dict[str, Any]
    adapters: dict[str, dict[str, Any]] = field(default_factory=dict)  # venue -> name, has
    entries: list[dict[str, Any]] = field(default_factory=list)  # begin..end of every driver
    drivers: int = 0
    merged: bool = False  # the drivers of every process, in `g` order (`load_many`)

    def correlation_ids(self) -> set[str]:
        """Every correlation id the session's commands used: drawn, or given by their sender."""
        found = {e["v"] for e in self.entries if e["k"] == "cid"}
        for e in self.entries:
            if e["k"] == "begin" and e["driver"] == "dispatch" and e["args"].get("correlationId"):
                found.add(e["args"]["correlationId"])
        return found


def load(path: str | Path) -> Session:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionFileError(f"{path}: cannot be read: {exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        raise SessionFileError(f"{path}:{len(lines)}: the last line is cut off (the file is truncated)")
    if not lines:
        raise SessionFileError(f"{path}: empty: not a recorded session")
    session: Session | None = None
    open_driver: dict[str, Any] | None = None
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise SessionFileError(f"{where}: not JSON ({exc})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("k"), str):
            raise SessionFileError(f"{where}: not a session entry (an object with a kind `k`)")
        kind = entry["k"]
        if session is None:
            if kind != "session" or entry.get("format") != FORMAT:
                raise SessionFileError(f"{where}: not a recorded session (format {FORMAT} header expected)")
            session = Session(path, entry)
            continue
        entry["line"] = number
        entry["file"] = str(path)
        if kind == "adapter":
            _check(where, entry, venue=str, name=str, has=dict)
            session.adapters[entry["venue"]] = {"name": entry["name"], "has": entry["has"]}
        elif kind == "begin":
            if open_driver is not None:
                raise SessionFileError(f"{where}: a driver begins inside driver {open_driver['n']}")
            _check(where, entry, n=int, driver=str, args=dict)
            if entry["driver"] not in DRIVERS:
                raise SessionFileError(f"{where}: unknown driver {entry['driver']!r}")
            open_driver = entry
            session.entries.append(entry)
            session.drivers += 1
        elif kind == "end":
            if open_driver is None or entry.get("n") != open_driver["n"]:
                raise SessionFileError(f"{where}: an end without its begin")
            open_driver = None
            session.entries.append(entry)
        elif kind == "overlap":
            raise SessionFileError(
                f"{where}: a {entry.get('driver')} driver overlapped another while recording (it waited "
                "too long for its turn and ran unrecorded): the session cannot be replayed"
            )
        elif kind in DRAWS or kind == "call":
            if open_driver is None:
                raise SessionFileError(f"{where}: a {kind} entry outside any driver")
            if kind == "call":
                _check_call(where, entry)
            elif "v" not in entry:
                raise SessionFileError(f"{where}: a {kind} entry without its value")
            session.entries.append(entry)
        else:
            raise SessionFileError(f"{where}: unknown entry kind {kind!r}")
    if session is None:
        raise SessionFileError(f"{path}: not a recorded session")
    if open_driver is not None:
        raise SessionFileError(
            f"{path}:{open_driver['line']}: driver {open_driver['n']} never ends (the file is truncated)"
        )
    return session


def _check(where: str, entry: dict[str, Any], **types: type) -> None:
    for name, kind in types.items():
        if not isinstance(entry.get(name), kind):
            raise SessionFileError(f"{where}: `{name}` missing or not a {kind.__name__}")


def _check_call(where: str, entry: dict[str, Any]) -> None:
    _check(where, entry, venue=str, m=str, a=dict)
    try:
        if "x" in entry:
            decode_error(entry["x"])
        elif "r" in entry:
            decode(entry["r"])
        else:
            raise CodecError("neither an answer nor an error")
    except CodecError as exc:
        raise SessionFileError(f"{where}: the venue's answer cannot be read: {exc}") from None


def session_paths(given: Iterable[str | Path]) -> list[Path]:
    """The files named, a directory standing for its `session-*.jsonl` files."""
    found: list[Path] = []
    for item in map(Path, given):
        found.extend(sorted(item.glob("session-*.jsonl")) if item.is_dir() else [item])
    return found


def load_many(paths: Sequence[str | Path]) -> Session:
    """One file as `load` reads it (an eager session is one process's); several files, or one of
    a cross-process recording, merged into one session by `g`."""
    files = session_paths(paths)
    if not files:
        raise SessionFileError(f"{', '.join(map(str, paths))}: no session files")
    sessions = [load(f) for f in files]
    if len(sessions) == 1 and not any("g" in e for e in sessions[0].entries if e["k"] == "begin"):
        return sessions[0]
    for s in sessions:
        if any("g" not in e for e in s.entries if e["k"] == "begin"):
            raise SessionFileError(
                f"{s.path}: drivers without a global step number (`g`) mixed with a cross-process "
                "recording's: recorded without the shared turn, the files cannot be ordered"
            )
    _check_headers(sessions)
    return _merge(sessions)


def _check_headers(sessions: list[Session]) -> None:
    first = sessions[0]
    for s in sessions[1:]:
        for name in ("key", "settings", "eager"):
            if s.header.get(name) != first.header.get(name):
                raise SessionFileError(
                    f"{s.path}: its header's {name} ({s.header.get(name)!r:.200}) is not "
                    f"{first.path}'s ({first.header.get(name)!r:.200}): not the same session"
                )


def _drivers(session: Session) -> list[list[dict[str, Any]]]:
    """The session's drivers, each its begin..end lines (contiguous in a file)."""
    out: list[list[dict[str, Any]]] = []
    for e in session.entries:
        if e["k"] == "begin":
            out.append([])
        out[-1].append(e)
    return out


def _merge(sessions: list[Session]) -> Session:
    by_g: dict[int, list[dict[str, Any]]] = {}
    for s in sessions:
        for driver in _drivers(s):
            g = driver[0]["g"]
            if not isinstance(g, int) or g in by_g:
                raise SessionFileError(
                    f"{s.path}:{driver[0]['line']}: step number {g!r} twice or not a number"
                )
            by_g[g] = driver
    start = min((int(s.header.get("g0", min(by_g, default=1) - 1)) for s in sessions), default=0)
    missing = sorted(set(range(start + 1, max(by_g, default=start) + 1)) - set(by_g))
    if missing:
        raise SessionFileError(
            f"steps {_ranges(missing)} are in none of the files ({len(sessions)} given): a process's "
            "file is missing, or a driver died before its lines were written"
        )
    merged = Session(sessions[0].path, dict(sessions[0].header), merged=True)
    users: dict[str, dict[str, Any]] = {}
    for s in sessions:
        merged.adapters.update(s.adapters)
        users.update((u["username"], u) for u in s.header.get("users", []))
        merged.drivers += s.drivers
    merged.header["users"] = [users[name] for name in sorted(users)]
    merged.entries = [e for g in sorted(by_g) for e in by_g[g]]
    return merged


def _ranges(numbers: list[int]) -> str:
    """5, 7-9 for [5, 7, 8, 9]."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
