"""Executions in the admin: the failed-execution review queue, and read-only events.

The changelist opens on `PendingReview` (the desk's queue), each row saying plainly why it is
held and linking the order it targeted. The desk corrects, allocates or rejects held executions
with admin actions (several at once) or the buttons on an execution's page; both send the
execution commands through `dispatch` with the admin as actor (`admin_forms.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from executions.admin_forms import (
    REVIEW_FORMS,
    ReviewForm,
    ReviewOutcome,
    describe_error,
    new_token,
    send_review,
)
from executions.enums import REVIEW_REASON_TEXT, ExecStatus, ReviewReason
from executions.models import Execution, ExecutionEvent
from executions.state import EVENT_TYPES
from oms.core.admin import (
    EventAdmin,
    HistoryAdmin,
    admin_actor,
    admin_link,
    decimal_display,
    recent_values_filter,
    time_display,
)
from oms.orders.models import Order

ORDER_CHANGE = "admin:orders_order_change"
EXECUTION_CHANGE = "admin:executions_execution_change"

# which review commands an execution's status allows (executions/fsm.py)
ALLOWED: dict[str, frozenset[str]] = {
    "correct": frozenset(
        {ExecStatus.PENDING_REVIEW.value, ExecStatus.ALLOCATED.value, ExecStatus.APPLIED.value}
    ),
    "allocate": frozenset({ExecStatus.PENDING_REVIEW.value}),
    "reject": frozenset({ExecStatus.PENDING_REVIEW.value}),
}


class _OrderColumns(TypedDict):
    """The targeted order's columns that the changelist's query adds (None: unknown order)."""

    order_cl_ord_id: str | None
    order_symbol_: str | None
    order_side_: str | None
    order_root_id_: str | None


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    # an execution as the changelist loads it (the alias takes two arguments for mypy only)
    Row = WithAnnotations[Execution, _OrderColumns]

VERB_LABEL = {"correct": "Correct qty/price", "allocate": "Allocate", "reject": "Reject"}


class ReviewStatusFilter(admin.SimpleListFilter):
    """Status, `PendingReview` unless another (or All) is chosen: the changelist is the queue."""

    title = "status"
    parameter_name = "status"
    ALL = "all"
    DEFAULT = ExecStatus.PENDING_REVIEW.value

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return (
            [(self.DEFAULT, "Pending review")]
            + [(s.value, s.value) for s in ExecStatus if s.value != self.DEFAULT]
            + [(self.ALL, "All")]
        )

    def value(self) -> str:
        return super().value() or self.DEFAULT

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Execution]) -> QuerySet[Execution]:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value not in {s.value for s in ExecStatus}:
            raise IncorrectLookupParameters(f"unknown status {value!r}")  # the changelist answers ?e=1
        return queryset.filter(status=value)


class ReviewReasonFilter(admin.SimpleListFilter):
    title = "review reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(r.value, r.value) for r in ReviewReason]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Execution]) -> QuerySet[Execution]:
        value = self.value()
        if not value:
            return queryset
        if value not in {r.value for r in ReviewReason}:
            raise IncorrectLookupParameters(f"unknown review reason {value!r}")
        # the reasons are a JSON list of codes in the state document: match the quoted code in its
        # text (works on SQLite and PostgreSQL alike; the queue is small)
        return queryset.filter(doc__reviewReasons__icontains=f'"{value}"')


def reasons_html(codes: list[str], details: dict[str, list[str]] | None = None) -> SafeString:
    if not codes:
        return mark_safe("-")
    details = details or {}
    return format_html_join(
        mark_safe("<br>"),
        "{} <code>{}</code>{}",
        (
            (
                REVIEW_REASON_TEXT.get(code, code),
                code,
                format_html(" <small>({})</small>", " ".join(details[code])) if details.get(code) else "",
            )
            for code in codes
        ),
    )


@admin.register(Execution)
class ExecutionAdmin(HistoryAdmin):
    event_model = ExecutionEvent

    list_display = (
        "time",
        "exec_id",
        "venue",
        "last_qty_",
        "last_px_",
        "order",
        "status",
        "reasons",
        "client_order",
    )
    list_display_links = ("exec_id",)
    list_filter = (
        ReviewStatusFilter,
        recent_values_filter("venue"),
        ReviewReasonFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    # exact, case-sensitive: the id indexes serve them (exec_id alone has none: a scan of executions)
    search_fields = ("exec_id__exact", "execution_id__exact", "order_id__exact", "client_order_id__exact")
    search_help_text = "execID, execution id, order id or client order id (exact)."
    ordering = ("-created_at", "-execution_id")
    actions = ("correct", "allocate", "reject")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("execution_id", "exec_id", "venue"),
                    ("status", "version"),
                    ("last_qty_", "last_px_"),
                    ("transact", "time", "updated"),
                    "order_summary",
                    "client_order",
                    "review",
                    "text",
                )
            },
        ),
        ("State document", {"fields": ("doc_json",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "last_qty_",
        "last_px_",
        "transact",
        "time",
        "updated",
        "order_summary",
        "client_order",
        "review",
        "text",
        "doc_json",
    )

    last_qty_ = decimal_display("last_qty", "lastQty")
    last_px_ = decimal_display("last_px", "lastPx")
    time = time_display("created_at", "received (UTC)")
    transact = time_display("transact_time", "transactTime (UTC)")
    updated = time_display("updated_at", "updated (UTC)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Row]:
        # the targeted order's columns in the same query (no foreign key to select_related)
        order = Order.objects.filter(pk=OuterRef("order_id"))
        executions: QuerySet[Execution] = super().get_queryset(request)
        return executions.annotate(
            order_cl_ord_id=Subquery(order.values("cl_ord_id")[:1]),
            order_symbol_=Subquery(order.values("symbol")[:1]),
            order_side_=Subquery(order.values("side")[:1]),
            order_root_id_=Subquery(order.values("root_id")[:1]),
        )

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description="order: clOrdID, side, symbol", ordering="order_cl_ord_id")
    def order(self, obj: Row) -> SafeString:
        if obj.order_cl_ord_id is None:
            return format_html("<em>unknown order</em> {}", obj.order_id)
        return format_html(
            "{} {} {}",
            admin_link(obj.order_id, ORDER_CHANGE, obj.order_cl_ord_id),
            obj.order_side_,
            obj.order_symbol_,
        )

    @admin.display(description="client order")
    def client_order(self, obj: Row) -> SafeString | str:
        # allocated: the client order it was allocated to; held: the root of the order it targets
        return admin_link(obj.client_order_id or obj.order_root_id_, ORDER_CHANGE)

    @admin.display(description="reasons")
    def reasons(self, obj: Execution) -> SafeString:
        if obj.doc.get("overriddenReasons"):
            return format_html("overridden: {}", ", ".join(obj.doc["overriddenReasons"]))
        return reasons_html(obj.doc.get("reviewReasons") or [])

    @admin.display(description="order")
    def order_summary(self, obj: Row) -> SafeString:
        if obj.order_cl_ord_id is None:
            return format_html("<em>unknown order</em> {}", obj.order_id)
        return format_html(
            "{} · {} {} · {}",
            admin_link(obj.order_id, ORDER_CHANGE),
            obj.order_side_,
            obj.order_symbol_,
            obj.order_cl_ord_id,
        )

    @admin.display(description="review")
    def review(self, obj: Execution) -> SafeString:
        held = reasons_html(obj.doc.get("reviewReasons") or [], obj.doc.get("reviewDetails"))
        overridden = obj.doc.get("overriddenReasons") or []
        if overridden:
            return format_html("{}<br>overridden by the desk: {}", held, ", ".join(overridden))
        return held

    @admin.display(description="text")
    def text(self, obj: Execution) -> str:
        return obj.doc.get("text") or "-"

    # --- the review commands ----------------------------------------------------------------------

    @admin.action(description="Correct qty/price of the selected executions…", permissions=["desk"])
    def correct(self, request: HttpRequest, queryset: QuerySet[Execution]) -> HttpResponse | None:
        return self._review_action(request, queryset, "correct")

    @admin.action(description="Allocate the selected executions…", permissions=["desk"])
    def allocate(self, request: HttpRequest, queryset: QuerySet[Execution]) -> HttpResponse | None:
        return self._review_action(request, queryset, "allocate")

    @admin.action(description="Reject the selected executions…", permissions=["desk"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Execution]) -> HttpResponse | None:
        return self._review_action(request, queryset, "reject")

    def _review_action(
        self, request: HttpRequest, queryset: QuerySet[Execution], verb: str
    ) -> HttpResponse | None:
        # The form page posts the ids it showed: a resubmission still finds executions that the
        # first submission moved out of the filtered queue, and replays their first answers.
        if "apply" in request.POST:
            ids = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        else:
            ids = list(queryset.values_list("pk", flat=True))
        executions = list(
            self.get_queryset(request).filter(pk__in=ids).order_by("created_at", "execution_id")
        )
        form_class = REVIEW_FORMS[verb]
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for execution in executions:
                    self._report(
                        request, send_review(form, execution.pk, actor=admin_actor(request)), execution, verb
                    )
                return None  # back to the changelist, its filters kept
        else:
            form = form_class(initial=_initial(executions))
        return self._render_form(request, form, executions, verb, bulk=True)

    def review_view(self, request: HttpRequest, object_id: str, verb: str) -> HttpResponse:
        """The buttons on an execution's page: one command, its refusal shown on the form."""
        form_class = REVIEW_FORMS.get(verb)
        if form_class is None:
            raise Http404(f"no review command {verb!r}")
        if not self.has_desk_permission(request):
            raise PermissionDenied
        execution = self.get_object(request, object_id)
        if execution is None:
            return self.missing_object(request, object_id)
        change_url = reverse(EXECUTION_CHANGE, args=[quote(execution.pk)])
        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                outcome = send_review(form, execution.pk, actor=admin_actor(request))
                self._report(request, outcome, execution, verb)
                if outcome.ok:
                    return HttpResponseRedirect(change_url)
                # shown again with the refusal on its fields, as a new form (new token) on the
                # state as it is now
                execution = self.get_object(request, object_id) or execution
                data = request.POST.copy()
                for key, value in _initial([execution]).items():
                    data[key] = value  # replaces (QueryDict.update would append)
                form = form_class(data)
                form.is_valid()
                form.add_dispatch_errors(outcome.error)
        else:
            form = form_class(initial=_initial([execution]))
        return self._render_form(request, form, [execution], verb, bulk=False)

    def _render_form(
        self, request: HttpRequest, form: ReviewForm, executions: Sequence[Row], verb: str, *, bulk: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"{VERB_LABEL[verb]}: {len(executions)} execution(s)",
            "opts": self.opts,
            "form": form,
            "verb": verb,
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "rows": [
                {
                    "execution": e,
                    "order": self.order(e),
                    "reasons": reasons_html(e.doc.get("reviewReasons") or []),
                    "allowed": e.status in ALLOWED[verb],
                }
                for e in executions
            ],
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/executions/execution/review_form.html", context)

    def _report(self, request: HttpRequest, outcome: ReviewOutcome, execution: Execution, verb: str) -> None:
        label = f"{execution.exec_id} ({execution.pk})"
        if not outcome.ok:
            messages.error(request, f"{label}: {describe_error(outcome.error)}")
        elif outcome.replayed:
            messages.info(
                request, f"{label}: already done by an earlier submission of this form; nothing new recorded."
            )
        else:
            state = outcome.body["execution"]
            messages.success(
                request,
                f"{label}: {verb} done — {state['status']}, {state['lastQty']} @ {state['lastPx']}, "
                f"order {state['orderId']}, version {state['version']}.",
            )

    # --- the change page's buttons ----------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        review = path(
            "<path:object_id>/review/<str:verb>/",
            self.admin_site.admin_view(self.review_view),
            name="executions_execution_review",
        )
        return [review, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        buttons: list[tuple[str, str]] = []
        if self.has_desk_permission(request):
            status = Execution.objects.filter(pk=unquote(object_id)).values_list("status", flat=True).first()
            buttons = [
                (VERB_LABEL[verb], reverse("admin:executions_execution_review", args=[object_id, verb]))
                for verb, statuses in ALLOWED.items()
                if status in statuses
            ]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "review_buttons": buttons}
        )


def _initial(executions: Sequence[Execution]) -> dict[str, str]:
    return {"token": new_token(), "versions": ",".join(f"{e.pk}:{e.version}" for e in executions) or "-:0"}


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(EventAdmin):
    aggregate_url_name = EXECUTION_CHANGE
    event_types = EVENT_TYPES
