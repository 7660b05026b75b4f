from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "oms.core"
    label = "core"
    verbose_name = "OMS core"
