"""The live feed's fan-out: one channel-layer subscription per server process, one frame per batch.

With one group membership per websocket, every publisher batch was handled once per socket:
the in-memory layer deep-copied the batch into each socket's queue, channels_redis (which already
stores one message per process for the group) unpacked it into each socket's receive buffer, and
each consumer was woken, dispatched the message and JSON-encoded the same frame again
(docs/benchmarks.md §36: 100 clients, p99 1.3 s on Redis; the in-memory layer fell behind and
dropped). The hub is what high-fan-out websocket servers do instead: the process joins the group
`blotter.events` ONCE (one channel of its own, one receive loop on the event loop), the process's
sockets register with it in memory, and each batch is encoded to its text frame once and handed
to every local socket. Batches that are already received when the loop comes round share one
frame (events in seq order; the page sorts and applies several events per frame).

Frames are paced: at most one per `OMS_BLOTTER_FRAME_MS` (20 ms). A batch that arrives on a quiet
feed goes out when the loop comes round, as before; one that arrives within the interval after
the last frame waits for the rest of it and shares the next frame with whatever else arrived.
Without it every publisher commit was its own frame (with channels_redis each batch is its own
round trip), so 100 sockets at 200 commands/s meant ~40,000 websocket sends a second from one
process, on the cores the writers need (docs/benchmarks.md §43). The cost is at most one interval
of latency under load, below a screen's refresh; the gain is sends per second bounded by
sockets x 1000 / interval whatever the command rate.

One hub per (event loop, channel layer): daphne and each uvicorn worker run one loop, so one hub
per process; tests that run each body in a fresh loop get a fresh hub. The hub starts with its
first socket and stops (leaves the group) with its last.

Guarantees kept from the per-socket design (blotter/consumers.py):

* `register` returns once the hub's channel is in the group, so a socket that registers before
  reading the hello's seq receives every event after that seq (or sees a gap), none falls between;
* a slow socket never stalls the others: `deliver` only puts the frame on the socket's own bounded
  queue, whose owner closes the socket when it falls too far behind;
* a layer error (Redis restarted) restarts the receive loop, which joins the group again; so does
  a periodic re-join, because redis-py retries a broken connection by itself and a restarted,
  empty Redis may never surface as an error here. What was published meanwhile is lost and shows
  on the page as a seq jump (or, on a quiet feed, as pongs ahead of it), which it resyncs from
  /api/queries/events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger("blotter.fanout")

GROUP = "blotter.events"
# Joining again is one ZADD and one EXPIRE: often enough that a Redis restarted behind redis-py's
# own retries (which leave no error to react to) costs the process's sockets seconds of live
# feed, not the day it would take channels_redis's group_expiry to matter.
REJOIN_SECONDS = 5.0
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)  # after a layer error, growing


class Frame:
    """One `events` frame for every socket: its text, and its compressed form made once when the
    first socket that asked for compression takes it (`?compress=deflate`, blotter/consumers.py).

    Compression is the application's, not the websocket's permessage-deflate: that one keeps a
    zlib context per connection and so compresses every frame once per socket (at 100 desks the
    server's main work, docs/benchmarks.md §43); this one is a zlib stream per frame, shared.
    """

    __slots__ = ("_deflated", "text")

    LEVEL = 1  # JSON of events: ~7x smaller at level 1; higher levels cost more for a few %

    def __init__(self, text: str) -> None:
        self.text = text
        self._deflated: bytes | None = None

    @property
    def deflated(self) -> bytes:
        if self._deflated is None:
            self._deflated = zlib.compress(self.text.encode(), self.LEVEL)
        return self._deflated


class Subscriber(Protocol):
    def deliver(self, frame: Frame) -> None:
        """Take one frame; must not block (queue it and return)."""


def encode_frame(events: Sequence[dict[str, Any]]) -> str:
    """The `events` text frame, as the consumer always sent it (compact JSON)."""
    return json.dumps({"type": "events", "events": list(events)}, separators=(",", ":"))


class Hub:
    """One group membership and one receive loop for every blotter socket of this event loop."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        # seconds between two frames at the least (module docstring); 0 = one per loop turn
        self.frame_interval: float = settings.OMS_BLOTTER_FRAME_INTERVAL
        self.subscribers: set[Subscriber] = set()
        self.channel_name = ""
        self._lock = asyncio.Lock()  # start and stop are awaited: registrations wait for them
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: list[dict[str, Any]] = []  # received, not yet handed out
        self._flush_handle: asyncio.Handle | None = None
        self._next_frame_at = 0.0  # the loop's time before which no frame goes out
        # what tests and diagnostics read: batches received, frames encoded, layer errors
        self.batches = 0
        self.frames = 0
        self.restarts = 0

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def register(self, subscriber: Subscriber) -> None:
        """Add the socket; returns once the hub's channel is in the group (see module docstring).

        Raises what the layer raises when the hub cannot start (Redis down): the socket is then
        not registered, and the consumer fails its handshake as it did with its own group_add.
        """
        async with self._lock:
            if not self._tasks:
                await self._start()
            self.subscribers.add(subscriber)

    async def unregister(self, subscriber: Subscriber) -> None:
        async with self._lock:
            self.subscribers.discard(subscriber)
            if not self.subscribers and self._tasks:
                await self._stop()

    def drop(self, subscriber: Subscriber) -> None:
        """Stop handing frames to a socket at once (it is closing); `unregister` follows."""
        self.subscribers.discard(subscriber)

    async def _start(self) -> None:
        channel_name = await self.layer.new_channel("blotter-hub")
        await self.layer.group_add(GROUP, channel_name)
        self.channel_name = channel_name
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._receive_loop()), loop.create_task(self._rejoin_loop())]

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.layer.group_discard(GROUP, self.channel_name)
        except Exception:  # the layer is down: the membership expires on its own
            log.warning("blotter hub: could not leave %s", GROUP, exc_info=True)
        self._pending.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    async def _receive_loop(self) -> None:
        failures = 0
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis restarted or unreachable: wait, then join again (a restarted Redis has
                # lost the membership); what was published meanwhile shows up as a seq jump
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                self.restarts += 1
                log.warning("blotter hub: channel layer error, again in %.1f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                await self._rejoin()
                continue
            failures = 0
            if message.get("type") == "oms.events" and message.get("events"):
                self._pending.append(message)
                if self._flush_handle is None:
                    # hand out once the loop comes round, or once the interval since the last
                    # frame is over: batches received by then share a frame
                    loop = asyncio.get_running_loop()
                    wait = self._next_frame_at - loop.time()
                    if wait > 0:
                        self._flush_handle = loop.call_later(wait, self._flush)
                    else:
                        self._flush_handle = loop.call_soon(self._flush)

    async def _rejoin(self) -> None:
        try:
            await self.layer.group_add(GROUP, self.channel_name)
        except Exception:
            log.warning("blotter hub: could not join %s", GROUP, exc_info=True)

    async def _rejoin_loop(self) -> None:
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            await self._rejoin()

    def _flush(self) -> None:
        self._flush_handle = None
        batches, self._pending = self._pending, []
        if not batches or not self._tasks:
            return
        self._next_frame_at = asyncio.get_running_loop().time() + self.frame_interval
        events = [e for batch in batches for e in batch["events"]]
        if len(batches) > 1:
            # stable: one publisher's batches are already in order, this only guards the page's
            # contract (seq order within a frame) if several publishers ever share the group
            events.sort(key=lambda e: e["seq"])
        frame = Frame(encode_frame(events))
        self.batches += len(batches)
        self.frames += 1
        for subscriber in list(self.subscribers):  # a copy: `deliver` may drop its socket
            subscriber.deliver(frame)


# one hub per event loop and channel layer (see module docstring)
_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """This event loop's hub on the default channel layer (a new one if the layer changed)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("the blotter's live feed needs a channel layer (CHANNEL_LAYERS)")
    loop = asyncio.get_running_loop()
    current = _hubs.get(loop)
    if current is None or current.layer is not layer:
        current = _hubs[loop] = Hub(layer)
    return current
