"""Blotter form views: GET renders a form as an HTML fragment (for the page's <dialog>), POST
validates it and sends its ONE command through `dispatch` with the logged-in user as actor.

    GET  /blotter/forms/<action>/?orderId=O-...    200 fragment; JSON error 404 (unknown target)
         (or ?executionId=, ?quoteRequestId=, ?quoteId=: the action's target)
                                                  or 409 (the action does not apply to it now)
    POST /blotter/forms/<action>/                 200 {"ok": true, "message", "result"}
                                                  400 fragment with the errors next to the fields

Anonymous users are sent to the login page; users who may not act (viewers) get 403 on GET and
POST alike, whatever the page shows them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from blotter.forms import ACTIONS, TOKEN_RE, CommandForm
from blotter.permissions import can_act
from oms.core.dispatch import dispatch
from oms.core.errors import ApplicationError
from oms.core.models import IdempotencyRecord

TEMPLATE = "blotter/forms/form.html"


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.response = JsonResponse(
            {"error": {"code": code, "message": message, "fields": {}}}, status=status
        )


def _load_target(form_class: type[CommandForm], request: HttpRequest) -> dict[str, Any] | None:
    if form_class.target_kind is None or form_class.target_field is None:
        return None
    source = request.POST if request.method == "POST" else request.GET
    target_id = (source.get(form_class.target_field) or "").strip()
    doc = form_class.load_target(target_id)
    if doc is None:
        raise _Refused(404, "not_found", f"No {form_class.target_label()} '{target_id}'.")
    return doc


def _idempotency_key(token: str) -> str:
    return f"form:{token}"


def _already_sent(request: HttpRequest) -> bool:
    """Was this form (its one-time token) dispatched before? Then a repeat (double click, retried
    fetch) must get the first answer from dispatch, not a refusal because the target changed."""
    token = str(request.POST.get("token", ""))
    if not TOKEN_RE.match(token):
        return False
    return IdempotencyRecord.objects.filter(
        actor=request.user.get_username(), key=_idempotency_key(token)
    ).exists()


def _recorded_error(body: dict[str, Any]) -> ApplicationError:
    """A refusal dispatch recorded for this token, answered again for a repeat."""
    error = body.get("error") or {}
    exc = ApplicationError(str(error.get("message") or "refused"), fields=error.get("fields") or {})
    exc.code = str(error.get("code") or exc.code)
    return exc


def _render(request: HttpRequest, form: CommandForm, status: int) -> HttpResponse:
    response = render(request, TEMPLATE, {"form": form, "action_url": request.path}, status=status)
    if form.error_code:
        response["X-OMS-Error-Code"] = form.error_code
    return response


@login_required
@require_http_methods(["GET", "POST"])
def command_form(request: HttpRequest, action: str) -> HttpResponse:
    try:
        return _command_form(request, action)
    except _Refused as refused:
        return refused.response


def _command_form(request: HttpRequest, action: str) -> HttpResponse:
    form_class = ACTIONS.get(action)
    if form_class is None:
        raise _Refused(404, "not_found", f"No blotter form '{action}'.")
    if not can_act(request.user):
        raise _Refused(403, "permission_denied", "Your role may look but not act: ask for the 'desk' role.")
    target = _load_target(form_class, request)
    if request.method == "GET":
        form = form_class(target=target)
        problem = form.problem()
        if problem:
            # the page closes the dialog and shows this as a toast (the dialog contract)
            raise _Refused(409, "not_applicable", problem)
        return _render(request, form, 200)

    form = form_class(request.POST, target=target)
    form.already_sent = _already_sent(request)
    if not form.is_valid():
        form.error_code = form.error_code or "validation_failed"
        return _render(request, form, 400)
    try:
        result = dispatch(
            form.topic,
            form.command(),
            actor=request.user.get_username(),
            idempotency_key=_idempotency_key(form.cleaned_data["token"]),
        )
        if result.status_code >= 400:  # a repeat of a refused form: dispatch replays the refusal
            raise _recorded_error(result.body)
    except ApplicationError as exc:
        form.apply_error(exc)
        form.renew(_load_target(form_class, request) if target is not None else None)
        return _render(request, form, 400)
    return JsonResponse(
        {
            "ok": True,
            "message": form.success_message(result.body),
            "result": result.body,
            # a resubmitted form (same token) answers its first result and appends nothing
            "replayed": not result.events and bool(result.body.get("events")),
        }
    )
