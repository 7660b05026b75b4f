"""HTTP under the ASGI server: requests run as WSGI in one hop on the server's thread pool
(oms/serving.py), and the API's token authentication answered from memory (oms/api/authentication.py).

The ASGI application is called in-process, as uvicorn or daphne would call it; its worker threads
have their own database connections, hence committed transactions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from oms.asgi import application, http_app
from oms.serving import WsgiOverAsgi, environ
from tests.conftest import uid


def _call(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes = b"",
    query: bytes = b"",
    chunks: list[bytes] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    app: Any = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            *([(b"authorization", f"Token {token}".encode())] if token else []),
            *(headers or []),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    parts = chunks if chunks is not None else [body]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run((app or application)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body_out


def _desk_token() -> str:
    user = User.objects.create_user(uid("u"), password="pw")
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    return Token.objects.create(user=user).key


def _create(token: str) -> tuple[int, dict[str, Any]]:
    body = {
        "commandType": "CreateOrderCommand",
        "clOrdID": uid("S"),
        "symbol": "ACME",
        "side": "Buy",
        "orderQty": "10",
        "ordType": "Limit",
        "price": "5",
        "account": "ACC",
        "handling": "Desk",
    }
    status, _, out = _call("POST", "/api/commands/orders", token=token, body=json.dumps(body).encode())
    return status, json.loads(out)


def test_http_runs_as_wsgi_on_the_server_thread_pool_by_default() -> None:
    assert isinstance(http_app, WsgiOverAsgi)
    assert http_app.threads >= 1


@pytest.mark.django_db(transaction=True)
def test_a_command_and_a_query_through_the_asgi_application_answer_as_the_api_does() -> None:
    token = _desk_token()
    status, created = _create(token)
    assert status == 201, created
    order_id = created["order"]["orderId"]

    status, headers, out = _call("GET", f"/api/queries/orders/{order_id}", token=token)

    assert status == 200
    assert headers[b"content-type"].startswith(b"application/json")
    assert json.loads(out)["orderId"] == order_id


@pytest.mark.django_db(transaction=True)
def test_the_query_string_reaches_the_view() -> None:
    token = _desk_token()
    for _ in range(2):
        _create(token)

    status, _, out = _call("GET", "/api/queries/orders", token=token, query=b"limit=1")

    assert status == 200
    assert len(json.loads(out)["results"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_body_sent_in_chunks_is_read_whole() -> None:
    token = _desk_token()
    body = json.dumps({"commandType": "AcceptOrderCommand", "orderId": "nope"}).encode()

    status, _, out = _call(
        "POST", "/api/commands/orders", token=token, chunks=[body[:7], body[7:20], body[20:]]
    )

    assert status == 404, out  # parsed whole: the order is unknown, not the JSON malformed
    assert json.loads(out)["error"]["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_an_oversized_body_is_a_413_and_changes_nothing(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    token = _desk_token()
    big = b"x" * 5000

    status, _, out = _call(
        "POST",
        "/api/commands/orders",
        token=token,
        body=big,
        headers=[(b"content-length", str(len(big)).encode())],
    )

    assert status == 413
    assert json.loads(out)["error"]["code"] == "payload_too_large"


@pytest.mark.django_db(transaction=True)
def test_without_a_token_the_api_answers_401_through_the_bridge() -> None:
    status, _, out = _call("GET", "/api/queries/orders")
    assert status in (401, 403)
    assert "error" in json.loads(out)


def test_the_wsgi_environ_carries_the_scope() -> None:
    env = environ(
        {
            "method": "GET",
            "path": "/oms/api/x",
            "root_path": "/oms",
            "query_string": b"a=1",
            "scheme": "https",
            "headers": [(b"x-forwarded-for", b"1.2.3.4"), (b"cookie", b"a=1"), (b"cookie", b"b=2")],
            "client": ("10.0.0.1", 1),
            "server": ("h", 443),
        },
        b"",
    )
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == ("/oms", "/api/x", "a=1")
    assert env["wsgi.url_scheme"] == "https"
    assert env["REMOTE_ADDR"] == "10.0.0.1"
    assert env["HTTP_COOKIE"] == "a=1,b=2"
    assert env["SERVER_PORT"] == "443"


@pytest.mark.django_db
def test_a_token_seen_recently_is_answered_without_a_query() -> None:
    token = _desk_token()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/queries/orders?limit=1").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/queries/orders?limit=1").status_code == 200

    assert not any("authtoken_token" in q["sql"] or "auth_group" in q["sql"] for q in queries)


@pytest.mark.django_db
def test_a_deleted_token_or_a_removed_role_takes_effect_at_once_in_the_process() -> None:
    token = _desk_token()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/queries/orders?limit=1").status_code == 200
    user = Token.objects.get(key=token).user

    user.groups.clear()
    assert api.get("/api/queries/orders?limit=1").status_code == 403

    Token.objects.filter(key=token).delete()
    assert api.get("/api/queries/orders?limit=1").status_code == 401


@pytest.mark.django_db
def test_with_the_cache_off_every_request_reads_the_token(settings: Any) -> None:
    settings.OMS_TOKEN_CACHE_SECONDS = 0
    token = _desk_token()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    api.get("/api/queries/orders?limit=1")

    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/queries/orders?limit=1").status_code == 200

    assert any("authtoken_token" in q["sql"] for q in queries)


@pytest.mark.parametrize("freeze", ["1", "0"])
def test_server_entry_points_freeze_the_startup_heap_unless_turned_off(freeze: str) -> None:
    """A server process that imports its ASGI or WSGI application has its startup heap (modules,
    app registry, URL conf and views) moved out of the garbage collector's reach, so full
    collections stop walking it on the request path; OMS_GC_FREEZE=0 leaves it collectable."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import gc, sys\n"
        "import oms.asgi\n"
        "asgi = gc.get_freeze_count()\n"
        "gc.unfreeze()\n"
        "import oms.wsgi\n"
        "print(asgi, gc.get_freeze_count(), 'oms.views' in sys.modules or 'oms.api.views' in sys.modules)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "oms.settings", "OMS_GC_FREEZE": freeze}
    env.pop("DATABASE_URL", None)  # an import touches no database
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    asgi, wsgi, views_loaded = done.stdout.split()
    if freeze == "1":
        assert int(asgi) > 100_000, done.stdout  # the whole loaded process, not a handful
        assert int(wsgi) > 100_000, done.stdout
        assert views_loaded == "True"  # the URL conf was loaded before freezing
    else:
        assert (int(asgi), int(wsgi)) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_list_page_is_freed_when_answered_not_left_for_the_cycle_collector() -> None:
    """A rendered API response sits in cycles with its view (DRF's renderer_context and
    view.response): the middleware breaks them, so the page's documents are freed by reference
    counting when the server drops the response. Left in the cycles, every page waited for a
    full collection, which then stopped the whole process (docs/benchmarks.md §45)."""
    import gc

    from django.core.wsgi import get_wsgi_application
    from django.db import connections

    token = _desk_token()
    created = [_create(token)[1]["order"]["orderId"] for _ in range(3)]
    _call("GET", "/api/queries/orders", token=token)  # caches and lazy imports: not the subject

    def documents_left_for_the_collector() -> list[str]:
        app = WsgiOverAsgi(get_wsgi_application(), threads=1)  # the middleware settings in force
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            status, _, out = _call("GET", "/api/queries/orders", token=token, query=b"limit=10", app=app)
            assert status == 200 and len(json.loads(out)["results"]) == 3
            gc.collect()
            return [o["orderId"] for o in gc.garbage if isinstance(o, dict) and "orderId" in o]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
            app.pool.submit(connections.close_all).result()  # the thread's own connection
            app.pool.shutdown()

    assert documents_left_for_the_collector() == []
    # without the middleware the very same request leaves them there (the check can fail)
    from django.test import override_settings

    with override_settings(
        MIDDLEWARE=[m for m in settings.MIDDLEWARE if not m.endswith("ReleaseRenderedResponseMiddleware")]
    ):
        assert sorted(documents_left_for_the_collector()) == sorted(created)
