"""The blotter's forms: each validates the desk's input and builds exactly ONE command for `dispatch`.

Django validates the shape of the input (required fields, numbers, choices, times); the command
handlers stay the judges of the business rules, and their refusals come back onto the form's
fields (`apply_error`). Form field names are the API's field names, so a handler's per-field
error lands next to the field it names without a mapping table.

Nothing is sent twice: every rendered form carries a one-time `token` that becomes the
command's Idempotency-Key (dispatch replays the first answer to a repeat), and identifiers the
desk leaves empty (clOrdID, execID) derive from that token, so a resubmission is byte-for-byte
the same command.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.http import QueryDict
from django.utils import timezone

from executions.enums import ExecStatus
from executions.models import Execution
from oms.core.errors import ApplicationError, ValidationFailed, VersionConflict
from oms.core.parsing import dec_str, iso
from oms.orders.enums import MANUAL_VENUE, Handling, Kind, OrdType, Side, TimeInForce
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


def _positive(value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise ValidationError("Must be greater than zero.", code="not_positive")


def _num(label: str, *, required: bool = False, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=28,
        decimal_places=10,
        validators=[_positive],
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _text(
    label: str, *, required: bool = False, max_length: int = ID_MAX, help_text: str = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _choice(label: str, values: list[str], *, required: bool = True, blank: str = "") -> forms.ChoiceField:
    choices = [(v, v) for v in values]
    if not required or blank:
        choices = [("", blank or "—"), *choices]
    return forms.ChoiceField(label=label, choices=choices, required=required)


def _when(label: str, *, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text or "UTC, e.g. 2026-11-21T17:30",
        widget=forms.DateTimeInput(attrs={"autocomplete": "off", "placeholder": "YYYY-MM-DDTHH:MM"}),
    )


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """Empty form fields are absent from the command (the handler's defaults apply)."""
    return {k: v for k, v in body.items() if v not in (None, "")}


def _d(value: Any) -> Decimal | None:
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

    # --- what each action defines ------------------------------------------------------------
    def prefill(self, token: str) -> dict[str, Any]:
        return {}

    def problem(self) -> str | None:
        """Why this action does not apply to its target as it is now (shown on GET, refused on POST)."""
        return None

    def command(self) -> dict[str, Any]:
        raise NotImplementedError

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
        return [f for f in self.visible_fields() if f.name != "confirm"]

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
            return line + (f" · review: {', '.join(reasons)}" if reasons else "")
        price = f" @ {t['price']}" if t.get("price") else ""
        return (
            f"{t.get('kind')} {t.get('clOrdID')} · {t.get('side')} {t.get('orderQty')} {t.get('symbol')} "
            f"{t.get('ordType')}{price} · {t.get('status')} · cum {t.get('cumQty')} leaves {t.get('leavesQty')}"
            f" · {t.get('venue') or 'no venue'}"
        )


class OrderTargetForm(CommandForm):
    target_model = Order
    orderId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)

    def working(self) -> str | None:
        status = self.target.get("status")
        if status in ("Filled", "Canceled", "Rejected", "Expired", "DoneForDay"):
            return f"The order is {status}: nothing left to act on."
        return None


class ExecutionTargetForm(CommandForm):
    topic = "executions"
    target_kind = "execution"
    target_field = "executionId"
    target_model = Execution
    executionId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)

    def held(self) -> str | None:
        if self.target.get("status") != ExecStatus.PENDING_REVIEW.value:
            return f"Only executions pending review can be allocated or rejected (this one is {self.target.get('status')})."
        return None


# --- new client order ----------------------------------------------------------------------------


class NewOrderForm(CommandForm):
    action = "new"
    title = "New client order"
    submit_label = "Send order"
    command_type = "CreateOrderCommand"
    target_kind = None
    target_field = None
    id_prefix = "N"
    confirms_notional = True

    # no default side: the desk picks Buy or Sell on purpose
    side = _choice("Side", _values(Side), blank="Choose…")
    symbol = _text("Symbol", required=True)
    orderQty = _num("Quantity", required=True)
    ordType = _choice("Type", _values(OrdType))
    price = _num("Limit price", help_text="Limit and StopLimit")
    stopPx = _num("Stop price", help_text="Stop and StopLimit")
    timeInForce = _choice("Time in force", _values(TimeInForce))
    expireTime = _when("Expire time", help_text="GTD only; UTC")
    account = _text("Account", required=True)
    venue = _text("Venue", help_text="Empty or MANUAL: the desk works it")
    handling = _choice("Handling", _values(Handling), required=False, blank="As the routing rules decide")
    clOrdID = _text("ClOrdID", help_text="Generated when empty")
    text = _text("Text", max_length=TEXT_MAX)

    def prefill(self, token: str) -> dict[str, Any]:
        return {
            "ordType": OrdType.LIMIT.value,
            "timeInForce": TimeInForce.DAY.value,
            "clOrdID": generated_id("N", token),
        }

    def notional(self) -> Decimal | None:
        c = self.cleaned_data
        px = c.get("price") or c.get("stopPx") or reference_price(c.get("symbol"))
        return None if px is None else c["orderQty"] * px

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "clOrdID": self.gen(c.get("clOrdID")),
                "symbol": c["symbol"],
                "side": c["side"],
                "orderQty": dec_str(c["orderQty"]),
                "ordType": c["ordType"],
                "price": dec_str(c.get("price")),
                "stopPx": dec_str(c.get("stopPx")),
                "timeInForce": c.get("timeInForce"),
                "expireTime": iso(c.get("expireTime")),
                "account": c["account"],
                "venue": c.get("venue"),
                "handling": c.get("handling"),
                "text": c.get("text"),
            }
        )

    def success_message(self, body: dict[str, Any]) -> str:
        o = body.get("order") or {}
        return (
            f"{o.get('side')} {o.get('orderQty')} {o.get('symbol')}: {o.get('clOrdID')} is {o.get('status')}"
            f" ({o.get('handling')}: {o.get('routingReason')})"
        )


# --- place a desk order: a market order under a client order, a slice under a market order ---------


class PlaceForm(OrderTargetForm):
    action = "place"
    title = "Place order"
    submit_label = "Place"
    command_type = "CreateOrderCommand"
    id_prefix = "P"
    confirms_notional = True

    orderQty = _num("Quantity", required=True, help_text="Prefilled with what is left to place")
    ordType = _choice("Type", _values(OrdType), required=False, blank="As the parent")
    price = _num("Limit price")
    stopPx = _num("Stop price")
    timeInForce = _choice("Time in force", _values(TimeInForce), required=False, blank="As the parent")
    venue = _text("Venue")
    clOrdID = _text("ClOrdID", help_text="Generated when empty")
    text = _text("Text", max_length=TEXT_MAX)

    @property
    def heading(self) -> str:
        return "Place slice" if self.target.get("kind") == Kind.MARKET.value else "Place market order"

    def left(self) -> Decimal:
        t = self.target
        return (_d(t.get("orderQty")) or Decimal(0)) - (_d(t.get("placedQty")) or Decimal(0))

    def prefill(self, token: str) -> dict[str, Any]:
        t = self.target
        venue = t.get("venue") or getattr(settings, "OMS_DEFAULT_DESK_VENUE", MANUAL_VENUE)
        return {
            "orderQty": dec_str(max(self.left(), Decimal(0))),
            "ordType": t.get("ordType"),
            "price": t.get("price"),
            "stopPx": t.get("stopPx"),
            "timeInForce": t.get("timeInForce"),
            "venue": venue,
            "clOrdID": generated_id("P", token),
        }

    def problem(self) -> str | None:
        if self.target.get("kind") == Kind.SLICE.value:
            return "A slice cannot have child orders: place under its market order."
        if working := self.working():
            return working
        if self.left() <= 0:
            return f"Nothing left to place: children already hold {self.target.get('placedQty')} of {self.target.get('orderQty')}."
        return None

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        px = c.get("price") or c.get("stopPx") or _d(t.get("price")) or reference_price(t.get("symbol"))
        return None if px is None else c["orderQty"] * px

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "clOrdID": self.gen(c.get("clOrdID")),
                "parentId": self.target_id,
                "orderQty": dec_str(c["orderQty"]),
                "ordType": c.get("ordType"),
                "price": dec_str(c.get("price")),
                "stopPx": dec_str(c.get("stopPx")),
                "timeInForce": c.get("timeInForce"),
                "venue": c.get("venue"),
                "text": c.get("text"),
            }
        )

    def success_message(self, body: dict[str, Any]) -> str:
        o = body.get("order") or {}
        return f"Placed {o.get('kind')} {o.get('clOrdID')}: {o.get('orderQty')} at {o.get('venue')} ({o.get('status')})"


# --- cancel and replace ------------------------------------------------------------------------------


class CancelForm(OrderTargetForm):
    action = "cancel"
    title = "Cancel order"
    submit_label = "Cancel order"
    command_type = "CancelOrderCommand"
    id_prefix = "C"
    danger = True

    clOrdID = _text("New ClOrdID", required=True, help_text="Names the cancel request")
    text = _text("Text", max_length=TEXT_MAX)

    def prefill(self, token: str) -> dict[str, Any]:
        return {"clOrdID": generated_id("C", token)}

    def problem(self) -> str | None:
        return self.working()

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "orderId": self.target_id,
                "clOrdID": c["clOrdID"],
                "text": c.get("text"),
            }
        )


class ReplaceForm(OrderTargetForm):
    action = "replace"
    title = "Replace order"
    submit_label = "Replace"
    command_type = "ReplaceOrderCommand"
    id_prefix = "R"
    confirms_notional = True

    expectedVersion = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    orderQty = _num("Quantity")
    price = _num("Limit price")
    stopPx = _num("Stop price")
    timeInForce = _choice("Time in force", _values(TimeInForce), required=False)
    expireTime = _when("Expire time")
    clOrdID = _text("New ClOrdID", required=True)
    text = _text("Text", max_length=TEXT_MAX)

    TERMS: ClassVar[tuple[str, ...]] = ("orderQty", "price", "stopPx", "timeInForce", "expireTime")

    def prefill(self, token: str) -> dict[str, Any]:
        t = self.target
        return {
            "expectedVersion": t.get("version"),
            "orderQty": t.get("orderQty"),
            "price": t.get("price"),
            "stopPx": t.get("stopPx"),
            "timeInForce": t.get("timeInForce"),
            "expireTime": (t.get("expireTime") or "")[:16],
            "clOrdID": generated_id("R", token),
        }

    def problem(self) -> str | None:
        return self.working()

    def changes(self) -> dict[str, Any]:
        """The terms the desk changed, as the command carries them (unchanged terms stay out)."""
        c, t = self.cleaned_data, self.target
        now = {
            "orderQty": dec_str(c.get("orderQty")),
            "price": dec_str(c.get("price")),
            "stopPx": dec_str(c.get("stopPx")),
            "timeInForce": c.get("timeInForce") or None,
            "expireTime": iso(c.get("expireTime")),
        }
        before = {k: t.get(k) for k in self.TERMS}
        if before["expireTime"]:
            before["expireTime"] = iso(
                dt.datetime.fromisoformat(before["expireTime"]).replace(second=0, microsecond=0)
            )
        return {k: v for k, v in now.items() if v is not None and v != before[k]}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors and not self.changes():
            self.add_error(
                None, "Change at least one of quantity, price, stop price, time in force or expire time."
            )
        return cleaned

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        qty = c.get("orderQty") or _d(t.get("orderQty"))
        px = c.get("price") or _d(t.get("price")) or c.get("stopPx") or _d(t.get("stopPx"))
        px = px or reference_price(t.get("symbol"))
        return None if px is None or qty is None else qty * px

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "orderId": self.target_id,
                "expectedVersion": c["expectedVersion"],
                "clOrdID": c["clOrdID"],
                **self.changes(),
                "text": c.get("text"),
            }
        )

    def renew(self, target: dict[str, Any] | None) -> None:
        super().renew(target)
        if target is not None and target.get("version") is not None:
            # the refusal may be a version conflict: the desk checks its values against the
            # order as it is now and sends again
            self.rebind(expectedVersion=str(target["version"]))


# --- hand-entered reports of the MANUAL venue ------------------------------------------------------


class VenueReportForm(OrderTargetForm):
    """Accept, reject, cancel and replace answers that a MANUAL venue gives by phone or chat."""

    text = _text("Text", max_length=TEXT_MAX)

    def problem(self) -> str | None:
        t = self.target
        if t.get("kind") == Kind.CLIENT.value:
            return "Venue reports are entered on market orders and slices, not on client orders."
        if t.get("venue") != MANUAL_VENUE:
            return f"Only orders at the {MANUAL_VENUE} venue take hand-entered reports (this one is at {t.get('venue')})."
        return None

    def command(self) -> dict[str, Any]:
        return _compact(
            {
                "commandType": self.command_type,
                "orderId": self.target_id,
                "text": self.cleaned_data.get("text"),
            }
        )


def _report(action: str, title: str, command_type: str, *, danger: bool = False) -> type[VenueReportForm]:
    attrs = {
        "action": action,
        "title": title,
        "submit_label": title,
        "command_type": command_type,
        "danger": danger,
        "__module__": __name__,
    }
    return type(f"{command_type.removesuffix('Command')}Form", (VenueReportForm,), attrs)


AcceptForm = _report("accept", "Venue accepted", "AcceptOrderCommand")
RejectForm = _report("reject", "Venue rejected", "RejectOrderCommand", danger=True)
ConfirmCancelForm = _report("confirm-cancel", "Venue canceled", "ConfirmCancelCommand")
RejectCancelForm = _report("reject-cancel", "Venue refused the cancel", "RejectCancelCommand", danger=True)
ConfirmReplaceForm = _report("confirm-replace", "Venue replaced", "ConfirmReplaceCommand")
RejectReplaceForm = _report(
    "reject-replace", "Venue refused the replace", "RejectReplaceCommand", danger=True
)


class FillForm(VenueReportForm):
    action = "fill"
    title = "Enter fill"
    submit_label = "Enter fill"
    topic = "executions"
    command_type = "ExecuteOrderCommand"
    id_prefix = "X"
    confirms_notional = True
    field_order = ("lastQty", "lastPx", "execID", "transactTime", "text")

    lastQty = _num("Fill quantity", required=True)
    lastPx = _num("Fill price", required=True)
    execID = _text("ExecID", help_text="The venue's; generated when empty")
    transactTime = forms.DateTimeField(
        label="Transact time",
        required=False,
        help_text="UTC; now when empty",
        widget=forms.DateTimeInput(attrs={"autocomplete": "off"}),
    )
    text = _text("Text", max_length=TEXT_MAX)

    def prefill(self, token: str) -> dict[str, Any]:
        t = self.target
        return {
            "lastQty": t.get("leavesQty"),
            "lastPx": t.get("price"),
            "execID": generated_id("X", token),
            # fixed when the form opens, so a resubmission is the same command
            "transactTime": timezone.now().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def problem(self) -> str | None:
        return super().problem() or self.working()

    def notional(self) -> Decimal | None:
        c = self.cleaned_data
        qty: Decimal = c["lastQty"]
        px: Decimal = c["lastPx"]
        return qty * px

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "orderId": self.target_id,
                "execID": self.gen(c.get("execID")),
                "lastQty": dec_str(c["lastQty"]),
                "lastPx": dec_str(c["lastPx"]),
                "venue": self.target.get("venue"),
                # empty: the handler stamps it; the rendered form carries its opening time
                "transactTime": iso(c.get("transactTime")),
                "text": c.get("text"),
            }
        )

    def success_message(self, body: dict[str, Any]) -> str:
        e = body.get("execution") or {}
        if e.get("status") == ExecStatus.PENDING_REVIEW.value:
            return f"Fill {e.get('execID')} held for review: {', '.join(e.get('reviewReasons') or [])}"
        o = body.get("order") or {}
        return (
            f"Filled {e.get('lastQty')} @ {e.get('lastPx')}: {o.get('clOrdID')} is {o.get('status')},"
            f" cum {o.get('cumQty')} leaves {o.get('leavesQty')}"
        )


# --- on executions -------------------------------------------------------------------------------------


class CorrectExecutionForm(ExecutionTargetForm):
    action = "exec-correct"
    title = "Correct execution"
    submit_label = "Correct"
    command_type = "CorrectExecutionCommand"
    confirms_notional = True

    lastQty = _num("Quantity")
    lastPx = _num("Price")
    text = _text("Text", max_length=TEXT_MAX)

    def prefill(self, token: str) -> dict[str, Any]:
        return {"lastQty": self.target.get("lastQty"), "lastPx": self.target.get("lastPx")}

    def problem(self) -> str | None:
        status = self.target.get("status")
        if status in (ExecStatus.REJECTED.value, ExecStatus.BUSTED.value):
            return f"The execution is {status}: it cannot be corrected."
        return None

    def changes(self) -> dict[str, Any]:
        c, t = self.cleaned_data, self.target
        now = {"lastQty": dec_str(c.get("lastQty")), "lastPx": dec_str(c.get("lastPx"))}
        return {k: v for k, v in now.items() if v is not None and v != t.get(k)}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors and not self.changes():
            self.add_error(None, "Change the quantity or the price.")
        return cleaned

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        qty, px = c.get("lastQty") or _d(t.get("lastQty")), c.get("lastPx") or _d(t.get("lastPx"))
        return None if qty is None or px is None else qty * px

    def command(self) -> dict[str, Any]:
        return _compact(
            {
                "commandType": self.command_type,
                "executionId": self.target_id,
                **self.changes(),
                "text": self.cleaned_data.get("text"),
            }
        )


class AllocateExecutionForm(ExecutionTargetForm):
    action = "exec-allocate"
    title = "Allocate execution"
    submit_label = "Allocate"
    command_type = "AllocateExecutionCommand"

    orderId = _text("To order", help_text="Another order's id; empty: its own order")
    text = _text("Text", max_length=TEXT_MAX)

    def problem(self) -> str | None:
        return self.held()

    def command(self) -> dict[str, Any]:
        c = self.cleaned_data
        return _compact(
            {
                "commandType": self.command_type,
                "executionId": self.target_id,
                "orderId": c.get("orderId"),
                "text": c.get("text"),
            }
        )


class RejectExecutionForm(ExecutionTargetForm):
    action = "exec-reject"
    title = "Reject execution"
    submit_label = "Reject execution"
    command_type = "RejectExecutionCommand"
    danger = True

    text = _text("Reason", max_length=TEXT_MAX)

    def problem(self) -> str | None:
        return self.held()

    def command(self) -> dict[str, Any]:
        return _compact(
            {
                "commandType": self.command_type,
                "executionId": self.target_id,
                "text": self.cleaned_data.get("text"),
            }
        )


ACTIONS: dict[str, type[CommandForm]] = {
    form.action: form
    for form in (
        NewOrderForm,
        PlaceForm,
        CancelForm,
        ReplaceForm,
        AcceptForm,
        RejectForm,
        ConfirmCancelForm,
        RejectCancelForm,
        ConfirmReplaceForm,
        RejectReplaceForm,
        FillForm,
        CorrectExecutionForm,
        AllocateExecutionForm,
        RejectExecutionForm,
    )
}
