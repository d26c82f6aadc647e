"""The fan-out bench's subscriber processes: thousands of graphql-transport-ws subscriptions each, and
the moment each `next` is read.

The subscribers are part of the measuring instrument, and they share the machine's cores with the
gateway they measure. Two clients:

- `raw` (the default): a minimal graphql-transport-ws client on an asyncio protocol. It sends the
  RFC 6455 handshake (checking the server's 101 and `Sec-WebSocket-Accept`), masked client frames
  (`connection_init`, `subscribe`, pongs), and parses the server's unmasked frames itself: one
  `data_received`, one clock reading, and a few slices per frame. It offers no compression (the server
  declines it anyway: `parley serve` runs with `ws_per_message_deflate=False`), and refuses what it does
  not expect (fragmented frames, a close, a 101 without the right accept key) as a failure.
- `websockets`: the `websockets` library's sans-I/O client, offering compression as browsers do; 1.8
  times the CPU per frame (17 against 10 µs at 5,000 subscribers), more than Parley's own per delivery.

A cheaper client makes the measured latency honest about the gateway, not the gateway faster: the bench
prints Parley's own CPU per delivery beside every latency, and the subscribers' CPU.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
import os
import struct
import time
from multiprocessing.connection import Connection
from typing import Any

MARKER = b"fanout event "
CONNECT_CONCURRENCY = 100  # handshakes in flight per subscriber process
CONNECT_TIMEOUT_SECONDS = 120.0
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class _Subscription(abc.ABC):
    """What both clients share: a `next` carrying the bench's marker is timed, `connection_ack`
    subscribes, anything else that is not a `next` ends the subscription (an error, `complete`)."""

    def __init__(self, received: list[tuple[int, float]], failures: list[str], subscribe: bytes) -> None:
        self.received, self.failures, self.subscribe = received, failures, subscribe
        self.transport: asyncio.Transport | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def message(self, raw: bytes, now: float) -> None:
        at = raw.find(MARKER)
        if at >= 0:
            end = digits = at + len(MARKER)
            while digits < len(raw) and 48 <= raw[digits] <= 57:
                digits += 1
            self.received.append((int(raw[end:digits]), now))
        elif b'"connection_ack"' in raw:
            self.send_text(self.subscribe)
            if not self.subscribed.done():
                self.subscribed.set_result(None)
        elif b'"type":"ping"' in raw:
            self.send_text(b'{"type":"pong"}')
        elif b'"next"' not in raw or b'"errors"' in raw:
            self.fail(raw[:160].decode(errors="replace"))

    @abc.abstractmethod
    def send_text(self, body: bytes) -> None: ...

    def fail(self, why: str) -> None:
        self.failures.append(why)
        if not self.subscribed.done():
            self.subscribed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done() or exc is not None:
            self.fail(f"connection lost: {exc}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def masked_frame(opcode: int, body: bytes) -> bytes:
    """A client's frame: FIN, `opcode`, masked with a fresh key (RFC 6455 5.3)."""
    key = os.urandom(4)
    size = len(body)
    head = bytes((0x80 | opcode, 0x80 | size)) if size < 126 else struct.pack("!BBH", 0x80 | opcode, 0xFE, size)
    if size >= 65536:
        raise ValueError("client frames here are small")
    masked = (int.from_bytes(body, "big") ^ int.from_bytes((key * (size // 4 + 1))[:size], "big")).to_bytes(size, "big")
    return head + key + masked


class RawSubscriber(_Subscription, asyncio.Protocol):
    def __init__(self, url: str, received: list[tuple[int, float]], failures: list[str], subscribe: bytes) -> None:
        super().__init__(received, failures, subscribe)
        self.authority, _, path = url.split("//", 1)[1].partition("/")
        self.path = "/" + path
        self.key = base64.b64encode(os.urandom(16))
        self.buffer = b""
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
                        % (self.path.encode(), self.authority.encode(), self.key))

    def send_text(self, body: bytes) -> None:
        if self.transport is not None:
            self.transport.write(masked_frame(TEXT, body))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer + data if self.buffer else data
        if not self.open:
            head, found, buffer = buffer.partition(b"\r\n\r\n")
            if not found:
                self.buffer = head
                return
            if not self._handshake(head):
                return
        at, size = 0, len(buffer)
        while size - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length, start = second & 0x7F, at + 2
            if length == 126:
                if size - at < 4:
                    break
                length, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length, start = int.from_bytes(buffer[at + 2:at + 10], "big"), at + 10
            if second & 0x80 or first & 0x70:
                self.fail("a masked or extended server frame")
                return
            if size - start < length:
                break
            at = start + length
            opcode = first & 0x0F
            if not first & 0x80:
                self.fail("a fragmented frame (not sent by the server under test)")
            elif opcode == TEXT:
                self.message(buffer[start:at], now)
            elif opcode == PING and self.transport is not None:
                self.transport.write(masked_frame(PONG, buffer[start:at]))
            elif opcode == CLOSE:
                code = int.from_bytes(buffer[start:start + 2], "big") if length >= 2 else None
                self.fail(f"closed by the server: {code} {buffer[start + 2:at].decode(errors='replace')}")
            elif opcode != PONG:
                self.fail(f"an unexpected frame, opcode {opcode}")
        self.buffer = buffer[at:]

    def _handshake(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines[1:])}
        accept = base64.b64encode(hashlib.sha1(self.key + ACCEPT_GUID).digest())
        if not lines[0].startswith(b"HTTP/1.1 101"):
            self.fail(f"handshake answered {lines[0][:60].decode(errors='replace')}")
        elif headers.get(b"sec-websocket-accept") != accept:
            self.fail("handshake: wrong Sec-WebSocket-Accept")
        elif headers.get(b"sec-websocket-protocol") != b"graphql-transport-ws":
            self.fail("handshake: no graphql-transport-ws subprotocol")
        else:
            self.open = True
            self.send_text(b'{"type":"connection_init"}')
            return True
        if self.transport is not None:
            self.transport.close()
        return False


class WebsocketsSubscriber(_Subscription, asyncio.Protocol):
    """On the `websockets` library's sans-I/O client, without its asyncio layer's per-frame futures."""

    def __init__(self, url: str, received: list[tuple[int, float]], failures: list[str], subscribe: bytes) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.uri import parse_uri

        super().__init__(received, failures, subscribe)
        # Offers compression as browsers do; whether the server takes it is the server's choice.
        self.protocol = ClientProtocol(parse_uri(url), subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                       extensions=[ClientPerMessageDeflateFactory()])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def send_text(self, body: bytes) -> None:
        self.protocol.send_text(body)

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        now = time.monotonic()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self.fail(f"handshake answered {event.status_code}")
                    return
                self.protocol.send_text(b'{"type":"connection_init"}')
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.message(event.data, now)
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None:
            for chunk in self.protocol.data_to_send():
                if chunk:
                    self.transport.write(chunk)


CLIENTS: dict[str, Any] = {"raw": RawSubscriber, "websockets": WebsocketsSubscriber}


def subscriber_process(client: str, urls: list[str], count: int, offset: int, subscription: str, pipe: Connection) -> None:
    """Holds `count` subscriptions until told to stop, then sends what each received and when."""
    asyncio.run(_subscribers(CLIENTS[client], urls, count, offset, subscription, pipe))


async def _subscribers(kind: Any, urls: list[str], count: int, offset: int, subscription: str, pipe: Connection) -> None:
    import orjson

    received: list[tuple[int, float]] = []  # (event number, CLOCK_MONOTONIC) per delivery
    failures: list[str] = []
    opened: list[_Subscription] = []
    slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
    subscribe = orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
    loop = asyncio.get_running_loop()

    async def one(n: int) -> None:
        url = urls[(offset + n) % len(urls)]
        host, port = url.split("//")[1].split("/")[0].split(":")
        async with slots:
            try:
                _, subscriber = await loop.create_connection(lambda: kind(url, received, failures, subscribe), host, int(port))
                opened.append(subscriber)
                await asyncio.wait_for(subscriber.subscribed, CONNECT_TIMEOUT_SECONDS)
            except Exception as exc:  # counted and reported
                failures.append(f"{type(exc).__name__}: {exc}"[:160])

    await asyncio.gather(*(one(n) for n in range(count)))
    used = os.times()
    pipe.send(("subscribed", count - len(failures), failures[:5], len(failures), used.user + used.system))
    stop = asyncio.Event()
    loop.add_reader(pipe.fileno(), stop.set)
    await stop.wait()
    loop.remove_reader(pipe.fileno())
    pipe.recv()
    used = os.times()
    pipe.send(("received", received, failures[:5], len(failures), used.user + used.system))
    for subscriber in opened:
        subscriber.close()
