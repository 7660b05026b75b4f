"""Load the instruments of a venue adapter (or of every adapter) through UpsertInstrumentCommand.

python manage.py sync_instruments            # every registered source
python manage.py sync_instruments --venue SIM
python manage.py sync_instruments --venue ccxt:binance   # a ccxt exchange's markets (OMS_CCXT_* settings)

Without --venue only the venues with a fixed source (SIM) are loaded: a ccxt venue is named.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oms.core.dispatch import dispatch
from rules import adapters
from rules.actors import SYSTEM_PREFIX

ACTOR = f"{SYSTEM_PREFIX}sync_instruments"


class Command(BaseCommand):
    help = "Create or update instruments from the venue adapters (UpsertInstrumentCommand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--venue", help="one venue (default: every venue with a source)")

    def handle(self, *args: Any, venue: str | None = None, **options: Any) -> None:
        if venue is not None and adapters.source_for(venue) is None:
            known = (
                ", ".join([*sorted(adapters.sources()), *(f"{f}:<id>" for f in adapters.families())])
                or "none"
            )
            raise CommandError(f"no instrument source for venue {venue} (known: {known})")
        try:
            counts = adapters.sync(venue, lambda body: dispatch("instruments", body, actor=ACTOR).body)
        except Exception as exc:  # the venue unreachable, its keys refused, a setting malformed
            raise CommandError(f"sync_instruments {venue or ''}: {type(exc).__name__}: {exc}") from exc
        self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()))
