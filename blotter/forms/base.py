"""The generic desk form: one class that renders, validates and builds ONE command for `dispatch`.

A desk action is declared, not written: `desk_form(action, command_type, fields, ...)` builds a
form class from the command's fields (form field names are the API's field names), and the
generic `command()` turns the cleaned values into the command (decimals as strings, times as
ISO-8601 UTC, identifiers the desk left empty derived from the form's token, unchanged terms left
out where the action sends changes only). Actions with a target (an order, an execution, a quote
request, a quote) are offered only when the target's state allows them: for orders and
executions the document's `allowedActions` (computed from the transition tables by the domain),
checked on GET and again on POST, whatever the page showed.

Django validates the shape of the input (required fields, numbers, choices, times); the command
handlers stay the judges of the business rules, and their refusals come back onto the form's
fields (`apply_error`). Nothing is sent twice: every rendered form carries a one-time `token`
that becomes the command's Idempotency-Key (dispatch replays the first answer to a repeat).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.http import QueryDict

from executions.enums import REVIEW_REASON_TEXT
from oms.core.errors import ApplicationError, ValidationFailed, VersionConflict
from oms.core.parsing import dec_str, iso
from oms.orders.models import Order

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
ID_MAX = 64
TEXT_MAX = 1000


def new_token() -> str:
    return secrets.token_hex(16)


def generated_id(prefix: str, token: str) -> str:
    """An identifier derived from the form's token: the same on every resubmission of one form."""
    return f"{prefix}-{token[:12].upper()}"


def confirm_notional() -> Decimal:
    return Decimal(str(getattr(settings, "OMS_CONFIRM_NOTIONAL", "1000000")))


def reference_price(symbol: str | None) -> Decimal | None:
    """The symbol's last traded average price on this OMS: the reference for unpriced orders."""
    if not symbol:
        return None
    row = (
        Order.objects.filter(symbol=symbol, avg_px__gt=0)
        .order_by("-updated_at")
        .values_list("avg_px", flat=True)
        .first()
    )
    return row


def positive(value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise ValidationError("Must be greater than zero.", code="not_positive")


def num(label: str, *, required: bool = False, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=28,
        decimal_places=10,
        validators=[positive],
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def chars(
    label: str, *, required: bool = False, max_length: int = ID_MAX, help_text: str = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def choice(label: str, values: list[str], *, required: bool = True, blank: str = "") -> forms.ChoiceField:
    choices = [(v, v) for v in values]
    if not required or blank:
        choices = [("", blank or "—"), *choices]
    return forms.ChoiceField(label=label, choices=choices, required=required)


def when(label: str, *, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text or "UTC, e.g. 2026-11-21T17:30",
        widget=forms.DateTimeInput(attrs={"autocomplete": "off", "placeholder": "YYYY-MM-DDTHH:MM"}),
    )


def values(enum: Any) -> list[str]:
    return [member.value for member in enum]


def compact(body: dict[str, Any]) -> dict[str, Any]:
    """Empty form fields are absent from the command (the handler's defaults apply)."""
    return {k: v for k, v in body.items() if v not in (None, "")}


def to_d(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


class CommandForm(forms.Form):
    """One desk action: render (with prefill from its target), validate, build one command."""

    action: ClassVar[str]
    title: ClassVar[str]
    submit_label: ClassVar[str] = "Send"
    topic: ClassVar[str] = "orders"
    command_type: ClassVar[str]
    target_kind: ClassVar[str | None] = "order"  # "order", "execution", "quote_request", "quote" or None
    target_field: ClassVar[str | None] = "orderId"
    target_model: ClassVar[type[models.Model] | None] = None  # whose `doc` is the target (by pk)
    id_prefix: ClassVar[str] = "D"
    confirms_notional: ClassVar[bool] = False
    danger: ClassVar[bool] = False
    # the action's name in the target's `allowedActions` (None: the target's document has none)
    allowed_action: ClassVar[str | None] = None
    # what the generic `command()` sends: the command's key for the target's id ("parentId" for a
    # child order), the identifiers derived from the token when left empty, the terms sent only
    # when they differ from the target's, and values taken from the target as it is
    target_key: ClassVar[str | None] = None
    sends_target: ClassVar[bool] = True  # False: the command names its target otherwise (quoteReqID)
    generated: ClassVar[tuple[str, ...]] = ()
    changes_only: ClassVar[tuple[str, ...]] = ()
    from_target: ClassVar[tuple[str, ...]] = ()

    token = forms.CharField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, label="I confirm this large notional")

    def __init__(self, data: Any = None, *, target: dict[str, Any] | None = None) -> None:
        self.target: dict[str, Any] = target or {}
        initial: dict[str, Any] = {}
        if data is None:
            token = new_token()
            initial = {"token": token, **self.prefill(token)}
            if self.target_field:
                initial[self.target_field] = self.target_id
        super().__init__(data, initial=initial, label_suffix="")
        self.needs_confirm = False
        self.error_code: str | None = None
        # set by the view when this form's token was already dispatched: the repeat must reach
        # dispatch (which answers the first result) even though the target has changed since
        self.already_sent = False

    @classmethod
    def target_label(cls) -> str:
        return (cls.target_kind or "").replace("_", " ")

    @classmethod
    def load_target(cls, target_id: str) -> dict[str, Any] | None:
        """The target's state document as the query API shows it, or None when there is none."""
        if cls.target_model is None or not target_id:
            return None
        return cls.target_model._default_manager.filter(pk=target_id).values_list("doc", flat=True).first()

    @property
    def target_id(self) -> str:
        return str(self.target.get(self.target_field or "", "")) if self.target_field else ""

    # --- what an action may refine -----------------------------------------------------------
    def prefill(self, token: str) -> dict[str, Any]:
        return {}

    def problem(self) -> str | None:
        """Why this action does not apply to its target as it is now (shown on GET, refused on POST):
        the action's own check (`refusal`), then the state machine's answer (`allowedActions`)."""
        return self.refusal() or self.not_allowed()

    def refusal(self) -> str | None:
        """A reason of the action's own, said in the desk's words (a slice has no children...)."""
        return None

    def not_allowed(self) -> str | None:
        if self.allowed_action is None or not self.target:
            return None
        allowed = allowed_actions(self.target_kind, self.target)
        if allowed is None or self.allowed_action in allowed:
            return None
        status = self.target.get("status")
        return f"The {self.target_label()} is {status}: {self.title.lower()} is not allowed in that state."

    def command(self) -> dict[str, Any]:
        """The one command: the declared fields' cleaned values, as the API takes them."""
        c = self.cleaned_data
        body: dict[str, Any] = {"commandType": self.command_type}
        if self.target_field and self.sends_target:
            body[self.target_key or self.target_field] = self.target_id
        for name in self.command_fields():
            value = c.get(name)
            body[name] = self.gen(value) if name in self.generated else wire(value)
        for name in self.from_target:
            body[name] = self.target.get(name)
        if self.changes_only:
            for name in self.changes_only:
                body.pop(name, None)
            body.update(self.changes())
        return compact(body)

    def command_fields(self) -> list[str]:
        skip = {"token", "confirm", self.target_field}
        return [name for name, field in self.fields.items() if name not in skip and not field.disabled]

    def changes(self) -> dict[str, Any]:
        """The `changes_only` terms the desk changed (unchanged terms stay out of the command)."""
        c, t = self.cleaned_data, self.target
        now = {name: wire(c.get(name)) for name in self.changes_only}
        return {k: v for k, v in now.items() if v not in (None, "") and v != self.before(k, t.get(k))}

    def before(self, name: str, value: Any) -> Any:
        """The target's value of a term, as the form would send it (to tell a change)."""
        return value

    def notional(self) -> Decimal | None:
        return None

    def success_message(self, body: dict[str, Any]) -> str:
        order = body.get("order") or {}
        if order:
            return f"{self.title}: {order.get('clOrdID')} is {order.get('status')}"
        return f"{self.title}: done"

    # --- validation ---------------------------------------------------------------------------
    @property
    def token_value(self) -> str:
        if self.is_bound:
            return str(self.data.get("token", ""))
        return str(self.initial.get("token", ""))

    def clean_token(self) -> str:
        token: str = self.cleaned_data["token"]
        if not TOKEN_RE.match(token):
            raise ValidationError("This form has expired: close it and open it again.", code="bad_token")
        return token

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.changes_only and not self.errors and not self.changes():
            self.add_error(None, self.no_change_message())
        problem = None if self.already_sent else self.problem()
        if problem:
            raise ValidationError(problem, code="not_applicable")
        if self.confirms_notional and not self.errors:
            notional = self.notional()
            limit = confirm_notional()
            if notional is not None and notional >= limit:
                self.needs_confirm = True
                if not cleaned.get("confirm"):
                    self.add_error(
                        "confirm",
                        ValidationError(
                            f"Notional {notional:,.2f} is at or above {limit:,.0f}: tick to confirm, then send.",
                            code="confirm_required",
                        ),
                    )
        return cleaned

    def no_change_message(self) -> str:
        return (
            "Change at least one of "
            + ", ".join(str(self.fields[n].label or n).lower() for n in self.changes_only)
            + "."
        )

    def gen(self, value: str | None, prefix: str | None = None) -> str:
        """The desk's identifier, or one derived from this form's token when left empty."""
        return value or generated_id(prefix or self.id_prefix, self.cleaned_data["token"])

    # --- dispatch refusals back onto the form -------------------------------------------------
    def apply_error(self, exc: ApplicationError) -> None:
        self.error_code = exc.code
        if isinstance(exc, VersionConflict):
            self.add_error(
                None,
                f"The {self.target_label()} changed while this form was open: check the values against it"
                " as it is now and send again.",
            )
            return
        on_field = False
        notes: list[str] = []
        for name, messages in exc.fields.items():
            field = self.fields.get(name)
            for message in messages:
                if field is not None and not field.widget.is_hidden:
                    self.add_error(name, message)
                    on_field = True
                elif name in ("non_field_errors", self.target_field):
                    notes.append(message)
                else:
                    notes.append(f"{name}: {message}")
        # the handler's summary says which rule refused; a plain "invalid ..." adds nothing when
        # the fields already say what is wrong
        if not (isinstance(exc, ValidationFailed) and on_field):
            self.add_error(None, exc.message)
        for note in notes:
            self.add_error(None, note)

    def rebind(self, **values: str) -> None:
        """Bind the form to a copy of its data with `values` replaced (a QueryDict's copy is mutable)."""
        data = self.data.copy() if isinstance(self.data, QueryDict | dict) else dict(self.data)
        for key, value in values.items():
            data[key] = value  # replaces (QueryDict.update would append)
        self.data = data

    def renew(self, target: dict[str, Any] | None) -> None:
        """After a refusal: a fresh token (the refused one has its answer recorded) and the target as it is now."""
        self.rebind(token=new_token())
        if target is not None:
            self.target = target

    # --- presentation -------------------------------------------------------------------------
    @property
    def heading(self) -> str:
        return self.title

    @property
    def visible_inputs(self) -> list[forms.BoundField]:
        for name, attrs in self.input_attrs().items():
            self.fields[name].widget.attrs.update(attrs)
        return [f for f in self.visible_fields() if f.name != "confirm"]

    def input_attrs(self) -> dict[str, dict[str, str]]:
        """Attributes of the inputs computed from the target as it is when the form is rendered
        (after a refusal too): hints the page checks as the desk types (static/blotter/forms.js)."""
        return {}

    def terms(self) -> list[tuple[str, str, str]]:
        """(label, value, key) lines the desk must see before sending (e.g. what an accept creates)."""
        return []

    @property
    def hidden_errors(self) -> list[str]:
        return [str(e) for f in self.hidden_fields() for e in f.errors]

    @property
    def show_confirm(self) -> bool:
        return self.needs_confirm or bool(self.is_bound and self.data.get("confirm"))

    def summary(self) -> str:
        t = self.target
        if not t:
            return ""
        if self.target_kind == "execution":
            line = f"{t.get('execID')} · {t.get('lastQty')} @ {t.get('lastPx')} on {t.get('orderId')} · {t.get('status')}"
            reasons = t.get("reviewReasons") or []
            return line + (f" · held: {reasons_text(reasons)}" if reasons else "")
        price = f" @ {t['price']}" if t.get("price") else ""
        return (
            f"{t.get('kind')} {t.get('clOrdID')} · {t.get('side')} {t.get('orderQty')} {t.get('symbol')} "
            f"{t.get('ordType')}{price} · {t.get('status')} · cum {t.get('cumQty')} leaves {t.get('leavesQty')}"
            f" · {t.get('venue') or 'no venue'}"
        )


def reasons_text(codes: Sequence[str]) -> str:
    """Review reasons in the desk's words, as the admin's review queue says them."""
    return " ".join(REVIEW_REASON_TEXT.get(code, code) for code in codes)


def wire(value: Any) -> Any:
    """A cleaned form value as the API takes it: decimals as strings, times as ISO-8601 UTC."""
    if isinstance(value, Decimal):
        return dec_str(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    return value


# the domains' allowed actions by target kind, for a document stored before they carried them
_DECODERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {}


def allowed_actions(kind: str | None, doc: Mapping[str, Any]) -> Sequence[str] | None:
    """The actions the target's state allows (its document's `allowedActions`); None: not known."""
    if "allowedActions" in doc:
        actions: Sequence[str] = doc["allowedActions"]
        return actions
    decode = _DECODERS.get(kind or "")
    return decode(dict(doc)) if decode else None


def register_allowed_actions(kind: str, decode: Callable[[dict[str, Any]], list[str]]) -> None:
    _DECODERS[kind] = decode


def desk_form(
    action: str,
    command_type: str,
    fields: Mapping[str, forms.Field],
    *,
    base: type[CommandForm] = CommandForm,
    **options: Any,
) -> type[CommandForm]:
    """A desk action's form class, built from its command's fields: the generic form, declared."""
    attrs: dict[str, Any] = {
        "action": action,
        "command_type": command_type,
        "submit_label": options.get("title", ""),
        "__module__": base.__module__,
        **options,
        **fields,
    }
    return type(f"{command_type.removesuffix('Command')}Form", (base,), attrs)
