"""Admin base classes: read-only views of state and events, role-based access, event history.

Domain state changes only through the command handlers (`oms.core.dispatch.dispatch`), so every
admin here is read-only for everyone, superusers included: no add, change or delete. Access
follows the API's roles (Django groups): staff with `viewer` or `desk` may view, `desk` may also
act on the review queue (`executions/admin.py`), superusers hold every role.

Each state admin shows the object's full history from its event table: a table on the change
page and, behind the "History" button, the same history with the commands and state diffs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from oms.core.access import can_command, can_read
from oms.core.models import EventRecord, EventSequence, IdempotencyRecord

admin.site.site_header = "OMS administration"
admin.site.site_title = "OMS admin"
admin.site.index_title = "Order management"
# the tables are wide (a FIX order has many columns): the app list stays on the index page
admin.site.enable_nav_sidebar = False

# how many events the change page shows inline; the History view shows them all
INLINE_EVENTS = 50
# state keys every event changes: left out of the diff
_NOISE = frozenset({"version", "updatedAt"})


def admin_actor(request: HttpRequest) -> str:
    """The actor recorded on events, the same string the API records for the user."""
    return request.user.get_username()


def admin_link(obj_or_id: Any, url_name: str, label: Any = None) -> SafeString | str:
    """A link to an object's admin page by id (no query), or the bare label when there is none."""
    if obj_or_id in (None, ""):
        return "-"
    object_id = getattr(obj_or_id, "pk", obj_or_id)
    try:
        url = reverse(url_name, args=[quote(object_id)])
    except NoReverseMatch:
        return str(label if label is not None else object_id)
    return format_html('<a href="{}">{}</a>', url, label if label is not None else object_id)


Column = Callable[[Any, models.Model], str]  # an admin column: (the ModelAdmin, the row) -> text


def decimal_display(field: str, label: str) -> Column:
    """An admin column/field showing a Decimal as the API does (`100`, not `100.0000000000`)."""

    @admin.display(description=label, ordering=field)
    def show(self: Any, obj: models.Model) -> str:
        value: Decimal | None = getattr(obj, field)
        return "-" if value is None else f"{value.normalize():f}"

    return show


def time_display(field: str, label: str) -> Column:
    """A UTC timestamp to the millisecond (the admin's default drops the seconds)."""

    @admin.display(description=label, ordering=field)
    def show(self: Any, obj: models.Model) -> str:
        value: dt.datetime | None = getattr(obj, field)
        return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    return show


def json_block(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, default=str),
    )


def compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def state_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for each top-level key the event changed; everything on the first event."""
    if before is None:
        return [(k, None, after[k]) for k in sorted(after) if after[k] not in (None, "", [], {})]
    keys = sorted(set(before) | set(after))
    return [
        (k, before.get(k), after.get(k)) for k in keys if k not in _NOISE and before.get(k) != after.get(k)
    ]


def _show(value: Any) -> str:
    return "∅" if value is None else value if isinstance(value, str) else compact_json(value)


def render_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> SafeString:
    changes = state_diff(before, after)
    if not changes:
        return mark_safe("<em>no state change</em>")
    if before is None:  # the creating event: every field it set, on a few lines
        return format_html_join(", ", "<b>{}</b>={}", ((k, _show(new)) for k, _, new in changes))
    return format_html_join(
        mark_safe("<br>"), "<b>{}</b>: {} → {}", ((k, _show(old), _show(new)) for k, old, new in changes)
    )


def event_rows(
    events: Sequence[Any], *, with_command: bool, before: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Events (in version order) as rows for the history table, each with its state diff.
    `before` is the state ahead of the first event when the list does not start at version 1."""
    rows = []
    for event in events:
        rows.append(
            {
                "event": event,
                "diff": render_diff(before, event.state or {}),
                "command": compact_json(event.command) if with_command else "",
            }
        )
        before = event.state or {}
    return rows


# --- filters that stay cheap on large tables -----------------------------------------------------

# Django's AllValuesFieldListFilter runs SELECT DISTINCT over the whole table on every page: a
# full scan of an event table. These offer the values seen in the newest rows (an index scan in
# the admin's ordering) and still filter on any value given in the URL.
RECENT_WINDOW = 2000


def recent_values_filter(field: str, title: str | None = None) -> type[admin.SimpleListFilter]:
    class RecentValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            ordering = model_admin.get_ordering(request) or ("-pk",)
            recent = model_admin.model._default_manager.order_by(*ordering).values_list(field, flat=True)
            values = {v for v in recent[:RECENT_WINDOW] if v not in (None, "")}
            current = self.value()
            if current:
                values.add(current)  # the chosen value stays visible even when it is old
            return [(str(v), str(v)) for v in sorted(values, key=str)]

        def queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    RecentValuesFilter.title = title or field.replace("_", " ")
    RecentValuesFilter.__name__ = f"Recent{field.title().replace('_', '')}Filter"
    return RecentValuesFilter


def choices_filter(
    field: str, values: Sequence[str], title: str | None = None
) -> type[admin.SimpleListFilter]:
    """A filter over a fixed list of values (an aggregate's event types): no query at all."""

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [(v, v) for v in values]

        def queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    ChoicesFilter.title = title or field.replace("_", " ")
    return ChoicesFilter


# --- counting --------------------------------------------------------------------------------------

# The changelist counts its rows for the pagination. On an event table that COUNT(*) is the
# slowest query of the page (0.16 s for 1M events; 0.7-0.9 s filtered on an unindexed column, see
# docs/design/admin.md). The count stops at COUNT_CAP ("more than ..."), and an unfiltered table
# on PostgreSQL answers the planner's estimate ("about ...") once it is that large.
COUNT_CAP = 10_000


class BoundedCountPaginator(Paginator[Any]):
    capped = False
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, models.QuerySet):
            return super().count
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                    [queryset.model._meta.db_table],
                )
                found = cursor.fetchone()
            if found and found[0] > COUNT_CAP:
                self.estimated = True
                return int(found[0])
        counted = queryset.order_by()[: COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.capped = True
            return COUNT_CAP
        return counted


# --- access ---------------------------------------------------------------------------------------


class RoleAccessMixin:
    """View for staff holding an OMS role (viewer or desk); add/change/delete for nobody."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and can_read(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_desk_permission(self, request: HttpRequest) -> bool:
        """Acting through the command handlers (the review queue): the desk role."""
        return self.has_module_permission(request) and can_command(request.user)


class ReadOnlyAdmin(RoleAccessMixin, admin.ModelAdmin[Any]):
    # COUNT(*) over a large table on every page is the slowest part of a changelist
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 50

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        declared = list(super().get_readonly_fields(request, obj))
        hidden = set(self.exclude or ())
        model_fields = [f.name for f in self.model._meta.fields if f.name not in hidden]
        return declared + [f for f in model_fields if f not in declared]


# --- events ---------------------------------------------------------------------------------------


class EventAdmin(ReadOnlyAdmin):
    """An aggregate's event table. `aggregate_url_name` names the state row's admin change page,
    `event_types` the aggregate's event types (the type filter's choices)."""

    aggregate_url_name = ""
    event_types: Sequence[str] = ()
    list_display = (
        "seq",
        "aggregate",
        "version",
        "type",
        "actor",
        "correlation_id",
        "occurred_at",
        "recorded_at",
    )
    # no date_hierarchy: its year/month query aggregates the whole event table
    list_filter = (("recorded_at", admin.DateFieldListFilter), recent_values_filter("actor"))
    # indexed columns only (aggregate_id leads the (aggregate_id, version) key, seq is unique);
    # ?correlation_id=<id> lists the events of one command (the history pages link it)
    search_fields = ("aggregate_id__exact", "seq__exact")
    search_help_text = "Aggregate id or seq (exact)."
    ordering = ("-seq",)
    fields = (
        "seq",
        "aggregate",
        "version",
        "type",
        "actor",
        "correlation_id",
        "occurred_at",
        "recorded_at",
        "data_json",
        "command_json",
        "state_json",
    )
    readonly_fields = ("aggregate", "data_json", "command_json", "state_json")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.fields

    def get_list_filter(self, request: HttpRequest) -> tuple[Any, ...]:
        return (choices_filter("type", self.event_types), *super().get_list_filter(request))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        return lookup in ("correlation_id", "aggregate_id") or super().lookup_allowed(lookup, value, request)

    @admin.display(description="aggregate", ordering="aggregate_id")
    def aggregate(self, obj: EventRecord) -> SafeString | str:
        return admin_link(obj.aggregate_id, self.aggregate_url_name)

    @admin.display(description="data")
    def data_json(self, obj: EventRecord) -> SafeString:
        return json_block(obj.data)

    @admin.display(description="command")
    def command_json(self, obj: EventRecord) -> SafeString:
        return json_block(obj.command)

    @admin.display(description="state after the event")
    def state_json(self, obj: EventRecord) -> SafeString:
        return json_block(obj.state)


class HistoryAdmin(ReadOnlyAdmin):
    """A state table's admin: the change page lists the events, History shows them in full."""

    change_form_template = "admin/oms/change_form.html"
    event_model: type[EventRecord]

    def _event_links(self) -> dict[str, Any]:
        """The event model's admin URLs (named after it, as the admin names every model's)."""
        meta = self.event_model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        return {
            "event_url_name": f"{prefix}_change",
            "event_changelist_url": reverse(f"{prefix}_changelist"),
        }

    def missing_object(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The admin's own answer to an unknown id: back to the list, with a message."""
        # a private ModelAdmin method (Django 5.2) that django-stubs does not declare
        answer: HttpResponse = self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]  # a private ModelAdmin helper django-stubs does not declare
        return answer

    def events_for(self, obj: models.Model) -> list[EventRecord]:
        return list(self.event_model._default_manager.filter(aggregate_id=obj.pk).order_by("version"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The change page ends with the newest events, full width (admin/oms/change_form.html)."""
        pk = unquote(object_id)
        newest = list(
            self.event_model._default_manager.filter(aggregate_id=pk).order_by("-version")[
                : INLINE_EVENTS + 1
            ]
        )[::-1]
        # one more than shown: the state before the first shown event, for its diff
        baseline = newest.pop(0).state if len(newest) > INLINE_EVENTS else None
        context = {
            "history_rows": event_rows(newest, with_command=False, before=baseline),
            "history_total": newest[-1].version if newest else 0,
            **self._event_links(),
            "history_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_history", args=[quote(pk)]
            ),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="state document")
    def doc_json(self, obj: Any) -> SafeString:
        return json_block(obj.doc)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        """The event-sourced history replaces Django's LogEntry history (the admin writes none)."""
        obj = self.get_object(request, object_id)
        if obj is None:
            return self.missing_object(request, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"History of {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "rows": event_rows(self.events_for(obj), with_command=True),
            **self._event_links(),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/oms/event_history.html", context)


# --- core tables ----------------------------------------------------------------------------------


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "key", "status_code", "request_hash")
    list_filter = ("status_code", recent_values_filter("actor"), ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor__exact", "key__startswith")
    ordering = ("-created_at", "-id")
    readonly_fields = ("response_json",)
    exclude = ("response",)

    @admin.display(description="response")
    def response_json(self, obj: IdempotencyRecord) -> SafeString:
        return json_block(obj.response)


@admin.register(EventSequence)
class EventSequenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "last_seq")
