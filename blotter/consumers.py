"""The blotter's live feed: a websocket that relays the committed event stream to the page.

Protocol (JSON text frames; see docs/design/blotter-live.md):

* server -> client on connect: `{"type": "hello", "seq": <max committed seq>, "user": ..., "canAct": bool}`
* server -> client per publisher batch: `{"type": "events", "events": [<event dicts, seq order>]}`,
  the same dicts as GET /api/queries/events. With `?compress=deflate` in the URL these frames are
  binary, the same JSON as one zlib stream (RFC 1950; the browser's DecompressionStream("deflate")),
  compressed once per frame for every such socket (blotter/fanout.py `Frame`); hello, pong and
  error frames stay text. The global seq has no gaps, so the page detects a
  lost batch (`seq != last + 1`) and resyncs from /api/queries/events?afterSeq=<last>.
* client -> server `{"type": "ping"}` -> `{"type": "pong", "seq": <max committed seq>}`: lets a
  quiet page notice that it missed the last batch (the pong's seq stays ahead of what it has).

Only authenticated users with a reading role (desk, viewer, superuser) may connect; the Origin
is checked by AllowedHostsOriginValidator around the whole websocket router (oms/asgi.py).
The publisher (oms.core.publishing) sends `{"type": "oms.events", "events": [...]}` to the
group `blotter.events`. A socket does not join it: the process's hub (blotter/fanout.py) does,
once, and hands every socket the batch's frame, encoded once; the socket sends it from its own
bounded queue, so a slow client never holds up the others and is closed (CLOSE_TOO_SLOW, the page
reconnects and resyncs) when it falls `queue_limit` frames behind.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from blotter import fanout
from oms.core import metrics
from oms.core.access import can_command, can_read
from oms.core.models import EventSequence

GROUP = fanout.GROUP
# close codes (4000-4999 are the application's): the page does not reconnect after these two
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# ... and does after this one, then resyncs what it missed from the event feed by seq
CLOSE_TOO_SLOW = 4408


def max_seq() -> int:
    """The last committed seq (0 before the first event)."""
    return EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0


class BlotterConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []
    # No channel of its own on the layer: the hub receives for every socket of the process. An
    # alias that is not configured gives no layer (channels' get_channel_layer returns None).
    channel_layer_alias = "blotter.no-layer"
    # Frames queued for one socket before it counts as stalled. A frame holds one or more
    # batches and the publisher sends at most a few hundred batches a second, so this is seconds
    # of feed. Only a server whose websocket send waits for the client fills it (uvicorn, which
    # scripts/serve.sh runs); daphne buffers every send in Twisted and never waits.
    queue_limit = 500

    joined = False
    hub: fanout.Hub | None = None
    frames: asyncio.Queue[fanout.Frame] | None = None
    compress = False  # `?compress=deflate`: events frames binary, zlib (module docstring)
    sender: asyncio.Task[None] | None = None
    closing: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed, acts = await database_sync_to_async(lambda: (can_read(user), can_command(user)))()
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.compress = query.get("compress") == ["deflate"]
        # register before reading the seq: every event after `seq` then reaches this socket (or
        # is visible as a gap), never falls between the two; its frames wait in the queue until
        # the hello is out
        self.frames = asyncio.Queue(self.queue_limit)
        hub = fanout.hub()
        await hub.register(self)
        self.hub = hub
        self.joined = True
        metrics.websocket_connected()
        try:
            await self.accept()
            seq = await database_sync_to_async(max_seq)()
            if self not in hub.subscribers:  # dropped as too slow already: the close is on its way
                return
            await self.send_json({"type": "hello", "seq": seq, "user": user.get_username(), "canAct": acts})
            self.sender = asyncio.get_running_loop().create_task(self._send_frames())
        except BaseException:
            # the server gives a consumer that raised no websocket.disconnect: leave here
            await self.disconnect(1011)
            raise

    async def disconnect(self, code: int) -> None:
        if self.joined:
            self.joined = False
            metrics.websocket_disconnected()
            await self._leave()

    async def _leave(self) -> None:
        hub, self.hub = self.hub, None
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        if hub is not None:
            await hub.unregister(self)

    def deliver(self, frame: fanout.Frame) -> None:
        """From the hub: queue the frame, or drop this socket if it is `queue_limit` behind."""
        if self.frames is None or self.hub is None:
            return
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            self.hub.drop(self)
            # kept: the loop holds only a weak reference to a task
            self.closing = asyncio.get_running_loop().create_task(self._too_slow())

    async def _too_slow(self) -> None:
        # the page reconnects and resyncs what it missed from /api/queries/events by seq
        metrics.websocket_too_slow()
        await self._leave()
        await self.close(code=CLOSE_TOO_SLOW)

    async def _send_frames(self) -> None:
        assert self.frames is not None
        while True:
            frame = await self.frames.get()
            if self.compress:
                await self.send(bytes_data=frame.deflated)
            else:
                await self.send(text_data=frame.text)

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

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))
