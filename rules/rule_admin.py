"""Admin for data rules: a readable editor that writes through the command bus.

The form edits a rule as people read it (name, priority, enabled, Desk or Refuse with its reason,
and the condition as JSON), shows the condition as a tree, and validates everything the way the
API does (the command's own parser, so a malformed condition names its path). Saving sends
CreateRuleCommand or UpdateRuleCommand with the admin as actor; enable and disable are list
actions sending their commands. History comes from the event table (HistoryAdmin).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from oms.core.admin import EventAdmin, HistoryAdmin, admin_actor
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError, ValidationFailed
from rules.conditions import AllOf, AnyOf, Condition, ConditionError, Not, describe, parse
from rules.models import Rule, RuleEvent
from rules.rulebook import DEFAULT_PRIORITY, EVENT_TYPES, TOPIC, CreateRuleCommand, UpdateRuleCommand

DESK, REFUSE = "desk", "refuse"
EXAMPLE = {
    "all": [
        {"field": "venue", "op": "==", "value": "SIM"},
        {"field": "notional", "op": ">", "value": "1000000"},
    ]
}


def condition_tree(c: Condition) -> SafeString:
    """The condition as nested lists: "all of" / "any of" / "not", each comparison on a line."""
    if isinstance(c, AllOf | AnyOf):
        label = "all of" if isinstance(c, AllOf) else "any of"
        items = format_html_join("", "<li>{}</li>", ((condition_tree(i),) for i in c.items))
        return format_html("<strong>{}</strong><ul>{}</ul>", label, items)
    if isinstance(c, Not):
        return format_html("<strong>not</strong><ul><li>{}</li></ul>", condition_tree(c.item))
    return format_html("<code>{}</code>", describe(c))


class RuleForm(forms.ModelForm[Rule]):
    outcome = forms.ChoiceField(
        choices=[(DESK, "Send to the desk"), (REFUSE, "Refuse the order (422 rule_refused)")],
        initial=DESK,
    )
    reason = forms.CharField(max_length=1000, help_text="What the desk (or the refused client) reads.")
    when = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90, "style": "font-family: monospace"}),
        help_text=(
            'JSON: {"all": [...]}, {"any": [...]}, {"not": ...} or {"field", "op", "value"}. Fields: '
            "symbol side account venue ordType timeInForce orderQty price handling notional "
            'timeOfDay ("HH:MM" UTC); ops: == != < <= > >= in not_in; null is "none".'
        ),
    )

    class Meta:
        model = Rule
        fields = ("name", "priority", "enabled")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        doc = self.instance.doc if self.instance.pk else None
        if doc:
            action = doc.get("action") or {}
            self.initial.update(
                outcome=REFUSE if action.get("refuse") else DESK,
                reason=action.get("reason", ""),
                when=json.dumps(doc.get("when"), indent=2),
            )
        else:
            self.initial.setdefault("priority", DEFAULT_PRIORITY)
            self.initial.setdefault("enabled", True)
            self.initial.setdefault("when", json.dumps(EXAMPLE, indent=2))

    def clean_when(self) -> Any:
        try:
            raw = json.loads(self.cleaned_data["when"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        try:
            parse(raw)
        except ConditionError as exc:
            raise forms.ValidationError(
                [f"{path}: {' '.join(m)}" for path, m in exc.errors.items()]
            ) from None
        return raw

    def command(self) -> dict[str, Any]:
        data = self.cleaned_data
        action: dict[str, Any] = (
            {"refuse": True, "reason": data["reason"]}
            if data["outcome"] == REFUSE
            else {"handling": "Desk", "reason": data["reason"]}
        )
        body: dict[str, Any] = {
            "name": data["name"],
            "priority": data["priority"],
            "enabled": data["enabled"],
            "when": data["when"],
            "action": action,
        }
        if self.instance.pk:
            return {
                "commandType": "UpdateRuleCommand",
                "ruleId": self.instance.pk,
                "expectedVersion": self.instance.version,
                **body,
            }
        return {"commandType": "CreateRuleCommand", **body}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        taken = Rule.objects.filter(name=cleaned.get("name")).exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error("name", "Another rule has this name.")
            return cleaned
        body = self.command()
        command = UpdateRuleCommand if self.instance.pk else CreateRuleCommand
        try:
            command.parse(body)  # the API's own checks, so the admin refuses exactly what it would
        except ValidationFailed as exc:
            for field, problems in exc.fields.items():
                target = field.split(".")[0].split("[")[0]
                name = target if target in self.fields else None
                self.add_error(name, [f"{field}: {p}" for p in problems])
        return cleaned

    def validate_unique(self) -> None:
        """The handler answers a taken name (duplicate_rule_name) in save_model's message."""


@admin.register(Rule)
class RuleAdmin(HistoryAdmin):
    event_model = RuleEvent
    form = RuleForm
    list_display = ("name", "priority", "enabled", "outcome_text", "condition_text", "version", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name__exact", "rule_id__exact")
    ordering = ("priority", "name")
    actions = ("enable_rules", "disable_rules")
    readonly_fields = ("rule_id", "version", "updated_at", "condition", "doc_json")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ("name", "priority", "enabled", "outcome", "reason", "when")
        if self.has_change_permission(request, obj):
            return (*editable, *(self.readonly_fields if obj is not None else ()))
        return ("name", "priority", "enabled", *self.readonly_fields)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        if self.has_change_permission(request, obj):
            return self.readonly_fields
        return super().get_readonly_fields(request, obj)

    @admin.display(description="outcome")
    def outcome_text(self, obj: Rule) -> str:
        action = obj.doc.get("action") or {}
        return ("Refuse: " if action.get("refuse") else "Desk: ") + str(action.get("reason", ""))

    @admin.display(description="when")
    def condition_text(self, obj: Rule) -> str:
        try:
            return describe(parse(obj.doc.get("when")))
        except ConditionError:
            return "(invalid)"

    @admin.display(description="condition, as a tree")
    def condition(self, obj: Rule) -> SafeString | str:
        try:
            return condition_tree(parse(obj.doc.get("when")))
        except ConditionError:
            return "(invalid)"

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        try:
            result = dispatch(TOPIC, form.command(), actor=admin_actor(request))
        except ApplicationError as exc:  # a race the form could not see (a name taken meanwhile)
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            return
        obj.pk = result.body["rule"]["ruleId"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no relations; the command wrote everything

    def log_addition(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # the event table is the history
        pass

    def log_change(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]  # likewise
        pass

    def _toggle(self, request: HttpRequest, queryset: QuerySet[Rule], command: str) -> None:
        done = 0
        for rule in queryset:
            body = {"commandType": command, "ruleId": rule.rule_id, "expectedVersion": rule.version}
            try:
                if not dispatch(TOPIC, body, actor=admin_actor(request)).body["duplicate"]:
                    done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{rule.name}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} rule(s) changed.")

    @admin.action(description="Enable the selected rules", permissions=["change"])
    def enable_rules(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        self._toggle(request, queryset, "EnableRuleCommand")

    @admin.action(description="Disable the selected rules", permissions=["change"])
    def disable_rules(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        self._toggle(request, queryset, "DisableRuleCommand")


@admin.register(RuleEvent)
class RuleEventAdmin(EventAdmin):
    aggregate_url_name = "admin:rules_rule_change"
    event_types = EVENT_TYPES
