"""The depth ladder's read (static/blotter/ladder.js): the book query's document, or null.

    GET /blotter/api/book?venue=SIM&symbol=BTC-PERP -> {"book": {bids, asks, bestBid, ..., stale} | null}

The public query (`GET /api/queries/books/{venue}/{symbol}`) answers 404 for an instrument without
a book, which is right for an API client but, polled by a page, is a failed resource load in the
browser's console once a second for every order the desk selects without a book. This edge of the
blotter answers 200 with `null` instead; the document is the query's own (`rules.books`).
Session-authenticated like the saved views; a missing or oversized parameter answers 400
`validation_failed` with the field.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from blotter.api import _error, _reader
from oms.core.errors import NotFound
from rules.books import book_document

MAX_PARAM = 128


@require_GET
def book(request: HttpRequest) -> JsonResponse:
    user = _reader(request)
    if isinstance(user, JsonResponse):
        return user
    params = {name: request.GET.get(name, "") for name in ("venue", "symbol")}
    fields = {
        name: ["This field is required." if not value else f"At most {MAX_PARAM} characters."]
        for name, value in params.items()
        if not value or len(value) > MAX_PARAM or "\x00" in value
    }
    if fields:
        return _error(400, "validation_failed", "venue and symbol are required", fields)
    try:
        document = book_document(params["venue"], params["symbol"])
    except NotFound:
        return JsonResponse({"book": None})
    return JsonResponse({"book": document})
