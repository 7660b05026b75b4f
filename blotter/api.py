"""Saved views: JSON endpoints the blotter page uses to keep each user's grid layouts.

    GET    /blotter/api/views?view=orders   -> {"results": [SavedView, ...]}  (the user's own)
    POST   /blotter/api/views               {"view", "name", "state"} -> 200/201 SavedView (upsert
                                            by view+name; name "" = the layout last shown)
    DELETE /blotter/api/views/<id>          -> 204
    GET    /blotter/api/snapshot            -> the working set at one seq (blotter/snapshot.py)

Session-authenticated (CSRF-checked writes). Any user with a reading role may keep layouts (they
change nothing in the OMS). Bad input -> 400 `validation_failed` with per-field messages, in the
API's error shape; nothing is stored.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from blotter.models import SavedView
from blotter.snapshot import SNAPSHOTS
from oms.core.access import can_read

VIEWS = ("orders", "executions", "desk", "review", "quote-requests", "quotes")
MAX_STATE_BYTES = 32_000
MAX_VIEWS_PER_USER = 200
STATE_KEYS = {"columns", "filters", "sorters", "quick", "tree"}


def _error(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def _reader(request: HttpRequest) -> User | JsonResponse:
    """The logged-in user, if a reading role allows saved views; else the refusal to send."""
    user = request.user
    if not user.is_authenticated:
        return _error(401, "not_authenticated", "Log in first.")
    if not can_read(user):
        return _error(403, "permission_denied", "Your role does not allow this.")
    return user


def _validate(body: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    fields: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        return {}, {"non_field_errors": ["Expected a JSON object."]}
    view, name, state = body.get("view"), body.get("name", ""), body.get("state")
    if view not in VIEWS:
        fields["view"] = [f"Must be one of: {', '.join(VIEWS)}."]
    if not isinstance(name, str):
        fields["name"] = ["Must be a string."]
    elif len(name.strip()) > 64:
        fields["name"] = ["At most 64 characters."]
    if not isinstance(state, dict):
        fields["state"] = ["Must be an object."]
    else:
        unknown = sorted(set(state) - STATE_KEYS)
        if unknown:
            fields["state"] = [
                f"Unknown keys: {', '.join(unknown)} (allowed: {', '.join(sorted(STATE_KEYS))})."
            ]
        elif len(json.dumps(state)) > MAX_STATE_BYTES:
            fields["state"] = [f"At most {MAX_STATE_BYTES} bytes of JSON."]
        elif "columns" in state and not isinstance(state["columns"], list):
            fields["state"] = ["'columns' must be a list."]
    clean = {"view": view, "name": name.strip() if isinstance(name, str) else name, "state": state}
    return clean, fields


@require_http_methods(["GET", "POST"])
def views(request: HttpRequest) -> HttpResponse:
    user = _reader(request)
    if isinstance(user, JsonResponse):
        return user
    if request.method == "GET":
        qs = SavedView.objects.filter(user=user)
        view = request.GET.get("view")
        if view:
            if view not in VIEWS:
                return _error(
                    400,
                    "validation_failed",
                    "unknown view",
                    {"view": [f"Must be one of: {', '.join(VIEWS)}."]},
                )
            qs = qs.filter(view=view)
        return JsonResponse({"results": [v.to_api() for v in qs]})
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        return _error(400, "validation_failed", "malformed JSON", {"non_field_errors": ["Malformed JSON."]})
    clean, fields = _validate(body)
    if fields:
        return _error(400, "validation_failed", "invalid saved view", fields)
    try:
        with transaction.atomic():
            existing = (
                SavedView.objects.select_for_update()
                .filter(user=user, view=clean["view"], name=clean["name"])
                .first()
            )
            if existing is None:
                if SavedView.objects.filter(user=user).count() >= MAX_VIEWS_PER_USER:
                    return _error(
                        400,
                        "validation_failed",
                        "too many saved views",
                        {"name": [f"At most {MAX_VIEWS_PER_USER} saved views; delete one first."]},
                    )
                saved = SavedView.objects.create(user=user, **clean)
                return JsonResponse(saved.to_api(), status=201)
            existing.state = clean["state"]
            existing.save(update_fields=["state", "updated_at"])
            return JsonResponse(existing.to_api())
    except IntegrityError:  # a concurrent create of the same name: the other one won
        return _error(409, "conflict", "saved concurrently; retry")


@require_http_methods(["DELETE"])
def view_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _reader(request)
    if isinstance(user, JsonResponse):
        return user
    deleted, _ = SavedView.objects.filter(user=user, pk=pk).delete()
    if not deleted:
        return _error(404, "not_found", f"saved view {pk} not found")
    return HttpResponse(status=204)


async def snapshot(request: HttpRequest) -> HttpResponse:
    """GET /blotter/api/snapshot: the working set at one seq, NDJSON, gzip (blotter/snapshot.py).

    Built in a worker thread (never on the event loop) and shared per seq by `SNAPSHOTS`."""
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    user = await request.auser()
    refused = await sync_to_async(_reader_of)(user)
    if refused is not None:
        return refused
    snap, built = await sync_to_async(SNAPSHOTS.get_built)()
    SNAPSHOTS.keep_warm()  # the next page shares a build (pages open in bursts)
    body = snap.body
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    if not gzipped:  # a client that cannot inflate (curl without --compressed): plain NDJSON
        body = await sync_to_async(gzip.decompress, thread_sensitive=False)(body)
    response = HttpResponse(body, content_type="application/x-ndjson")
    if gzipped:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "no-store"
    response["X-OMS-Seq"] = str(snap.seq)
    # the build's wall time (shared: a build another request made): the browser's Resource Timing
    # shows it beside the download (bench/blotter_snapshot.py)
    response["Server-Timing"] = (
        f'snapshot;dur={snap.build_seconds * 1000:.1f};desc="{"built" if built else "shared"}"'
    )

    return response


def _reader_of(user: Any) -> JsonResponse | None:
    if not user.is_authenticated:
        return _error(401, "not_authenticated", "Log in first.")
    if not can_read(user):
        return _error(403, "permission_denied", "Your role does not allow this.")
    return None
