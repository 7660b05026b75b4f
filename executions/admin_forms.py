"""The review queue's forms and the one place the admin sends execution commands.

Each form is rendered with a one-time `token`; the command for each execution is dispatched with
the Idempotency-Key `admin-<command>-<token>-<executionId>`, so a double submit (or a browser
resubmission) replays the first answers and appends nothing. The version each execution had when
the form was rendered goes as `expectedVersion`: an admin never acts on a state they did not see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from django import forms
from django.core.exceptions import ValidationError

from executions.services import TOPIC
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError

# form field -> command field, and back for the handlers' field errors
_COMMAND_FIELDS = {
    "last_qty": "lastQty",
    "last_px": "lastPx",
    "order_id": "orderId",
    "text": "text",
}
_FORM_FIELDS = {v: k for k, v in _COMMAND_FIELDS.items()}


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


_DECIMAL: _Digits = {"max_digits": 28, "decimal_places": 10}  # the columns' precision


def _positive(value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise ValidationError("Must be greater than zero.", code="min_value")


def new_token() -> str:
    return uuid.uuid4().hex


class ReviewForm(forms.Form):
    """Fields every review action carries: the one-time token and the versions seen."""

    command_type = ""
    verb = ""
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
    # "<executionId>:<version>,..." as rendered; each goes out as that command's expectedVersion
    versions = forms.RegexField(regex=r"^[\w.-]+:\d+(,[\w.-]+:\d+)*$", widget=forms.HiddenInput)
    text = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Recorded on the event.",
    )

    def clean_versions(self) -> dict[str, int]:
        pairs = (item.rsplit(":", 1) for item in self.cleaned_data["versions"].split(","))
        return {execution_id: int(version) for execution_id, version in pairs}

    def command_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, command_name in _COMMAND_FIELDS.items():
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                fields[command_name] = format(value, "f") if isinstance(value, Decimal) else value
        return fields

    def command(self, execution_id: str) -> dict[str, Any]:
        body = {"commandType": self.command_type, "executionId": execution_id, **self.command_fields()}
        version = self.cleaned_data["versions"].get(execution_id)
        if version is not None:
            body["expectedVersion"] = version
        return body

    def add_dispatch_errors(self, error: dict[str, Any]) -> None:
        """A handler's refusal, onto the form: its field errors where the form has the field."""
        fields = error.get("fields") or {}
        for name, messages in fields.items():
            form_field = _FORM_FIELDS.get(name)
            for message in messages:
                if form_field in self.fields:
                    self.add_error(form_field, message)
                else:
                    self.add_error(None, f"{name}: {message}")
        if not fields:
            self.add_error(None, error.get("message", "refused"))


class CorrectForm(ReviewForm):
    command_type = "CorrectExecutionCommand"
    verb = "correct"
    last_qty = forms.DecimalField(label="lastQty", required=False, validators=[_positive], **_DECIMAL)
    last_px = forms.DecimalField(label="lastPx", required=False, validators=[_positive], **_DECIMAL)
    field_order = ("last_qty", "last_px", "text")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("last_qty") is None
            and data.get("last_px") is None
            and not self.has_error("last_qty")
            and not self.has_error("last_px")
        ):
            raise ValidationError("Give lastQty and/or lastPx.", code="required")
        return data


class AllocateForm(ReviewForm):
    command_type = "AllocateExecutionCommand"
    verb = "allocate"
    order_id = forms.CharField(
        label="orderId",
        required=False,
        max_length=64,
        help_text="Leave empty to allocate to the execution's own order; or give another order id.",
    )
    field_order = ("order_id", "text")


class RejectForm(ReviewForm):
    command_type = "RejectExecutionCommand"
    verb = "reject"
    text = forms.CharField(
        required=True,
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Why it is discarded (recorded on the event).",
    )


REVIEW_FORMS: dict[str, type[ReviewForm]] = {
    "correct": CorrectForm,
    "allocate": AllocateForm,
    "reject": RejectForm,
}


@dataclass
class ReviewOutcome:
    execution_id: str
    ok: bool
    replayed: bool
    body: dict[str, Any]

    @property
    def error(self) -> dict[str, Any]:
        return self.body.get("error", {}) if not self.ok else {}


def send_review(form: ReviewForm, execution_id: str, *, actor: str) -> ReviewOutcome:
    """Dispatch the form's command for one execution, as `actor`, in its own transaction."""
    token = form.cleaned_data["token"]
    try:
        result = dispatch(
            TOPIC,
            form.command(execution_id),
            actor=actor,
            correlation_id=f"admin-{token}",
            idempotency_key=f"admin-{form.verb}-{token}-{execution_id}",
        )
    except ApplicationError as exc:
        return ReviewOutcome(execution_id, ok=False, replayed=False, body=exc.as_dict())
    # a repeat of the key answers the first response, which may be a refusal, without new events
    replayed = not result.events
    return ReviewOutcome(execution_id, ok=result.status_code < 400, replayed=replayed, body=result.body)


def describe_error(error: dict[str, Any]) -> str:
    """`code (rule): message [field: msg; ...]`, as the admin message shows it."""
    code = error.get("code", "error")
    if error.get("rule"):
        code = f"{code} ({error['rule']})"
    fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in (error.get("fields") or {}).items())
    return f"{code}: {error.get('message', '')}" + (f" [{fields}]" if fields else "")
