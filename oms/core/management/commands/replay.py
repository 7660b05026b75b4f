"""`manage.py replay [--verify | --rebuild] [--type order] ...`: prove (or restore) state = f(events).

Verify (the default) changes nothing and exits non-zero when anything differs. Rebuild rewrites
the state rows and derived indexes that differ in one transaction, holding the event sequence
lock so commands wait for it; it refuses to run over a damaged event log.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.core.eventstore import aggregate_types
from oms.core.replay import ReplayAborted, format_report, replay


class Command(BaseCommand):
    help = "Replay the event tables with the live apply functions: verify or rebuild every state table."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--verify", action="store_true", help="Compare replayed and live state; change nothing (default)."
        )
        mode.add_argument(
            "--rebuild", action="store_true", help="Rewrite state rows and derived indexes that differ."
        )
        parser.add_argument(
            "--type",
            action="append",
            dest="types",
            metavar="TYPE",
            help=f"Only this aggregate type (repeatable): {', '.join(a.name for a in aggregate_types())}.",
        )
        parser.add_argument("--chunk-size", type=int, default=2000, help="Events fetched per round trip.")
        parser.add_argument("--batch-size", type=int, default=500, help="Aggregates compared per query.")
        parser.add_argument("--limit", type=int, default=50, help="Differences printed at most.")

    def handle(self, *args: Any, **options: Any) -> None:
        known = {a.name for a in aggregate_types()}
        unknown = set(options["types"] or []) - known
        if unknown:
            raise CommandError(
                f"unknown --type {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        try:
            report = replay(
                types=options["types"],
                rebuild=options["rebuild"],
                chunk_size=options["chunk_size"],
                batch_size=options["batch_size"],
                max_differences=max(options["limit"], 1000),
            )
        except ReplayAborted as exc:
            for line in format_report(exc.report, limit=options["limit"]):
                self.stderr.write(line)
            raise CommandError(str(exc), returncode=2) from None
        for line in format_report(report, limit=options["limit"]):
            self.stdout.write(line)
        if report.mode == "rebuild":
            self.stdout.write(self.style.SUCCESS("rebuilt from the event log"))
        elif report.ok:
            self.stdout.write(self.style.SUCCESS("replayed state equals live state"))
        else:
            raise CommandError(f"{report.difference_count} difference(s) between replayed and live state")
