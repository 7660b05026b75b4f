"""The risk view's one read of its own: the venue dead letters (static/blotter/risk.js).

    GET /blotter/api/dead-letters?limit=50&resolved=false -> {"results": [DeadLetter, ...]}

A dead letter is a row the venue tasks write when a send gave up (retries exhausted, an outcome
still unknown after the re-queries: oms/venues/tasks.py), not an event: the feed never carries
one, so the page reads this list on its snapshot load, when an event that comes with one arrives
(a rejected order, a position marked `unknown_outcome:`), and every 30 s. Newest first; `id`
increases, so the page alerts on ids above the highest it has seen.

Session-authenticated like the saved views; any reading role (the desk's alerts are read-only).
Bad input -> 400 `validation_failed` with per-field messages.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from blotter.api import _error, _reader
from oms.core.parsing import iso
from oms.venues.models import VenueDeadLetter

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def dead_letter_to_api(row: VenueDeadLetter) -> dict[str, Any]:
    return {
        "deadLetterId": row.pk,
        "venue": row.venue,
        "task": row.task,
        "orderId": row.order_id,
        "clOrdID": row.cl_ord_id,
        "reason": row.reason,
        "error": row.error,
        "resolved": row.resolved,
        "createdAt": iso(row.created_at),
    }


def _params(request: HttpRequest) -> tuple[int, bool | None, dict[str, list[str]]]:
    fields: dict[str, list[str]] = {}
    limit = DEFAULT_LIMIT
    raw = request.GET.get("limit")
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            fields["limit"] = [f"A whole number from 1 to {MAX_LIMIT}."]
        else:
            limit = int(raw)
    resolved: bool | None = False
    flag = request.GET.get("resolved")
    if flag is not None:
        choices = {"true": True, "false": False, "any": None}
        if flag not in choices:
            fields["resolved"] = ["One of: true, false, any."]
        else:
            resolved = choices[flag]
    return limit, resolved, fields


def dead_letters(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    user = _reader(request)
    if isinstance(user, JsonResponse):
        return user
    limit, resolved, fields = _params(request)
    if fields:
        return _error(400, "validation_failed", "invalid query parameters", fields)
    rows = VenueDeadLetter.objects.order_by("-pk")
    if resolved is not None:
        rows = rows.filter(resolved=resolved)
    return JsonResponse({"results": [dead_letter_to_api(r) for r in rows[:limit]]})
