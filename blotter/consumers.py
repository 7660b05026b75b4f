"""The blotter's live feed: a websocket that relays the committed event stream to the page.

Protocol (JSON text frames; see docs/design/blotter-live.md):

* server -> client on connect: `{"type": "hello", "seq": <max committed seq>, "user": ..., "canAct": bool}`
* server -> client per publisher batch: `{"type": "events", "events": [<event dicts, seq order>]}`,
  the same dicts as GET /api/queries/events. The global seq has no gaps, so the page detects a
  lost batch (`seq != last + 1`) and resyncs from /api/queries/events?afterSeq=<last>.
* client -> server `{"type": "ping"}` -> `{"type": "pong", "seq": <max committed seq>}`: lets a
  quiet page notice that it missed the last batch (the pong's seq stays ahead of what it has).

Only authenticated users with a reading role (desk, viewer, superuser) may connect; the Origin
is checked by AllowedHostsOriginValidator around the whole websocket router (oms/asgi.py).
The publisher (oms.core.publishing) sends `{"type": "oms.events", "events": [...]}` to the
group `blotter.events`.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from oms.core import metrics
from oms.core.access import can_command, can_read
from oms.core.models import EventSequence

GROUP = "blotter.events"
# close codes (4000-4999 are the application's): the page does not reconnect after these
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def max_seq() -> int:
    """The last committed seq (0 before the first event)."""
    return EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0


class BlotterConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []  # joined explicitly after the role check

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed, acts = await database_sync_to_async(lambda: (can_read(user), can_command(user)))()
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # join before reading the seq: every event after `seq` then reaches this socket (or is
        # visible as a gap), never falls between the two
        await self.channel_layer.group_add(GROUP, self.channel_name)
        self.joined = True
        metrics.websocket_connected()
        await self.accept()
        seq = await database_sync_to_async(max_seq)()
        await self.send_json({"type": "hello", "seq": seq, "user": user.get_username(), "canAct": acts})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            metrics.websocket_disconnected()
            await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "ping":
            seq = await database_sync_to_async(max_seq)()
            await self.send_json({"type": "pong", "seq": seq, "id": message.get("id")})
        else:
            await self.send_json(
                {"type": "error", "code": "unknown_message", "message": 'Expected {"type": "ping"}.'}
            )

    async def oms_events(self, message: dict[str, Any]) -> None:
        # desk and viewer both read every order and execution (roles differ only in commands);
        # a per-role filter would go here
        events = message.get("events") or []
        if events:
            await self.send_json({"type": "events", "events": events})

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))
