from __future__ import annotations

from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Rules engine and trading controls"

    def ready(self) -> None:
        # registers the aggregates, their queries, their command handlers and the refusal recorder
        from rules import books, instruments, limits, refusals, venues  # noqa: F401
