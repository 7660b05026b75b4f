"""`manage.py expire_due [--now ISO]`: expire what is due (what the beat-scheduled task runs)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.lifecycle.expiry import expire_due, parse_time


def parse_now(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise CommandError(f"--now {raw!r}: expected an ISO-8601 time, e.g. 2026-11-21T21:00:00Z") from None


class Command(BaseCommand):
    help = "Expire Day orders past the end of the trading day, GTD orders, quotes and quote requests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", help="Act as if it were this time (ISO-8601, UTC if no offset).")

    def handle(self, *args: Any, **options: Any) -> None:
        report = expire_due(parse_now(options["now"]))
        self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        if report.errors:
            raise CommandError(f"{len(report.errors)} expiry error(s)")
