"""Responses that leave nothing for the cycle collector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase


class ReleaseRenderedResponseMiddleware:
    """Breaks the reference cycles a rendered DRF response sits in, so its data is freed by
    reference counting when the server drops the response instead of at the next full garbage
    collection.

    DRF keeps `renderer_context` on the response ({"view", "request", "response"}) and the view
    keeps `view.response`: the response, its `data` (a list page: 1,000 documents, some 45,000
    dicts and lists) and the view form cycles. Every page therefore waited in the oldest
    generation, and the full collection that 20-odd such pages trigger freed them all at once,
    stopping the process (event loop, sockets and all) for 100-150 ms even with the startup heap
    frozen (docs/benchmarks.md §45). Once the response is rendered (it is by the time middleware
    sees it) neither reference is needed; `response.data` itself stays, for test clients."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        context: dict[str, Any] | None = getattr(response, "renderer_context", None)
        if context and getattr(response, "is_rendered", False):
            view = context.get("view")
            if getattr(view, "response", None) is response:
                view.response = None  # type: ignore[union-attr]
            response.renderer_context = {}  # type: ignore[attr-defined]
        return response
