"""Publish committed events to the configured sinks (Redis Streams, the blotter's channel layer).

    python manage.py publish_events                  # run until SIGTERM / Ctrl-C
    python manage.py publish_events --once           # drain the backlog, then exit
    python manage.py publish_events --sink streams   # only some sinks (settings.OMS_EVENT_SINKS)

Restart it at will: durable sinks resume from their cursor, and any number of publishers may
overlap (see oms/core/publishing/). SIGTERM finishes the batch in flight and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.core import metrics
from oms.core.publishing import Publisher, build_sinks


class Command(BaseCommand):
    help = "Publish committed events to Redis Streams and the blotter's channel layer (long-running)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sink", action="append", default=[], help="a sink name (repeatable)")
        parser.add_argument("--once", action="store_true", help="drain the backlog and exit")
        parser.add_argument("--poll-ms", type=int, default=None, help="idle poll interval (ms)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sinks = build_sinks(options["sink"] or None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not sinks:
            raise CommandError("no event sinks configured (settings.OMS_EVENT_SINKS)")
        poll = options["poll_ms"] / 1000 if options["poll_ms"] is not None else None
        publisher = Publisher(sinks, poll_interval=poll)
        names = ", ".join(s.name for s in sinks)
        if options["once"]:
            try:
                count = asyncio.run(publisher.drain(max_seconds=3600))
            except Exception as exc:  # a sink or the database is down: say so, exit non-zero
                raise CommandError(f"publishing failed: {type(exc).__name__}: {exc}") from exc
            self.stdout.write(f"publish_events: published {count} events to {names}")
            return
        if settings.OMS_METRICS_PORT:  # lag, backlog and errors of this publisher (README "Operations")
            metrics.serve(settings.OMS_METRICS_PORT, settings.OMS_METRICS_ADDR)
        asyncio.run(self._run(publisher, names))

    async def _run(self, publisher: Publisher, names: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.stdout.write(f"publish_events: started, sinks: {names}")
        self.stdout.flush()
        await publisher.run(stop)
        totals = ", ".join(
            f"{name} {s.published} events (cursor {s.cursor})" for name, s in publisher.stats().items()
        )
        self.stdout.write(f"publish_events: stopped; {totals}")
