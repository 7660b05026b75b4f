"""Read-only admin for the purge audit: who purged what, when, and where it was archived."""

from __future__ import annotations

from django.contrib import admin

from oms.core.admin import ReadOnlyAdmin
from oms.lifecycle.models import PurgeRun


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "actor", "as_of", "started_at", "finished_at", "counts", "archive_path")
    list_filter = ("status",)
    search_fields = ("actor", "archive_path", "archive_sha256")
    ordering = ("-id",)
