from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LifecycleConfig(AppConfig):
    name = "oms.lifecycle"
    label = "lifecycle"
    verbose_name = "Lifecycle: expiry, purge, audit"

    def ready(self) -> None:
        from oms.lifecycle import audit

        # after every migrate (all apps' tables exist by then): the audit triggers on every
        # registered event table, including domains added later (quotes)
        post_migrate.connect(audit.install_after_migrate, sender=self, dispatch_uid="lifecycle-audit")
