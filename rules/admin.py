"""Admin for instruments, venues, controls, the kill switch's records and refusals (data rules:
rules.rule_admin): history from the event tables; superusers add and change instruments and venues
through `UpsertInstrumentCommand` / `UpsertVenueCommand` (the admin never saves a row itself).
Controls are read-only here: SAFE mode, arming and cancel-all go through their commands (API,
blotter), which check who may do what. Limits have their own module (rules.admin_limits),
registered from here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from oms.core.admin import EventAdmin, HistoryAdmin, admin_actor
from oms.core.dispatch import dispatch
from oms.core.errors import ValidationFailed
from oms.core.parsing import dec_str
from rules import (
    admin_limits,  # noqa: F401  (registers the limits' admin)
    rule_admin,  # noqa: F401  (data rules: their own module)
)
from rules.controls import ARMING_EVENTS, SAFE_MODE_EVENTS
from rules.instruments import UpsertInstrumentCommand
from rules.models import (
    CancelAll,
    CancelAllEvent,
    Control,
    ControlEvent,
    Instrument,
    InstrumentEvent,
    Refusal,
    RefusalEvent,
    Venue,
    VenueEvent,
)
from rules.venues import VENUE_EVENTS

EDITABLE = ("venue", "symbol", "kind", "tick_size", "lot_size", "min_qty", "multiplier", "enabled")
# UpsertInstrumentCommand's field names -> the form's (the command's validation shows on the form)
_FORM_NAMES = {"tickSize": "tick_size", "lotSize": "lot_size", "minQty": "min_qty"}


def _upsert_body(obj: Instrument, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The command of the admin's form: `values` (the cleaned form) over the instance's fields."""
    v = {name: getattr(obj, name) for name in EDITABLE} | (values or {})
    doc = (obj.doc if obj.pk else None) or {}
    return {
        "commandType": UpsertInstrumentCommand.command_type(),
        "venue": v["venue"],
        "symbol": v["symbol"],
        "kind": v["kind"],
        "baseCurrency": doc.get("baseCurrency"),
        "quoteCurrency": doc.get("quoteCurrency"),
        "tickSize": dec_str(v["tick_size"]),
        "lotSize": dec_str(v["lot_size"]),
        "minQty": dec_str(v["min_qty"]),
        "multiplier": dec_str(v["multiplier"]),
        "enabled": v["enabled"],
    }


class InstrumentForm(forms.ModelForm):  # type: ignore[type-arg]  # django-stubs: ModelForm[Instrument]
    class Meta:
        model = Instrument
        fields = EDITABLE

    def validate_unique(self) -> None:
        pass  # an upsert: the command decides whether (venue, symbol) is new

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            UpsertInstrumentCommand.parse(_upsert_body(self.instance, cleaned))
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                field = _FORM_NAMES.get(name, name)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(Instrument)
class InstrumentAdmin(HistoryAdmin):
    event_model = InstrumentEvent
    form = InstrumentForm
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
        body = _upsert_body(obj)
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


@admin.register(Control)
class ControlAdmin(HistoryAdmin):
    event_model = ControlEvent
    list_display = (
        "control_id",
        "kind",
        "scope",
        "key",
        "status",
        "active",
        "source",
        "version",
        "updated_at",
    )
    list_filter = ("kind", "active", "status", "scope", "source")
    search_fields = ("key__exact", "control_id__exact")
    exclude = ("doc",)
    readonly_fields = ("doc_json",)


@admin.register(ControlEvent)
class ControlEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_control_change"
    event_types = (*SAFE_MODE_EVENTS, *ARMING_EVENTS)


@admin.register(CancelAll)
class CancelAllAdmin(HistoryAdmin):
    event_model = CancelAllEvent
    list_display = ("cancel_all_id", "scope", "key", "created_at")
    list_filter = ("scope",)
    search_fields = ("key__exact", "cancel_all_id__exact")
    exclude = ("doc",)
    readonly_fields = ("doc_json",)


@admin.register(CancelAllEvent)
class CancelAllEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_cancelall_change"
    event_types = ("CancelAllExecuted",)
