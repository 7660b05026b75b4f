"""Read-only admin of positions: the state, its live fills and its history (the event table)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString

from oms.core.admin import EventAdmin, HistoryAdmin, json_block
from oms.positions.models import Position, PositionEvent


@admin.register(Position)
class PositionAdmin(HistoryAdmin):
    event_model = PositionEvent
    list_display = ("position_id", "account", "venue", "symbol", "qty", "dirty", "version", "updated_at")
    list_filter = ("dirty",)
    search_fields = ("account__exact", "symbol__exact", "position_id__exact")
    search_help_text = "Account, symbol or position id (exact)."
    ordering = ("account", "symbol", "venue")
    exclude = ("doc", "fills")
    readonly_fields = ("doc_json", "fills_json")

    @admin.display(description="live fills (executionId, signed qty, px, multiplier)")
    def fills_json(self, obj: Position) -> SafeString:
        return json_block(obj.fills)


@admin.register(PositionEvent)
class PositionEventAdmin(EventAdmin):
    aggregate_url_name = "admin:positions_position_change"
    event_types = (
        "PositionOpened",
        "PositionOpenOrdersChanged",
        "PositionFilled",
        "PositionFillCorrected",
        "PositionFillBusted",
        "PositionMarkedDirty",
        "PositionDirtyCleared",
    )
