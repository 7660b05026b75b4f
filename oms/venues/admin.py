"""The desk's view of venue I/O: sends and their claims, and the dead letters (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from oms.venues.models import VenueDeadLetter, VenueSend


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]  # a base for several models' admins: no single model to parametrize with
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VenueSend)
class VenueSendAdmin(_ReadOnly):
    list_display = ("cl_ord_id", "venue", "action", "order_id", "status", "outcome", "attempts", "updated_at")
    list_filter = ("venue", "action", "status")
    search_fields = ("cl_ord_id", "order_id", "venue_order_id")


@admin.register(VenueDeadLetter)
class VenueDeadLetterAdmin(_ReadOnly):
    list_display = ("created_at", "venue", "task", "order_id", "cl_ord_id", "reason", "resolved")
    list_filter = ("venue", "reason", "resolved")
    search_fields = ("order_id", "cl_ord_id")
