"""The blotter websocket (blotter/consumers.py) through the real ASGI stack of oms/asgi.py:
origin check, session authentication, roles, hello/events/ping protocol."""

from __future__ import annotations

import os
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from blotter.consumers import GROUP, max_seq
from blotter.routing import websocket_urlpatterns
from tests.conftest import uid

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
# the websocket stack of oms/asgi.py, without its in-process background runner
application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


@pytest.fixture(autouse=True)
def _private_channel_layer(settings: Any) -> None:
    """A private Redis prefix (parallel workers and other suites use the same group name)."""
    if django_settings.REDIS_URL:
        layer = dict(settings.CHANNEL_LAYERS["default"])
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test-consumer-{os.getpid()}-{uid()}"}
        settings.CHANNEL_LAYERS = {"default": layer}


def cookie_for(user: User | None) -> list[tuple[bytes, bytes]]:
    if user is None:
        return []
    client = Client()
    client.force_login(user)
    value = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return [(b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={value}".encode())]


def communicator(
    user: User | None, origin: tuple[bytes, bytes] | None = ORIGIN, path: str = "/ws/blotter/"
) -> WebsocketCommunicator:
    headers = [*cookie_for(user), *([origin] if origin else [])]
    return WebsocketCommunicator(application, path, headers=headers)


def run(coro_fn: Any) -> Any:
    return async_to_sync(coro_fn)()


def test_anonymous_is_refused(db: Any) -> None:
    comm = communicator(None)

    async def body() -> None:
        connected, _ = await comm.connect()
        assert not connected
        await comm.disconnect()

    run(body)


def test_foreign_origin_is_refused(desk_user: User) -> None:
    comm = communicator(desk_user, origin=(b"origin", b"https://evil.example.com"))

    async def body() -> None:
        connected, _ = await comm.connect()
        assert not connected
        await comm.disconnect()

    run(body)


def test_user_without_role_is_refused(db: Any) -> None:
    nobody = User.objects.create_user(username="nobody", password="x")

    comm = communicator(nobody)

    async def body() -> None:
        connected, _ = await comm.connect()
        assert not connected
        await comm.disconnect()

    run(body)


def test_viewer_gets_hello_with_current_seq(viewer_user: User, trader: Any) -> None:
    trader.client_order(100)
    seq = max_seq()
    assert seq > 0

    comm = communicator(viewer_user)

    async def body() -> None:
        connected, _ = await comm.connect()
        assert connected
        hello = await comm.receive_json_from(timeout=5)
        assert hello == {"type": "hello", "seq": seq, "user": "watcher", "canAct": False}
        await comm.disconnect()

    run(body)


def test_desk_receives_published_batches_and_pongs(desk_user: User, trader: Any) -> None:
    comm = communicator(desk_user)

    async def body() -> None:
        connected, _ = await comm.connect()
        assert connected
        hello = await comm.receive_json_from(timeout=5)
        assert hello["type"] == "hello" and hello["canAct"] is True
        events = [{"seq": hello["seq"] + 1, "topic": "order-events", "aggregateId": "O-x", "version": 1}]
        await get_channel_layer().group_send(GROUP, {"type": "oms.events", "events": events})
        assert await comm.receive_json_from(timeout=5) == {"type": "events", "events": events}
        # an empty batch is not forwarded; ping answers the committed seq
        await get_channel_layer().group_send(GROUP, {"type": "oms.events", "events": []})
        await comm.send_json_to({"type": "ping", "id": 7})
        assert await comm.receive_json_from(timeout=5) == {"type": "pong", "seq": hello["seq"], "id": 7}
        await comm.send_to(text_data="not json")
        answer = await comm.receive_json_from(timeout=5)
        assert answer["type"] == "error" and answer["code"] == "unknown_message"
        await comm.disconnect()
        # after disconnect the socket has left the group: nothing is delivered to it any more
        await get_channel_layer().group_send(GROUP, {"type": "oms.events", "events": events})
        assert await comm.receive_nothing(timeout=0.2)

    run(body)


@pytest.mark.django_db(transaction=True)
def test_pong_follows_commits(desk_user: User, trader: Any) -> None:
    comm = communicator(desk_user)

    async def body() -> None:
        assert (await comm.connect())[0]
        hello = await comm.receive_json_from(timeout=5)
        await sync_to_async(trader.client_order)(10)
        await comm.send_json_to({"type": "ping"})
        pong = await comm.receive_json_from(timeout=5)
        assert pong["seq"] > hello["seq"]
        await comm.disconnect()

    run(body)
