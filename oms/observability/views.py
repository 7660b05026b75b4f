"""`/metrics` (Prometheus text format, protected), `/healthz` and `/readyz` (JSON probes).

Plain Django views, not DRF: the probes must not depend on the API's authentication or renderers,
and `/healthz` touches nothing but the process (no database, no session).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from oms.core import metrics
from oms.observability.collectors import DatabasePool, PublisherBacklog

log = logging.getLogger(__name__)

# read at scrape time (database, pool): not in the process-wide registry, whose families a
# multi-process scrape reads from the files instead
_SCRAPE_TIME = CollectorRegistry()  # no auto_describe: it would query at import
_SCRAPE_TIME.register(PublisherBacklog())
_SCRAPE_TIME.register(DatabasePool())


def _json_error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the caller may read the metrics: the bearer secret `OMS_METRICS_TOKEN`, or a
    staff or superuser by API token or session. Else the 401 or 403 to answer."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    secret = settings.OMS_METRICS_TOKEN
    user: Any = None
    if scheme.lower() == "bearer" and secret:
        if hmac.compare_digest(credential.strip().encode(), secret.encode()):
            return None
        return _json_error(401, "not_authenticated", "Invalid bearer secret.")
    if scheme.lower() == "token":
        try:
            user, _ = TokenAuthentication().authenticate_credentials(credential.strip())
        except AuthenticationFailed:
            return _json_error(401, "not_authenticated", "Invalid token.")
    else:
        user = request.user
    if not user.is_authenticated:
        return _json_error(401, "not_authenticated", "Authentication credentials were not provided.")
    if not (user.is_staff or user.is_superuser):
        return _json_error(403, "permission_denied", "Metrics are for staff and monitoring only.")
    return None


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body = generate_latest(metrics.registry()) + generate_latest(_SCRAPE_TIME)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: no database, no Redis (a liveness probe must not restart a web
    process because the database is down)."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: database reachable, Redis reachable (when configured), no unapplied
    migration. 200 or 503, each check "ok" or what failed."""
    checks: dict[str, str] = {"database": _check_database()}
    checks["migrations"] = _check_migrations() if checks["database"] == "ok" else "skipped: no database"
    for name, url in _redis_urls().items():
        checks[name] = _check_redis(url)
    ready = all(value == "ok" or value.startswith("skipped: not configured") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("readyz: database unreachable: %s", exc)
        return f"failed: {type(exc).__name__}"
    return "ok"


def _check_migrations() -> str:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        log.warning("readyz: migration check failed: %s", exc)
        return f"failed: {type(exc).__name__}"
    if plan:
        pending = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return f"failed: {len(plan)} unapplied ({pending})"
    return "ok"


def _redis_urls() -> dict[str, str]:
    """The Redis servers this deployment uses: channels and Celery (REDIS_URL), the streams."""
    urls = {"redis": settings.REDIS_URL}
    stream_url = getattr(settings, "OMS_STREAM_REDIS_URL", "")
    if stream_url and stream_url != settings.REDIS_URL:
        urls["redis_streams"] = stream_url
    return urls


def _check_redis(url: str) -> str:
    if not url:
        return "skipped: not configured"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        log.warning("readyz: redis unreachable: %s", exc)
        return f"failed: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"
