"""The live feed's fan-out (blotter/fanout.py): one group membership and one encoded frame per
batch for every socket of the process, through the real ASGI stack and the configured channel
layer (in-memory, or channels_redis under REDIS_URL); a stalled client over a real TCP websocket
(uvicorn, whose send waits for the client); a Redis restarted under the hub (a private
redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis.exceptions
import uvicorn
from asgiref.sync import sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from blotter import fanout
from blotter.consumers import CLOSE_TOO_SLOW, GROUP, BlotterConsumer, max_seq
from oms.core.publishing import ChannelLayerSink, Publisher
from tests.conftest import uid
from tests.test_blotter_consumer import ORIGIN, application, communicator, cookie_for, run


@pytest.fixture(autouse=True)
def _private_channel_layer(settings: Any) -> None:
    """A private Redis prefix (parallel workers and other suites use the same group name)."""
    if django_settings.REDIS_URL:
        layer = dict(settings.CHANNEL_LAYERS["default"])
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test-fanout-{os.getpid()}-{uid()}"}
        settings.CHANNEL_LAYERS = {"default": layer}


async def group_members(layer: Any) -> set[str]:
    """The channels in `blotter.events`, read from the layer's own storage."""
    if isinstance(layer, InMemoryChannelLayer):
        return set(layer.groups.get(GROUP, {}))
    members = await layer.connection(0).zrange(f"{layer.prefix}:group:{GROUP}", 0, -1)
    return {m.decode() for m in members}


async def connect_all(sockets: list[Any]) -> list[dict[str, Any]]:
    """Connect each socket in turn; their hellos."""
    hellos = []
    for comm in sockets:
        assert (await comm.connect())[0]
        hellos.append(await comm.receive_json_from(timeout=5))
    return hellos


def order_event(seq: int, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "topic": "order-events", "aggregateId": f"O-{seq}", "version": 1, **extra}


def test_one_frame_is_encoded_per_batch_for_every_socket(
    desk_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    real_encode = fanout.encode_frame

    def counting_encode(events: Any) -> str:
        encoded.append(real_encode(events))
        return encoded[-1]

    monkeypatch.setattr(fanout, "encode_frame", counting_encode)
    sockets = [communicator(desk_user) for _ in range(5)]

    async def body() -> None:
        hellos = await connect_all(sockets)
        layer = get_channel_layer()
        hub = fanout.hub()
        # one membership for the process, not one per socket
        assert await group_members(layer) == {hub.channel_name}
        seq = hellos[-1]["seq"]
        for k in range(1, 4):
            events = [order_event(seq + k)]
            await layer.group_send(GROUP, {"type": "oms.events", "events": events})
            frames = [await comm.receive_from(timeout=5) for comm in sockets]
            assert frames == [encoded[-1]] * len(sockets)
            assert json.loads(frames[0]) == {"type": "events", "events": events}
        assert (len(encoded), hub.batches, hub.frames) == (3, 3, 3)
        for comm in sockets:
            await comm.disconnect()

    run(body)


def test_compressed_sockets_share_one_zlib_stream_per_frame(
    desk_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`?compress=deflate`: events frames are binary, the text frame's JSON as one zlib stream,
    compressed once per frame whatever the number of such sockets; the hello stays text, and the
    sockets that did not ask get the text frame."""
    compressed: list[bytes] = []
    real_compress = zlib.compress

    def counting_compress(data: bytes, level: int = -1) -> bytes:
        compressed.append(real_compress(data, level))
        return compressed[-1]

    monkeypatch.setattr(fanout, "zlib", SimpleNamespace(compress=counting_compress))
    packed = [communicator(desk_user, path="/ws/blotter/?compress=deflate") for _ in range(3)]
    plain = [communicator(desk_user), communicator(desk_user, path="/ws/blotter/?compress=br")]

    async def body() -> None:
        hellos = await connect_all(packed + plain)  # text, whatever was asked
        layer = get_channel_layer()
        seq = max(h["seq"] for h in hellos)
        for k in range(1, 3):
            events = [order_event(seq + k, note="x" * 500)]
            await layer.group_send(GROUP, {"type": "oms.events", "events": events})
            got = [await comm.receive_output(timeout=5) for comm in packed]
            assert all(set(m) == {"type", "bytes"} for m in got)  # binary frames
            assert len({m["bytes"] for m in got}) == 1  # the same bytes for every socket
            assert got[0]["bytes"] == compressed[-1]
            text = zlib.decompress(got[0]["bytes"]).decode()
            assert json.loads(text) == {"type": "events", "events": events}
            assert len(got[0]["bytes"]) < len(text) / 3
            for comm in plain:  # an unknown `compress` is ignored: text frames
                assert await comm.receive_from(timeout=5) == text
        assert len(compressed) == 2  # once per frame
        for comm in packed + plain:
            await comm.disconnect()

    run(body)


def test_batches_received_together_share_one_frame_in_seq_order(desk_user: User, settings: Any) -> None:
    # The in-memory layer hands over messages that are already queued without yielding, which is
    # when the hub finds several at once (with channels_redis each batch is its own BZPOPMIN):
    # this test takes it whatever the suite's backend, and queues the batches on the hub's
    # channel as group_send does for each member, but without yielding in between (group_send
    # runs one task per member).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    sockets = [communicator(desk_user) for _ in range(2)]

    async def body() -> None:
        await connect_all(sockets)
        layer = get_channel_layer()
        hub = fanout.hub()
        # three batches before the hub's loop runs again; the second is older than the first (two
        # publishers): the frame is in seq order all the same
        batches = [[order_event(13), order_event(14)], [order_event(11), order_event(12)], [order_event(15)]]
        for events in batches:
            await layer.send(hub.channel_name, {"type": "oms.events", "events": events})
        for comm in sockets:
            frame = await comm.receive_json_from(timeout=5)
            assert [e["seq"] for e in frame["events"]] == [11, 12, 13, 14, 15]
            assert await comm.receive_nothing(timeout=0.1)
        assert (hub.batches, hub.frames) == (3, 1)
        for comm in sockets:
            await comm.disconnect()

    run(body)


def test_frames_are_paced_batches_within_the_interval_share_the_next(desk_user: User, settings: Any) -> None:
    """At most one frame per OMS_BLOTTER_FRAME_MS: the first batch on a quiet feed goes out at
    once; batches that arrive within the interval after it wait for its end and go out as one
    frame, in seq order; after a quiet interval the next batch goes out at once again."""
    settings.OMS_BLOTTER_FRAME_INTERVAL = 0.4
    sockets = [communicator(desk_user) for _ in range(3)]

    async def body() -> None:
        await connect_all(sockets)
        layer = get_channel_layer()
        hub = fanout.hub()
        assert hub.frame_interval == 0.4
        loop = asyncio.get_running_loop()

        async def send(*seqs: int) -> float:
            await layer.group_send(GROUP, {"type": "oms.events", "events": [order_event(s) for s in seqs]})
            return loop.time()

        async def receive_all() -> tuple[list[list[int]], float]:
            frames = [await comm.receive_json_from(timeout=5) for comm in sockets]
            return [[e["seq"] for e in f["events"]] for f in frames], loop.time()

        sent = await send(1)
        got, at = await receive_all()
        assert got == [[1]] * 3 and at - sent < 0.2  # a quiet feed: no wait
        # two batches, each its own layer round trip, 50 ms apart, within the interval
        first = at
        await send(2, 3)
        await asyncio.sleep(0.05)
        await send(4)
        got, at = await receive_all()
        assert got == [[2, 3, 4]] * 3
        assert at - first >= 0.4 - 0.02  # not before the interval after the previous frame
        assert (hub.batches, hub.frames) == (3, 2)
        await asyncio.sleep(0.5)  # a quiet interval: the next batch goes out at once again
        sent = await send(5)
        got, at = await receive_all()
        assert got == [[5]] * 3 and at - sent < 0.2
        for comm in sockets:
            assert await comm.receive_nothing(timeout=0.05)
            await comm.disconnect()

    run(body)


def test_a_hub_hundreds_of_batches_behind_loses_none(desk_user: User) -> None:
    """The hub's channel holds far more than the layers' default 100 messages: a server process
    whose loop is busy for a few hundred batches (200 commands/s is ~300 batches a second) still
    hands every one of them out; group_send would drop the rest silently."""
    comm = communicator(desk_user)
    batches = 300

    async def body() -> None:
        assert (await comm.connect())[0]
        base = (await comm.receive_json_from(timeout=5))["seq"]
        layer = get_channel_layer()
        messages = [{"type": "oms.events", "events": [order_event(base + k)]} for k in range(1, batches + 1)]
        if isinstance(layer, InMemoryChannelLayer):
            # queued on the hub's channel as group_send does for each member (dropped when full),
            # without yielding: the hub's loop sees none of them until all are queued
            channel = fanout.hub().channel_name
            for message in messages:
                with contextlib.suppress(ChannelFull):
                    await layer.send(channel, message)
        else:
            # another process's publisher, while this loop (the hub's) is blocked
            def publish() -> None:
                from channels_redis.core import RedisChannelLayer

                async def send_all() -> None:
                    other = RedisChannelLayer(**django_settings.CHANNEL_LAYERS["default"]["CONFIG"])
                    for message in messages:
                        await other.group_send(GROUP, message)
                    await other.close_pools()

                asyncio.run(send_all())

            sender = threading.Thread(target=publish)
            sender.start()
            sender.join()
        got: list[int] = []
        while len(got) < batches:
            frame = await comm.receive_json_from(timeout=10)
            got.extend(e["seq"] for e in frame["events"])
        assert got == list(range(base + 1, base + batches + 1))
        await comm.disconnect()

    run(body)


@pytest.mark.django_db(transaction=True)
def test_the_hub_leaves_the_group_with_its_last_socket(desk_user: User, viewer_user: User) -> None:
    desk, viewer, again = communicator(desk_user), communicator(viewer_user), communicator(viewer_user)

    async def body() -> None:
        layer = get_channel_layer()
        assert (await desk.connect())[0]
        hello = await desk.receive_json_from(timeout=5)
        hub = fanout.hub()
        assert (await viewer.connect())[0]
        await viewer.receive_json_from(timeout=5)
        assert fanout.hub() is hub and hub.running
        await desk.disconnect()
        assert hub.running and await group_members(layer) == {hub.channel_name}
        event = [order_event(hello["seq"] + 1)]
        await layer.group_send(GROUP, {"type": "oms.events", "events": event})
        assert await viewer.receive_json_from(timeout=5) == {"type": "events", "events": event}
        await viewer.disconnect()
        assert not hub.running
        assert await group_members(layer) == set()
        # the next socket starts it again, with a channel of its own
        old_channel = hub.channel_name
        assert (await again.connect())[0]
        await again.receive_json_from(timeout=5)
        assert hub.running and await group_members(layer) == {hub.channel_name} != {old_channel}
        await again.disconnect()

    run(body)


@pytest.mark.django_db(transaction=True)
def test_every_event_after_the_hello_reaches_each_socket(desk_user: User, trader: Any) -> None:
    """Sockets connect while a writer commits and the publisher sends: each receives every event
    after its hello's seq, once, in seq order (it joins before the seq is read)."""
    orders = 30
    sockets = [communicator(desk_user) for _ in range(4)]

    def write() -> None:
        try:
            for _ in range(orders):
                trader.client_order(10)
        finally:
            connection.close()

    async def body() -> None:
        publisher = Publisher([ChannelLayerSink(group=GROUP)], poll_interval=0.01)
        stop = asyncio.Event()
        publishing = asyncio.ensure_future(publisher.run(stop))
        while publisher.runners[0].cursor is None:
            await asyncio.sleep(0.01)
        writer = asyncio.ensure_future(sync_to_async(write, thread_sensitive=False)())
        hellos = []
        try:
            for comm in sockets:  # one socket every 50 ms while the writer commits
                assert (await comm.connect())[0]
                hellos.append((await comm.receive_json_from(timeout=5))["seq"])
                await asyncio.sleep(0.05)
            await writer
            last = await sync_to_async(max_seq)()
            for comm, after in zip(sockets, hellos, strict=True):
                got: list[int] = []
                while (got[-1] if got else after) < last:
                    frame = await comm.receive_json_from(timeout=10)
                    got.extend(e["seq"] for e in frame["events"] if e["seq"] > after)
                assert got == list(range(after + 1, last + 1))
        finally:
            stop.set()
            await publishing
            for comm in sockets:
                await comm.disconnect()
        assert hellos[0] < last  # the writer committed after the first socket's hello

    run(body)


# --- a stalled client over a real websocket ----------------------------------------------------------
class ThreadedServer:
    """uvicorn serving the websocket stack on a loop of its own in a thread: its websocket send
    waits while the client's TCP window is full, which is what a stalled client does to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        config = uvicorn.Config(application, lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.loop.close()


def ws_client(port: int, cookie: list[tuple[bytes, bytes]]) -> ClientConnection:
    headers = {k.decode(): v.decode() for k, v in [*cookie, ORIGIN]}
    url = f"ws://127.0.0.1:{port}/ws/blotter/"
    # closed explicitly by the test (the server's drop of another socket is what it waits for)
    return ws_connect(url, additional_headers=headers, max_size=None, ping_interval=None).__enter__()


class StalledClient:
    """A websocket client on a bare socket that stops reading after the hello (a client library
    reads ahead into memory), with a small receive window: the server's writes back up after a
    few frames."""

    def __init__(self, port: int, cookie: list[tuple[bytes, bytes]]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        headers = "".join(f"{k.decode()}: {v.decode()}\r\n" for k, v in [*cookie, ORIGIN])
        self.sock.sendall(
            (
                f"GET /ws/blotter/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\n{headers}\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._read()
        status, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert status.startswith(b"HTTP/1.1 101"), status

    def _read(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection without a close frame")
        return chunk

    def frame(self) -> tuple[int, bytes]:
        """The next (opcode, payload) from the server (whose frames are not masked)."""
        while True:
            if len(self.buffer) >= 2:
                size, at = self.buffer[1] & 0x7F, 2
                at = {126: 4, 127: 10}.get(size, 2)  # 16- or 64-bit extended length
                if at > 2 and len(self.buffer) >= at:
                    size = int.from_bytes(self.buffer[2:at], "big")
                if len(self.buffer) >= at + size:
                    opcode, payload = self.buffer[0] & 0x0F, self.buffer[at : at + size]
                    self.buffer = self.buffer[at + size :]
                    return opcode, payload
            self.buffer += self._read()

    def close_code(self) -> int:
        """Read on (the frames the server had queued) until its close frame: the code in it."""
        while True:
            opcode, payload = self.frame()
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big")


@pytest.mark.django_db(transaction=True)
def test_a_stalled_socket_is_closed_with_4408_while_the_others_keep_receiving(
    desk_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BlotterConsumer, "queue_limit", 4)
    cookie = cookie_for(desk_user)
    pad = "x" * 16384  # big frames fill the stalled client's TCP buffers in a few dozen
    with ThreadedServer() as server:
        readers = [ws_client(server.port, cookie) for _ in range(2)]
        stalled = StalledClient(server.port, cookie)
        start = json.loads(readers[0].recv(timeout=5))["seq"]
        for reader in readers[1:]:
            reader.recv(timeout=5)
        assert json.loads(stalled.frame()[1])["type"] == "hello"  # it reads nothing after this

        async def get_hub() -> fanout.Hub:
            return fanout.hub()

        hub: fanout.Hub = server.call(get_hub())
        assert len(hub.subscribers) == 3
        received: list[list[int]] = [[] for _ in readers]

        def read(k: int) -> None:
            while True:
                try:
                    frame = json.loads(readers[k].recv(timeout=10))
                except (TimeoutError, ConnectionClosed):
                    return
                received[k].extend(e["seq"] for e in frame["events"])
                if received[k][-1] >= final:
                    return

        limit = start + 2000  # the stalled socket is dropped long before
        final = limit  # the readers' last seq, once known
        threads = [threading.Thread(target=read, args=(k,)) for k in range(len(readers))]
        for thread in threads:
            thread.start()
        layer = get_channel_layer()
        seq = start

        def publish() -> None:
            nonlocal seq
            seq += 1
            server.call(
                layer.group_send(GROUP, {"type": "oms.events", "events": [order_event(seq, pad=pad)]})
            )
            while hub.batches < seq - start:  # pace: the hub's channel holds at most 100
                time.sleep(0.001)

        while len(hub.subscribers) == 3 and seq < limit:
            publish()
        final = seq + 20  # batches after the drop: the others still receive them
        while seq < final:
            publish()
        for thread in threads:
            thread.join(30)
        # the stalled client gets the frames it had not read, then the close
        assert stalled.close_code() == CLOSE_TOO_SLOW
        stalled.sock.close()
        assert final < limit + 20
        for got in received:
            assert got == list(range(start + 1, final + 1))
        for reader in readers:
            reader.close()
        deadline = time.monotonic() + 10
        while hub.running and time.monotonic() < deadline:  # every socket has left
            time.sleep(0.01)
        assert not hub.running


# --- Redis restarted under the hub ------------------------------------------------------------------
@pytest.fixture
def private_redis() -> Iterator[Any]:
    """A redis-server of this test's own (never the shared one) that can be killed and restarted."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        proc: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def kill(self) -> None:
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait(10)
                self.proc = None

    server = Server()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_the_hub_joins_again_after_redis_restarts(
    desk_user: User, settings: Any, private_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [private_redis.url]},
        }
    }
    monkeypatch.setattr(fanout, "REJOIN_SECONDS", 0.2)
    monkeypatch.setattr(fanout, "RETRY_SECONDS", (0.05, 0.2))
    comm = communicator(desk_user)

    async def body() -> None:
        assert (await comm.connect())[0]
        seq = (await comm.receive_json_from(timeout=5))["seq"]
        layer = get_channel_layer()
        before = [order_event(seq + 1)]
        await layer.group_send(GROUP, {"type": "oms.events", "events": before})
        assert await comm.receive_json_from(timeout=5) == {"type": "events", "events": before}
        # an empty Redis comes back on the same port: the group is gone with the old one
        await sync_to_async(private_redis.kill)()
        await sync_to_async(private_redis.start)()
        got: dict[str, Any] | None = None
        deadline = time.monotonic() + 30
        k = 1
        while got is None and time.monotonic() < deadline:
            k += 1
            try:
                await layer.group_send(GROUP, {"type": "oms.events", "events": [order_event(seq + k)]})
            except redis.exceptions.ConnectionError:  # the pool meets a dead connection first
                continue
            # (a timed-out receive_json_from would cancel the consumer: wait without it)
            if not await comm.receive_nothing(timeout=0.5):
                got = await comm.receive_json_from(timeout=5)
        assert got is not None and got["type"] == "events"
        assert got["events"][0]["seq"] > seq + 1  # published after the restart
        await comm.disconnect()
        assert await group_members(layer) == set()

    run(body)
