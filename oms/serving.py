"""HTTP under the ASGI server in one thread hop: Django's WSGI handler run in a thread pool.

Every view of the OMS is synchronous (the write path holds a database transaction). Django's
ASGI handler runs such a request as: a new per-request thread (`ThreadSensitiveContext`), then a
`sync_to_async` hop into it for each middleware's request and response halves and for the view,
about fifteen thread switches per request (docs/benchmarks.md: profile of the ASGI path). Here
an HTTP request's body is read on the event loop, then the whole request (middleware, view,
response) runs as plain WSGI in one call on a long-lived worker thread, whose database
connection is reused from request to request; the response goes back over the loop. Websockets
are untouched (Channels, on the loop).

A body is buffered up to DATA_UPLOAD_MAX_MEMORY_SIZE plus a headroom for form uploads, the rest
is read and dropped: Django answers such a request 413 (PayloadTooLargeMiddleware) and the server
never buffers an unbounded body.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def freeze_startup_heap() -> int:
    """Move everything the server process has built by now (modules, the app registry, the URL
    conf, ccxt's exchange classes: some 340,000 objects) out of the cyclic garbage collector's
    reach (`gc.freeze`), so a full collection no longer walks them. Without it the collection that
    every few dozen large responses trigger walked them all and stopped the whole process, its
    event loop and websockets with it, for 300 ms or more (docs/benchmarks.md §45). Returns the
    number of objects frozen (0 with OMS_GC_FREEZE off)."""
    if not settings.OMS_GC_FREEZE:
        return 0
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (loads the URL conf and the views now, not on a request)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


# a form upload may exceed the JSON limit (Django checks non-file fields); keep headroom for it
_UPLOAD_HEADROOM = 10 * 1024 * 1024


class WsgiOverAsgi:
    """An ASGI application for `http` scopes that runs a WSGI application on `threads` threads."""

    def __init__(self, wsgi: WSGIApp, *, threads: int) -> None:
        self.wsgi = wsgi
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="oms-http")
        return self._pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await _read_body(receive, _body_limit())
        if body is None:
            return  # the client went away
        status, headers, chunks = await asyncio.get_running_loop().run_in_executor(
            self.pool, self._run, scope, body
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    def _run(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: chunks.append(data)  # the legacy write() callable

        chunks: list[bytes] = []
        result = self.wsgi(environ(scope, body), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: connections back, signals
        status, headers = started
        return (
            int(status.split(" ", 1)[0]),
            [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers],
            chunks,
        )


def _body_limit() -> int | None:
    # None disables the limit (Django's documented setting); the stubs type it int
    limit = cast("int | None", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return None if limit is None else limit + _UPLOAD_HEADROOM


async def _read_body(receive: Receive, limit: int | None) -> bytes | None:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is None or size <= limit + 1:
            parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI http scope (as asgiref's WsgiToAsgi builds it)."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    env: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 0),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        env["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        value = raw_value.decode("latin1")
        env[key] = f"{env[key]},{value}" if key in env else value
    # a chunked body has no Content-Length; WSGI reads exactly CONTENT_LENGTH bytes of the
    # buffered body (unset, Django would read none)
    env.setdefault("CONTENT_LENGTH", str(len(body)))
    return env
