"""The members of a live fan-out group (gateway/live.py): one subscriber each, and how an event's
frame reaches its socket.

A member holds no task and nothing of its admission: its group calls it for each event. When the
server offers `FRAMES` (gateway.serving's uvicorn protocol), a member whose socket takes data writes
the event's frame straight to it, the same bytes for every member with the same operation id;
elsewhere (the test client, other servers) it sends through ASGI. A member that falls `QUEUE_SIZE`
frames behind (its socket does not drain) is cut off with the same RATE_LIMITED error as a subscriber
the bus cuts off, and `complete`; the others go on.
"""

from __future__ import annotations

import asyncio
import struct
import types
from collections import deque
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Protocol

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.types.execution import PreExecutionError

from .access import SubscriptionAccount
from .context import Context
from .errors import ErrorCode, client_error
from .events import QUEUE_SIZE

FRAMES = "parley.websocket.frames"  # the ASGI scope extension a server offers a `FrameWriter` under
OVERFLOW_MESSAGE = f"subscriber fell more than {QUEUE_SIZE} events behind; reconnect with `since` set to your last cursor"
OVERFLOW = object()
END = object()  # a group's stream is over
GONE = (WebSocketDisconnect, RuntimeError, OSError, ConnectionError)  # what sending on a closed socket raises


class FrameWriter(Protocol):
    """A WebSocket connection that takes frames encoded by the app (no extension negotiated)."""

    def frame_ready(self) -> bool:
        """Open, and its transport takes data without waiting."""
        ...

    def write_frame(self, frame: bytes) -> None: ...

    async def frame_drained(self) -> bool:
        """Waits until the transport takes data; False once the connection is closed."""
        ...


def text_frame(body: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (RFC 6455 5.2), as a server sends."""
    size = len(body)
    if size < 126:
        return bytes((0x81, size)) + body
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + body
    return struct.pack("!BBQ", 0x81, 127, size) + body


class MemberHandler(Protocol):
    """The connection's graphql-transport-ws handler (gateway.live.LiveTransportWSHandler)."""

    operations: dict[str, Operation[Context, None]]

    def frame_writer(self) -> FrameWriter | None: ...

    async def send_text(self, text: str) -> None: ...

    def forget_member(self, member: Member) -> None: ...


class MemberGroup(Protocol):
    def remove(self, member: Member) -> None: ...


class Member:
    """One subscriber of a group. A frame is written at once when the socket takes it without waiting
    (the usual case: no task switch per subscriber and event); while a send waits for the socket to
    drain, later ones queue, up to QUEUE_SIZE."""

    __slots__ = ("handler", "operation", "group", "account", "writer", "prefix", "pending", "draining", "closing", "gone")

    def __init__(self, handler: MemberHandler, operation: Operation[Context, None], group: MemberGroup,
                 account: SubscriptionAccount) -> None:
        self.handler, self.operation, self.group, self.account = handler, operation, group, account
        self.writer = handler.frame_writer()
        self.prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        self.pending: deque[bytes] | None = None  # created on the first wait: an empty deque is 760 bytes
        self.draining: asyncio.Task[None] | None = None  # sending what waits behind a send that blocked
        self.closing: asyncio.Task[None] | None = None  # sending its last frames once its group is done with it
        self.gone = False

    def deliver(self, payload: bytes, frames: dict[bytes, bytes]) -> None:
        """An event's encoded payload; `frames`: that event's frames by prefix, shared by members with the same id."""
        writer = self.writer
        if writer is not None and self.draining is None and writer.frame_ready():
            frame = frames.get(self.prefix)
            if frame is None:
                frame = frames[self.prefix] = text_frame(self.prefix + payload + b"}")
            writer.write_frame(frame)
        else:
            self.send(self.prefix + payload + b"}")

    def deliver_own(self, payload: dict[str, Any]) -> None:
        """A payload with errors: as its own stream would, each error carries this subscriber's request id."""
        self.send(self.prefix + orjson.dumps(errors_with_request_id(payload, self.account.request_id)) + b"}")

    def send(self, message: bytes) -> None:
        if self.closing is not None or self.gone:
            return
        if self.draining is not None:
            if self.pending is None:
                self.pending = deque()
            if len(self.pending) >= QUEUE_SIZE:
                self.finish(OVERFLOW)
            else:
                self.pending.append(message)
            return
        try:
            waiting = self._start(message)
        except GONE:
            self._lost()
            return
        if waiting is not None:
            self.draining = asyncio.create_task(self._drain(waiting))

    def _start(self, message: bytes) -> Awaitable[None] | None:
        """Sends `message` if the socket takes it now (None), else what finishes sending it."""
        if self.writer is not None:
            if self.writer.frame_ready():
                self.writer.write_frame(text_frame(message))
                return None
            return self._write_when_drained(self.writer, message)
        send = self.handler.send_text(message.decode())
        try:
            waiting = send.send(None)
        except StopIteration:
            return None
        return _resumed(send, waiting)

    @staticmethod
    async def _write_when_drained(writer: FrameWriter, message: bytes) -> None:
        if not await writer.frame_drained():
            raise ConnectionError("the WebSocket is closed")
        writer.write_frame(text_frame(message))

    async def _drain(self, waiting: Awaitable[None]) -> None:
        try:
            await waiting
            while self.pending:
                waiting_next = self._start(self.pending.popleft())
                if waiting_next is not None:
                    await waiting_next
        except GONE:
            self._lost()
        finally:
            self.draining = None

    def _lost(self) -> None:
        """Its socket is gone: it leaves the group; its handler ends the operation (and settles it)."""
        self.gone = True
        self.group.remove(self)

    def finish(self, end: object) -> None:
        """Its group's stream is over (`_END`, or a PreExecutionError), or it fell behind (OVERFLOW): it
        leaves the group and sends its last frames, then `complete`, in a task of its own."""
        if self.closing is None and not self.gone:
            self.group.remove(self)
            self.closing = asyncio.create_task(self._close(end))

    async def _close(self, end: object) -> None:
        try:
            if self.draining is not None:
                await asyncio.wait((self.draining,))
            if self.gone:
                return
            if end is OVERFLOW:
                self.account.overflowed(ErrorCode.RATE_LIMITED.value)
                await self._send_now(self.prefix + orjson.dumps(errors_with_request_id(overflow_payload(), self.account.request_id)) + b"}")
            if isinstance(end, PreExecutionError):  # the group's stream refused to start: as strawberry answers it
                await self.operation.send_initial_errors(end.errors or [])
                return
            operation = self.operation
            if not operation.completed:
                operation.completed = True  # as strawberry's Operation does before its last message
                self.handler.operations.pop(operation.id, None)
                await self._send_now(b'{"id":' + orjson.dumps(operation.id) + b',"type":"complete"}')
        except GONE:
            pass  # the connection is gone; its handler ends it
        finally:
            self.handler.forget_member(self)
            self.account.settle()

    async def _send_now(self, message: bytes) -> None:
        waiting = self._start(message)
        if waiting is not None:
            await waiting

    def leave(self) -> None:
        """The client completed the operation, or its connection ended."""
        self.group.remove(self)
        for task in (self.draining, self.closing):
            if task is not None:
                task.cancel()
        self.account.settle()


@types.coroutine
def _resumed(send: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, None, None]:
    """Finishes a coroutine that was started by hand and suspended on `waiting` (what it yielded to
    the event loop): waits for that, then lets the coroutine go on."""
    try:
        yield waiting
    except BaseException:
        send.close()
        raise
    yield from send.__await__()


def overflow_payload() -> dict[str, Any]:
    """What a subscriber the bus cuts off receives (the subscription resolver's error, as strawberry writes it)."""
    return {"data": None, "errors": [client_error(OVERFLOW_MESSAGE, ErrorCode.RATE_LIMITED).formatted]}


def errors_with_request_id(payload: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """`payload` with `extensions.requestId` on each error, as `access.with_request_id` adds it."""
    if request_id is None or not payload.get("errors"):
        return payload
    errors = [{**error, "extensions": {**(error.get("extensions") or {}), "requestId": request_id}} for error in payload["errors"]]
    return {**payload, "errors": errors}
