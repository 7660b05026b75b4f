"""Limits in the admin: a readable form per field that goes through `SetLimitsCommand` (the one
write path; the admin never saves a row), the event history, and for every field where the value
an order of this scope gets comes from (the most specific scope that sets it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from oms.core.admin import EventAdmin, HistoryAdmin, admin_actor
from oms.core.dispatch import dispatch
from oms.core.errors import ValidationFailed
from oms.core.parsing import dec_str
from rules.limits import ANY, LIMIT_FIELDS, SetLimitsCommand, resolve, scopes_of
from rules.models import Limit, LimitEvent
from rules.reference import current

HELP = {
    "maxOrderQty": "Largest orderQty of one order (max_order_qty).",
    "maxOrderNotional": "Largest qty x price x multiplier of one order (max_order_notional).",
    "priceCollarPct": "A limit buy above reference x (1 + pct/100), a sell below reference x (1 - pct/100) "
    "is refused (price_collar); with it set, no reference price refuses (no_reference_price).",
    "allowMarketOrders": "No: Market and Stop orders are refused (market_orders_disabled).",
    "maxOpenNotional": "Open orders plus position, worst case (max_open_notional).",
    "maxOrdersPerSecond": "New orders per second per account and symbol (throttled). Cancels always pass.",
    "maxCancelReplacePerMinute": "Replaces per minute per order and per account and symbol; cancels count "
    "but are never refused (spam_suppressed).",
}
_TRI_STATE = [("", "not set here"), ("true", "Yes"), ("false", "No")]


def _field(api: str) -> forms.Field:
    if api == "allowMarketOrders":
        return forms.TypedChoiceField(
            choices=_TRI_STATE,
            required=False,
            coerce=lambda v: v == "true",
            empty_value=None,
            label=api,
            help_text=HELP[api],
        )
    if api in ("maxOrdersPerSecond", "maxCancelReplacePerMinute"):
        return forms.IntegerField(required=False, min_value=1, label=api, help_text=HELP[api])
    return forms.DecimalField(required=False, min_value=Decimal(0), label=api, help_text=HELP[api])


class LimitForm(forms.ModelForm):  # type: ignore[type-arg]  # django-stubs: ModelForm[Limit]
    """Blank = not set at this scope (the next less specific scope's value applies)."""

    maxOrderQty = _field("maxOrderQty")
    maxOrderNotional = _field("maxOrderNotional")
    priceCollarPct = _field("priceCollarPct")
    allowMarketOrders = _field("allowMarketOrders")
    maxOpenNotional = _field("maxOpenNotional")
    maxOrdersPerSecond = _field("maxOrdersPerSecond")
    maxCancelReplacePerMinute = _field("maxCancelReplacePerMinute")

    class Meta:
        model = Limit
        fields = ("account", "symbol")
        help_texts = {"account": 'An account, or "*" for every account.', "symbol": 'A symbol, or "*".'}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        doc = self.instance.doc if self.instance.pk else {}
        for api in LIMIT_FIELDS:
            value = doc.get(api)
            if api == "allowMarketOrders" and value is not None:
                value = "true" if value else "false"
            self.initial[api] = value
        for scope in ("account", "symbol"):  # on a change page the scope is read-only, not a field
            if scope in self.fields and not self.instance.pk:
                self.fields[scope].initial = ANY

    def command(self) -> dict[str, Any]:
        data = self.cleaned_data
        body: dict[str, Any] = {
            "commandType": SetLimitsCommand.command_type(),
            "account": data.get("account", self.instance.account),
            "symbol": data.get("symbol", self.instance.symbol),
        }
        for api in LIMIT_FIELDS:
            value = data.get(api)
            body[api] = dec_str(value) if isinstance(value, Decimal) else value  # None clears
        return body

    def validate_unique(self) -> None:
        pass  # SetLimitsCommand on an existing scope changes it (the form of a new scope included)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            try:  # the command's own validation, so the form shows exactly what the API would answer
                SetLimitsCommand.parse(self.command())
            except ValidationFailed as exc:
                for name, messages in exc.fields.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(Limit)
class LimitAdmin(HistoryAdmin):
    form = LimitForm
    event_model = LimitEvent
    list_display = ("limit_id", "account", "symbol", "limits_set", "version", "updated_at")
    list_filter = ("account", "symbol")
    search_fields = ("account__exact", "symbol__exact", "limit_id__exact")
    readonly_fields = ("limit_id", "version", "updated_at", "effective", "doc_json")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = ("account", "symbol", *LIMIT_FIELDS)
        return (*fields, "effective", "limit_id", "version", "updated_at", "doc_json") if obj else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        if self.has_change_permission(request, obj):
            # the scope (account, symbol) names the limit row: fixed once created
            return (*self.readonly_fields, *(("account", "symbol") if obj is not None else ()))
        return (*self.readonly_fields, "account", "symbol", *LIMIT_FIELDS)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.display(description="limits set here")
    def limits_set(self, obj: Limit) -> str:
        shown = [f"{api}={_shown(obj.doc[api])}" for api in LIMIT_FIELDS if obj.doc.get(api) is not None]
        return ", ".join(shown) or "-"

    @admin.display(description="what an order of this scope gets")
    def effective(self, obj: Limit) -> SafeString:
        """Per field: the value an order of (account, symbol) gets and the scope it comes from,
        the most specific first: account+symbol, account, symbol, "*"."""
        rows = current().limits
        got = resolve(rows, obj.account, obj.symbol)
        order = " > ".join(f"{a}/{s}" for a, s in dict.fromkeys(scopes_of(obj.account, obj.symbol)))
        lines = []
        for api in LIMIT_FIELDS:
            eff = got.get(api)
            if eff is None:
                lines.append((api, "not set at any scope: no limit", ""))
                continue
            where = (
                "set here"
                if (eff.account, eff.symbol) == (obj.account, obj.symbol)
                else (f"from {eff.account}/{eff.symbol}")
            )
            lines.append((api, _shown(eff.value), where))
        rows_html = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((a, v, w) for a, v, w in lines)
        )
        return format_html(
            "<p>Most specific first: {}</p><table><tr><th>field</th><th>value</th><th>scope</th></tr>{}</table>",
            order,
            rows_html,
        )

    def save_model(self, request: HttpRequest, obj: Limit, form: Any, change: bool) -> None:
        result = dispatch("limits", form.command(), actor=admin_actor(request))
        obj.pk = result.body["limit"]["limitId"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no relations; the command wrote everything

    def log_addition(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # the event table is the history
        pass

    def log_change(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # likewise
        pass


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return dec_str(value) if isinstance(value, Decimal) else str(value)


@admin.register(LimitEvent)
class LimitEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_limit_change"
    event_types = ("LimitsSet", "LimitsChanged")
