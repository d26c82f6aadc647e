"""Running an ASGI app under uvicorn, announcing it only once its address is bound: a port already in
use gets uvicorn's bind error and exit status 3, never a "listening on" line before it. On SIGINT or
SIGTERM the app's open subscriptions are ended first (`gateway.shutdown`), then uvicorn closes the
connections.

`parley serve` runs WebSockets on `FanoutWebSocketProtocol`: uvicorn's own default (its sans-I/O
`websockets` protocol) offering `gateway.live_members.FRAMES`, so a shared subscription writes each event's
frame once per socket without going through ASGI, and keeping less per idle connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from websockets.http11 import Request
from websockets.protocol import Protocol

from .live_members import FRAMES
from .shutdown import DRAIN_SECONDS, ON_SHUTDOWN, SEND_SECONDS

STARTUP_FAILURE = 3  # what uvicorn exits with when it cannot bind
# Read by the handshake alone (websockets' ServerProtocol parses its own copy): kept in the scope for
# the connection's life otherwise, about 0.5 KiB of bytes and tuples per idle connection.
HANDSHAKE_ONLY_HEADERS = frozenset({b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version",
                                    b"sec-websocket-extensions"})
logger = logging.getLogger("parley.serving")


class AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announce()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stops taking connections, lets the app end its subscriptions, then shuts down as uvicorn does."""
        end = getattr(getattr(self, "lifespan", None), "state", {}).get(ON_SHUTDOWN)
        if end is not None:
            for server in self.servers:
                server.close()
            try:
                await asyncio.wait_for(end(), DRAIN_SECONDS + SEND_SECONDS + 0.5)
            except Exception:  # shutting down goes on whatever happened here
                logger.exception("ending the open subscriptions failed")
        await super().shutdown(sockets=sockets)


class _Inbox:
    """The part of asyncio.Queue uvicorn's protocol uses for what it hands the app (`put_nowait`, `get`,
    `empty`), without the Queue's three deques: 2.3 KiB per idle connection."""

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        if self.waiters:
            waiter = self.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Any:
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        return self.items.pop(0)

    def empty(self) -> bool:
        return not self.items


class _Flag:
    """asyncio.Event without its deque until something waits (uvicorn's `writable`, set but while the
    transport's buffer is full)."""

    __slots__ = ("value", "waiters")

    def __init__(self) -> None:
        self.value = True
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> None:
        if self.value:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        await waiter


class FanoutWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default WebSocket protocol, plus `gateway.live_members.FrameWriter` in each connection's scope
    (under FRAMES, when no extension such as compression was negotiated: frames are then plain); and
    less kept per idle connection: the handshake's request and response (uvicorn keeps them, and so
    does the request parser's frame, for the connection's life) dropped once answered, and the
    handshake's own headers left out of the scope the app sees; lighter stand-ins for its queue and its
    `writable` event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if hasattr(self, "scope"):  # not when the handshake was refused
            self.scope["headers"] = [header for header in self.scope["headers"] if header[0] not in HANDSHAKE_ONLY_HEADERS]
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][FRAMES] = self  # type: ignore[assignment]  # ASGI extensions are free-form
        if not self.conn.reader.buffer:
            # The handshake parser waits for the first frame, its frame holding the request: a fresh
            # frame parser in the same state (nothing buffered: at a frame's start) holds nothing.
            self.conn.parser = Protocol.parse(self.conn)
            next(self.conn.parser)
        del self.request

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and hasattr(self, "response"):
            del self.response  # sent (or refused): nothing reads it again

    def frame_ready(self) -> bool:
        return self.writable.is_set() and not (self.close_sent or self.disconnected or self.transport.is_closing())

    def write_frame(self, frame: bytes) -> None:
        self.transport.write(frame)

    async def frame_drained(self) -> bool:
        await self.writable.wait()
        return not (self.close_sent or self.disconnected or self.transport.is_closing())


def run(app: Any, *, announce: Callable[[], None], **options: Any) -> int:
    """`uvicorn.run` with `announce()` called after the bind (before the workers start, with
    `workers` > 1, where the parent binds). The exit status: 0 after a clean stop."""
    options.setdefault("ws", FanoutWebSocketProtocol)
    config = uvicorn.Config(app, **options)
    try:
        if config.workers > 1:
            sock = config.bind_socket()  # logs the error and exits on failure
            announce()
            Multiprocess(config, sockets=[sock]).run()
            return 0
        server = AnnouncingServer(config, announce)
        server.run()
    except KeyboardInterrupt:
        return 0
    return 0 if server.started else STARTUP_FAILURE


def announce_lines(*lines: str) -> Callable[[], None]:
    def announce() -> None:
        print("\n".join(lines), flush=True)
        sys.stdout.flush()

    return announce
