"""The desk's order and execution actions, declared on the generic form (blotter/forms/base.py).

    new              -            CreateOrderCommand (a client order)
    place            order        CreateOrderCommand (a market order or a slice under it)
    cancel, replace  order        CancelOrderCommand, ReplaceOrderCommand
    accept ... reject-replace     the MANUAL venue's reports, entered by hand
    fill             order        ExecuteOrderCommand
    exec-correct, exec-allocate, exec-reject   on an execution

Which of them a target takes is the document's `allowedActions` (the transition tables); the
checks here only say in the desk's words what the tables cannot (a slice has no children, only
orders at the MANUAL venue take hand-entered reports).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.utils import timezone

from blotter.forms.base import (
    ID_MAX,
    TEXT_MAX,
    CommandForm,
    chars,
    choice,
    desk_form,
    generated_id,
    num,
    reasons_text,
    reference_price,
    register_allowed_actions,
    to_d,
    values,
    when,
)
from executions.actions import execution_allowed_actions
from executions.enums import REVIEW_REASON_TEXT, ExecStatus, ReviewReason
from executions.models import Execution
from executions.state import from_api as execution_from_api
from oms.core.parsing import dec_str, iso
from oms.orders.actions import order_allowed_actions
from oms.orders.enums import MANUAL_VENUE, Handling, Kind, OrdType, Phase, Side, TimeInForce
from oms.orders.models import Order
from oms.orders.state import from_api as order_from_api

register_allowed_actions("order", lambda doc: order_allowed_actions(order_from_api(doc)))
register_allowed_actions("execution", lambda doc: execution_allowed_actions(execution_from_api(doc)))


def _text(label: str = "Text", help_text: str = "") -> forms.CharField:
    return chars(label, max_length=TEXT_MAX, help_text=help_text)


class OrderTargetForm(CommandForm):
    target_model = Order
    orderId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)


class ExecutionTargetForm(CommandForm):
    topic = "executions"
    target_kind = "execution"
    target_field = "executionId"
    target_model = Execution
    executionId = forms.CharField(widget=forms.HiddenInput, max_length=ID_MAX)


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
    generated = ("clOrdID",)

    # no default side: the desk picks Buy or Sell on purpose
    side = choice("Side", values(Side), blank="Choose…")
    symbol = chars("Symbol", required=True)
    orderQty = num("Quantity", required=True)
    ordType = choice("Type", values(OrdType))
    price = num("Limit price", help_text="Limit and StopLimit")
    stopPx = num("Stop price", help_text="Stop and StopLimit")
    timeInForce = choice("Time in force", values(TimeInForce))
    expireTime = when("Expire time", help_text="GTD only; UTC")
    account = chars("Account", required=True)
    venue = chars("Venue", help_text="Empty or MANUAL: the desk works it")
    handling = choice("Handling", values(Handling), required=False, blank="As the routing rules decide")
    clOrdID = chars("ClOrdID", help_text="Generated when empty")
    text = _text()

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

    def success_message(self, body: dict[str, Any]) -> str:
        o = body.get("order") or {}
        return (
            f"{o.get('side')} {o.get('orderQty')} {o.get('symbol')}: {o.get('clOrdID')} is {o.get('status')}"
            f" ({o.get('handling')}: {o.get('routingReason')})"
        )


# --- place a desk order: a market order under a client order, a slice under a market order ---------


class PlaceForm(OrderTargetForm):
    action = "place"
    allowed_action = "place"
    title = "Place order"
    submit_label = "Place"
    command_type = "CreateOrderCommand"
    target_key = "parentId"
    id_prefix = "P"
    confirms_notional = True
    generated = ("clOrdID",)

    orderQty = num("Quantity", required=True, help_text="Prefilled with what is left to place")
    ordType = choice("Type", values(OrdType), required=False, blank="As the parent")
    price = num("Limit price")
    stopPx = num("Stop price")
    timeInForce = choice("Time in force", values(TimeInForce), required=False, blank="As the parent")
    venue = chars("Venue")
    clOrdID = chars("ClOrdID", help_text="Generated when empty")
    text = _text()

    @property
    def heading(self) -> str:
        return "Place slice" if self.target.get("kind") == Kind.MARKET.value else "Place market order"

    def left(self) -> Decimal:
        t = self.target
        return (to_d(t.get("orderQty")) or Decimal(0)) - (to_d(t.get("placedQty")) or Decimal(0))

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

    def refusal(self) -> str | None:
        if self.target.get("kind") == Kind.SLICE.value:
            return "A slice cannot have child orders: place under its market order."
        if self.left() <= 0:
            return f"Nothing left to place: children already hold {self.target.get('placedQty')} of {self.target.get('orderQty')}."
        return None

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        px = c.get("price") or c.get("stopPx") or to_d(t.get("price")) or reference_price(t.get("symbol"))
        return None if px is None else c["orderQty"] * px

    def success_message(self, body: dict[str, Any]) -> str:
        o = body.get("order") or {}
        return f"Placed {o.get('kind')} {o.get('clOrdID')}: {o.get('orderQty')} at {o.get('venue')} ({o.get('status')})"


# --- cancel and replace ------------------------------------------------------------------------------

CancelForm = desk_form(
    "cancel",
    "CancelOrderCommand",
    {"clOrdID": chars("New ClOrdID", required=True, help_text="Names the cancel request"), "text": _text()},
    base=OrderTargetForm,
    allowed_action="cancel",
    title="Cancel order",
    id_prefix="C",
    danger=True,
    prefill=lambda self, token: {"clOrdID": generated_id("C", token)},
)


class ReplaceForm(OrderTargetForm):
    action = "replace"
    allowed_action = "replace"
    title = "Replace order"
    submit_label = "Replace"
    command_type = "ReplaceOrderCommand"
    id_prefix = "R"
    confirms_notional = True
    changes_only: ClassVar[tuple[str, ...]] = ("orderQty", "price", "stopPx", "timeInForce", "expireTime")

    expectedVersion = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    orderQty = num("Quantity")
    price = num("Limit price")
    stopPx = num("Stop price")
    timeInForce = choice("Time in force", values(TimeInForce), required=False)
    expireTime = when("Expire time")
    clOrdID = chars("New ClOrdID", required=True)
    text = _text()

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

    def before(self, name: str, value: Any) -> Any:
        if name == "expireTime" and value:
            # the form shows minutes: an unchanged expire time is the target's to the minute
            return iso(dt.datetime.fromisoformat(value).replace(second=0, microsecond=0))
        return value

    def no_change_message(self) -> str:
        return "Change at least one of quantity, price, stop price, time in force or expire time."

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        qty = c.get("orderQty") or to_d(t.get("orderQty"))
        px = c.get("price") or to_d(t.get("price")) or c.get("stopPx") or to_d(t.get("stopPx"))
        px = px or reference_price(t.get("symbol"))
        return None if px is None or qty is None else qty * px

    def renew(self, target: dict[str, Any] | None) -> None:
        super().renew(target)
        if target is not None and target.get("version") is not None:
            # the refusal may be a version conflict: the desk checks its values against the
            # order as it is now and sends again
            self.rebind(expectedVersion=str(target["version"]))


# --- hand-entered reports of the MANUAL venue ------------------------------------------------------


def fill_room(order: dict[str, Any] | None, counted: Decimal = Decimal(0)) -> Decimal | None:
    """What a fill may still add to `order` and to the venue orders above it (a slice's market
    order) without an overfill, `counted` being a quantity already in their cumQty that the fill
    replaces (a correction). The server judges it again (executions/validation.py: a fill beyond
    it is held for review); the form only warns before it is sent. None: not a venue order."""
    rooms: list[Decimal] = []
    while order is not None and order.get("kind") != Kind.CLIENT.value:
        rooms.append((to_d(order.get("orderQty")) or Decimal(0)) - (to_d(order.get("cumQty")) or Decimal(0)))
        parent = order.get("parentId")
        order = Order.objects.filter(pk=parent).values_list("doc", flat=True).first() if parent else None
    return max(min(rooms) + counted, Decimal(0)) if rooms else None


def overfill_hint(room: Decimal | None) -> dict[str, dict[str, str]]:
    """The quantity input's overfill warning (static/blotter/forms.js shows it as the desk types)."""
    if room is None:
        return {}
    note = (
        f"Above the {dec_str(room)} the order can still take. {REVIEW_REASON_TEXT[ReviewReason.OVERFILL]}"
        " Sent anyway, it is held for review."
    )
    return {"lastQty": {"data-warn-above": dec_str(room), "data-warn-text": note}}


class VenueReportForm(OrderTargetForm):
    """Accept, reject, cancel and replace answers that a MANUAL venue gives by phone or chat."""

    def refusal(self) -> str | None:
        t = self.target
        if t.get("kind") == Kind.CLIENT.value:
            return "Venue reports are entered on market orders and slices, not on client orders."
        if t.get("venue") != MANUAL_VENUE:
            return f"Only orders at the {MANUAL_VENUE} venue take hand-entered reports (this one is at {t.get('venue')})."
        return None


def _report(
    action: str, allowed: str, title: str, command_type: str, *, danger: bool = False
) -> type[CommandForm]:
    return desk_form(
        action,
        command_type,
        {"text": _text()},
        base=VenueReportForm,
        allowed_action=allowed,
        title=title,
        danger=danger,
    )


AcceptForm = _report("accept", "accept", "Venue accepted", "AcceptOrderCommand")
RejectForm = _report("reject", "reject", "Venue rejected", "RejectOrderCommand", danger=True)
ConfirmCancelForm = _report("confirm-cancel", "confirmCancel", "Venue canceled", "ConfirmCancelCommand")
RejectCancelForm = _report(
    "reject-cancel", "rejectCancel", "Venue refused the cancel", "RejectCancelCommand", danger=True
)
ConfirmReplaceForm = _report("confirm-replace", "confirmReplace", "Venue replaced", "ConfirmReplaceCommand")
RejectReplaceForm = _report(
    "reject-replace", "rejectReplace", "Venue refused the replace", "RejectReplaceCommand", danger=True
)


class FillForm(VenueReportForm):
    action = "fill"
    allowed_action = "fill"
    title = "Enter fill"
    submit_label = "Enter fill"
    topic = "executions"
    command_type = "ExecuteOrderCommand"
    id_prefix = "X"
    confirms_notional = True
    generated = ("execID",)
    from_target = ("venue",)
    field_order = ("lastQty", "lastPx", "execID", "transactTime", "text")

    lastQty = num("Fill quantity", required=True)
    lastPx = num("Fill price", required=True)
    execID = chars("ExecID", help_text="The venue's; generated when empty")
    # empty: the handler stamps it; the rendered form carries its opening time
    transactTime = forms.DateTimeField(
        label="Transact time",
        required=False,
        help_text="UTC; now when empty",
        widget=forms.DateTimeInput(attrs={"autocomplete": "off"}),
    )
    text = _text()

    def prefill(self, token: str) -> dict[str, Any]:
        t = self.target
        return {
            "lastQty": t.get("leavesQty"),
            "lastPx": t.get("price"),
            "execID": generated_id("X", token),
            # fixed when the form opens, so a resubmission is the same command
            "transactTime": timezone.now().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def refusal(self) -> str | None:
        problem = super().refusal()
        if problem is None and self.target.get("phase") == Phase.PENDING_NEW.value:
            # also for a document written before allowedActions left the fill out in this state
            return "The venue has not accepted this order yet: enter its acceptance first, then the fill."
        return problem

    def input_attrs(self) -> dict[str, dict[str, str]]:
        return overfill_hint(fill_room(self.target))

    def notional(self) -> Decimal | None:
        c = self.cleaned_data
        qty: Decimal = c["lastQty"]
        px: Decimal = c["lastPx"]
        return qty * px

    def success_message(self, body: dict[str, Any]) -> str:
        e = body.get("execution") or {}
        if e.get("reviewReasons"):
            return f"Fill {e.get('execID')} held for review: {reasons_text(e.get('reviewReasons') or [])}"
        o = body.get("order") or {}
        return (
            f"Filled {e.get('lastQty')} @ {e.get('lastPx')}: {o.get('clOrdID')} is {o.get('status')},"
            f" cum {o.get('cumQty')} leaves {o.get('leavesQty')}"
        )


# --- on executions -------------------------------------------------------------------------------------


class CorrectExecutionForm(ExecutionTargetForm):
    action = "exec-correct"
    allowed_action = "correct"
    title = "Correct execution"
    submit_label = "Correct"
    command_type = "CorrectExecutionCommand"
    confirms_notional = True
    changes_only = ("lastQty", "lastPx")

    lastQty = num("Quantity")
    lastPx = num("Price")
    text = _text()

    def prefill(self, token: str) -> dict[str, Any]:
        return {"lastQty": self.target.get("lastQty"), "lastPx": self.target.get("lastPx")}

    def no_change_message(self) -> str:
        return "Change the quantity or the price."

    def input_attrs(self) -> dict[str, dict[str, str]]:
        t = self.target
        order = Order.objects.filter(pk=t.get("orderId")).values_list("doc", flat=True).first()
        # an applied execution's quantity is in its order's cumQty already: the correction replaces it
        counted = Decimal(0) if t.get("status") == ExecStatus.PENDING_REVIEW.value else to_d(t.get("lastQty"))
        return overfill_hint(fill_room(order, counted or Decimal(0)))

    def notional(self) -> Decimal | None:
        c, t = self.cleaned_data, self.target
        qty, px = c.get("lastQty") or to_d(t.get("lastQty")), c.get("lastPx") or to_d(t.get("lastPx"))
        return None if qty is None or px is None else qty * px


AllocateExecutionForm = desk_form(
    "exec-allocate",
    "AllocateExecutionCommand",
    {"orderId": chars("To order", help_text="Another order's id; empty: its own order"), "text": _text()},
    base=ExecutionTargetForm,
    allowed_action="allocate",
    title="Allocate execution",
    submit_label="Allocate",
)
RejectExecutionForm = desk_form(
    "exec-reject",
    "RejectExecutionCommand",
    {"text": _text("Reason")},
    base=ExecutionTargetForm,
    allowed_action="reject",
    title="Reject execution",
    danger=True,
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
