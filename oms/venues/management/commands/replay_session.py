"""`manage.py replay_session FILE [FILE ...]`: reproduce a recorded venue session (an incident) here.

One file for a session recorded in one process (eager tasks: the embedded server, a script);
every process's file (or their directory) for a session recorded across the API, the Celery
workers and `venue_stream`, merged by their global step numbers.

Replays into the database this process is configured with (DATABASE_URL: an empty one, or a copy
taken when the recording started), or with `--fresh` into a new SQLite database of its own
(migrated, kept in a temporary directory for inspection), and prints what the replay produced; `--events-out` writes the
session's events as canonical JSON lines to diff against the original's (`--original-out` writes
those from this database, run where the session was recorded). `replay --verify` is another
thing: it rebuilds the state tables from the event tables.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from oms.venues.recording.replayer import ReplayDiverged
from oms.venues.recording.runner import canonical, replay_session, session_events
from oms.venues.recording.sessionfile import SessionFileError, load_many


class Command(BaseCommand):
    help = "Replay a recorded venue session through the same adapter boundary, handlers and rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", nargs="+", help="the session's JSON-lines recording(s), or their directory"
        )
        parser.add_argument(
            "--events-out", help="write the replayed session's events here (canonical JSON lines)"
        )
        parser.add_argument(
            "--original-out",
            help="write the recorded session's events from this database (where it was recorded) and stop",
        )
        parser.add_argument("--check", action="store_true", help="only read and check the file")
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="replay into a new, migrated SQLite database (not DATABASE_URL's)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths = [Path(f) for f in options["file"]]
        path = paths[0] if len(paths) == 1 else paths
        try:
            if options["check"] or options["original_out"]:
                session = load_many(paths)
                if options["original_out"]:
                    events = session_events(session.correlation_ids())
                    Path(options["original_out"]).write_text(
                        "".join(canonical(e) + "\n" for e in events), encoding="utf-8"
                    )
                    self.stdout.write(
                        f"{len(events)} events of the recorded session -> {options['original_out']}"
                    )
                else:
                    self.stdout.write(
                        f"{', '.join(map(str, paths))}: {session.drivers} drivers, {len(session.entries)} entries: readable"
                    )
                return
            if options["fresh"]:
                load_many(paths)  # a broken file is refused before anything is created
                self.stdout.write(f"replaying into a fresh database: {self._fresh_database()}")
            summary = replay_session(path, events_out=options["events_out"])
        except SessionFileError as exc:
            raise CommandError(f"not a replayable session: {exc}") from None
        except ReplayDiverged as exc:
            raise CommandError(f"the replay diverged from the recording: {exc}") from None
        for line in summary.lines():
            self.stdout.write(line)
        if options["events_out"]:
            self.stdout.write(f"events -> {options['events_out']}")

    def _fresh_database(self) -> Path:
        """A new SQLite database in a temporary directory, migrated, as this process's default."""
        path = Path(tempfile.mkdtemp(prefix="oms-replay-")) / "replay.sqlite3"
        connections.close_all()
        fresh: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
        fresh["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
        connections.settings[DEFAULT_DB_ALIAS] = connections.configure_settings({DEFAULT_DB_ALIAS: fresh})[
            DEFAULT_DB_ALIAS
        ]
        with contextlib.suppress(AttributeError):
            del connections[DEFAULT_DB_ALIAS]  # the next use connects to the new one
        call_command("migrate", verbosity=0, interactive=False)
        return path
