from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Rules engine and trading controls"

    def ready(self) -> None:
        # registers the aggregates, their queries, their command handlers and the refusal recorder
        from rules import arming, books, controls, instruments, limits, refusals, rulebook, seed, venues  # noqa: F401

        post_migrate.connect(seed.reseed_after_flush, sender=self, dispatch_uid="rules-reseed")
