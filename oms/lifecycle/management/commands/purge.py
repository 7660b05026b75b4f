"""`manage.py purge [--dry-run] [--now ISO]`: archive then delete terminal objects past retention."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.lifecycle.management.commands.expire_due import parse_now
from oms.lifecycle.purge import PurgeFailed, purge


class Command(BaseCommand):
    help = (
        "Purge terminal orders (whole trees, with their executions), executions, quote requests and "
        "quotes older than OMS_RETENTION_DAYS, after writing them to an archive file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be purged; change nothing."
        )
        parser.add_argument("--now", help="Compute the retention cut-offs from this time (ISO-8601).")
        parser.add_argument("--actor", default="system:lifecycle", help="Recorded in the PurgeRun.")
        parser.add_argument("--batch-size", type=int, default=500, help="Order trees per purge run.")
        parser.add_argument(
            "--allow-future-now",
            action="store_true",
            help="Accept a --now later than the clock (it shortens every retention: irreversible).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        now = parse_now(options["now"])
        if (
            now is not None
            and now > dt.datetime.now(dt.UTC)
            and not (options["dry_run"] or options["allow_future_now"])
        ):
            raise CommandError(
                "--now is in the future: that purges objects younger than their retention; "
                "use --dry-run to look, or --allow-future-now to mean it"
            )
        try:
            report = purge(
                now=now,
                dry_run=options["dry_run"],
                actor=options["actor"],
                batch_size=options["batch_size"],
            )
        except PurgeFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        if report.busy:
            self.stderr.write("another purge is running: this one did nothing")
