"""ASGI entry point: HTTP through Django, websockets through Channels (the blotter's live feed).

On the embedded default the same process also runs the background work (the event publisher,
interval beat entries): see oms/core/background.py. It starts on the first HTTP or websocket
scope (daphne sends no lifespan events), or at lifespan startup under servers that do.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
django_asgi_app = get_asgi_application()

from celery import Celery  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from blotter.routing import websocket_urlpatterns  # noqa: E402
from oms.celery import app as celery_app  # noqa: E402
from oms.core import background  # noqa: E402
from oms.serving import WsgiOverAsgi, freeze_startup_heap  # noqa: E402
from oms.venues.recording import recorder  # noqa: E402

# OMS_VENUE_RECORD_DIR: this server records its session (commands, venue answers, stream steps);
# started here, in the one process where the embedded default runs the venue tasks and streams
recorder.start_from_settings()


class InProcessWorkers:
    """Starts the in-process background runner with the server's event loop (when enabled), its
    beat entries on the project's Celery app (injected here, the composition root)."""

    def __init__(self, app: Any, *, celery: Celery) -> None:
        self.app = app
        self.celery = celery

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        background.ensure_started(self.celery)
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                background.ensure_started(self.celery)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await background.stop_current()
                await send({"type": "lifespan.shutdown.complete"})
                return


# HTTP: every view is synchronous, so by default the request runs as WSGI in one hop on a pool of
# long-lived threads (oms/serving.py); OMS_HTTP_THREADS=0 keeps Django's own ASGI handler
http_app: Any = (
    WsgiOverAsgi(get_wsgi_application(), threads=settings.OMS_HTTP_THREADS)
    if settings.OMS_HTTP_THREADS > 0
    else django_asgi_app
)

application = InProcessWorkers(
    ProtocolTypeRouter(
        {
            "http": http_app,
            # the channels stubs want their own URLPattern subclass, which path() never returns
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),  # type: ignore[arg-type]  # channels' routing types are looser than its stubs
        }
    ),
    celery=celery_app,
)

# last: what the process has built so far stays out of every garbage collection
freeze_startup_heap()
