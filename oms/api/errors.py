"""One exception handler maps every error to the contract's shape:

    {"error": {"code": "<stable_snake_case>", "message": "...", "fields": {"field": ["..."]}}}

A 500 is a bug: it is logged with its traceback and still answers in the same shape. A body
over `DATA_UPLOAD_MAX_MEMORY_SIZE` is a 413 `payload_too_large`, for the API and the forms alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from oms.core.errors import ApplicationError

log = logging.getLogger(__name__)

_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.ParseError, "validation_failed"),
    (drf.ValidationError, "validation_failed"),
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "authentication_failed"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "throttled"),
]


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {}


def _too_large_body() -> dict[str, Any]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(
        "payload_too_large",
        f"the request body is larger than {limit} bytes",
        {"non_field_errors": [f"At most {limit} bytes."]},
    )


def payload_too_large() -> JsonResponse:
    return JsonResponse(_too_large_body(), status=413)


class PayloadTooLargeMiddleware:
    """Refuse a body whose Content-Length is over the limit before anything reads it (the CSRF
    check reads a form post's body first, and Django would answer its RequestDataTooBig with a
    400); a body that turns out too large while being read (chunked) is caught too."""

    def __init__(self, get_response: Callable[[Any], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: Any) -> HttpResponse:
        # None disables the limit (Django's documented setting); the stubs type it int
        limit = cast("int | None", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return payload_too_large()
        return self.get_response(request)

    def process_exception(self, request: Any, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return payload_too_large()
        return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, RequestDataTooBig):
        return Response(_too_large_body(), status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(error_body("internal_error", "internal error: it has been logged"), status=500)
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    detail = getattr(exc, "detail", None)
    if isinstance(exc, drf.ValidationError):
        message, fields = "invalid request", _fields(detail)
    elif isinstance(exc, drf.ParseError):
        message, fields = f"malformed request body: {detail}", {"non_field_errors": [str(detail)]}
    else:
        message, fields = str(detail), {}
    response.data = error_body(code, message, fields)
    return response


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"no such endpoint: {request.path}"), status=404)


def api_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "internal error: it has been logged"), status=500)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler404` of the root URLconf: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return api_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_server_error(request)
    return defaults.server_error(request)
