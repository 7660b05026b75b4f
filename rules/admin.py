"""Admin for instruments, venues and refusals: history from the event tables; superusers add and
change instruments and venues through `UpsertInstrumentCommand` / `UpsertVenueCommand` (the admin
never saves a row itself)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from oms.core.admin import EventAdmin, HistoryAdmin, admin_actor
from oms.core.dispatch import dispatch
from oms.core.parsing import dec_str
from rules.models import Instrument, InstrumentEvent, Refusal, RefusalEvent, Venue, VenueEvent
from rules.venues import VENUE_EVENTS

EDITABLE = ("venue", "symbol", "kind", "tick_size", "lot_size", "min_qty", "multiplier", "enabled")


@admin.register(Instrument)
class InstrumentAdmin(HistoryAdmin):
    event_model = InstrumentEvent
    list_display = (
        "instrument_id",
        "venue",
        "symbol",
        "kind",
        "tick_size",
        "lot_size",
        "min_qty",
        "multiplier",
        "enabled",
        "version",
        "updated_at",
    )
    list_filter = ("venue", "kind", "enabled")
    search_fields = ("symbol__exact", "instrument_id__exact")
    fields = (*EDITABLE, "instrument_id", "version", "updated_at", "doc_json")
    readonly_fields = ("instrument_id", "version", "updated_at", "doc_json")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        if self.has_change_permission(request, obj):
            # the natural key (venue, symbol) names the instrument: fixed once created
            return (*self.readonly_fields, *(("venue", "symbol") if obj is not None else ()))
        return super().get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Instrument, form: Any, change: bool) -> None:
        doc = obj.doc if change else {}
        body = {
            "commandType": "UpsertInstrumentCommand",
            "venue": obj.venue,
            "symbol": obj.symbol,
            "kind": obj.kind,
            "baseCurrency": doc.get("baseCurrency"),
            "quoteCurrency": doc.get("quoteCurrency"),
            "tickSize": dec_str(obj.tick_size),
            "lotSize": dec_str(obj.lot_size),
            "minQty": dec_str(obj.min_qty),
            "multiplier": dec_str(obj.multiplier),
            "enabled": obj.enabled,
        }
        result = dispatch("instruments", body, actor=admin_actor(request))
        obj.pk = result.body["instrument"]["instrumentId"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no relations; the command wrote everything

    def log_addition(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # writes no LogEntry: the event table is the history (HistoryAdmin)
        pass

    def log_change(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # likewise
        pass


@admin.register(InstrumentEvent)
class InstrumentEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_instrument_change"
    event_types = ("InstrumentCreated", "InstrumentUpdated")


@admin.register(Refusal)
class RefusalAdmin(HistoryAdmin):
    event_model = RefusalEvent
    list_display = ("refusal_id", "rule", "symbol", "account", "venue", "created_at")
    list_filter = ("rule",)
    search_fields = ("refusal_id__exact",)
    exclude = ("doc",)
    readonly_fields = ("doc_json",)


@admin.register(RefusalEvent)
class RefusalEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_refusal_change"
    event_types = ("OrderRefused",)


@admin.register(Venue)
class VenueAdmin(HistoryAdmin):
    event_model = VenueEvent
    list_display = (
        "venue",
        "adapter",
        "mode",
        "armed",
        "feed",
        "last_message_at",
        "last_seq",
        "version",
        "updated_at",
    )
    list_filter = ("mode", "armed", "feed", "adapter")
    search_fields = ("venue__exact", "venue_id__exact")
    # armed and feed change only by their commands (arming needs two users; the feed is the worker's)
    fields = (
        "venue",
        "adapter",
        "mode",
        "venue_id",
        "armed",
        "feed",
        "last_message_at",
        "last_seq",
        "version",
        "doc_json",
    )
    readonly_fields = ("venue_id", "armed", "feed", "last_message_at", "last_seq", "version", "doc_json")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        if self.has_change_permission(request, obj):
            return (*self.readonly_fields, *(("venue",) if obj is not None else ()))
        return super().get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Venue, form: Any, change: bool) -> None:
        body = {
            "commandType": "UpsertVenueCommand",
            "venue": obj.venue,
            "adapter": obj.adapter,
            "mode": obj.mode,
        }
        result = dispatch("venues", body, actor=admin_actor(request))
        obj.pk = result.body["venue"]["venueId"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass

    def log_addition(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # the event table is the history
        pass

    def log_change(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # likewise
        pass


@admin.register(VenueEvent)
class VenueEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_venue_change"
    event_types = ("VenueRegistered", *VENUE_EVENTS)
