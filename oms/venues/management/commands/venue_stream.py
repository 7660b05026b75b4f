"""`manage.py venue_stream SIM`: the venue's stream consumer, a long-lived worker process.

Reads the venue's execution stream and turns it into OMS commands (oms.venues.ingest), runs the
feed watchdog, and stops cleanly on SIGTERM/SIGINT. Run one per venue (docker-compose
`venue-stream`); a second one is harmless (everything it applies is idempotent) but useless.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from oms.venues.ingest import consumer_for
from oms.venues.recording.recorder import start_from_settings, stop_recording


class Command(BaseCommand):
    help = "Consume a venue's execution stream into the OMS (one long-lived process per venue)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("venue")
        parser.add_argument(
            "--seconds", type=float, default=0, help="stop after this long (0: run until signalled)"
        )
        parser.add_argument("--poll", type=float, default=1.0, help="longest wait for the next message")

    def handle(self, *args: Any, **options: Any) -> None:
        venue = options["venue"]
        start_from_settings()  # OMS_VENUE_RECORD_DIR: this process records its steps (a file of its own)
        consumer = consumer_for(venue)
        if consumer is None:
            raise CommandError(f"venue {venue} has no adapter with an execution stream")
        stop = {"now": False}

        def _stop(*_: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        deadline = time.monotonic() + options["seconds"] if options["seconds"] else None
        self.stdout.write(f"venue_stream {venue}: consuming", ending="\n")
        self.stdout.flush()
        while not stop["now"] and (deadline is None or time.monotonic() < deadline):
            close_old_connections()  # a long-lived process: drop a connection the database closed
            consumer.step(timeout=options["poll"])
        consumer.adapter.close()
        stop_recording()
        self.stdout.write(f"venue_stream {venue}: stopped {consumer.stats}")
