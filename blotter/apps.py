from __future__ import annotations

from django.apps import AppConfig


class BlotterConfig(AppConfig):
    name = "blotter"
    verbose_name = "Blotter"
