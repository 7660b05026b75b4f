"""Reading a recorded session: the whole file is parsed and checked before anything is replayed,
so a truncated or garbled file is refused with the line at fault and changes nothing."""

from __future__ import annotations

import json
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
