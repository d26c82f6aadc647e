"""The pooled transport of `providers._http` on real loopback sockets: keep-alive, a connection the
vendor closed, timeouts, refused connections, bodies and compressed answers."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from providers._http import make_client, send
from providers.errors import ProviderTimeoutError, ProviderUnavailableError

Answer = Callable[[bytes], bytes | None]  # request head + body -> raw response (None: never answer)


def ok(body: bytes = b"{}", *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\ncontent-type: application/json\r\n{head}\r\n".encode() + body


@dataclass
class Server:
    url: str
    connections: list[asyncio.StreamWriter] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    answer: Answer = lambda _: ok()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A loopback HTTP/1.1 server that keeps connections open and answers with `server.answer`."""
    state = Server("")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections.append(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                request = head + (await reader.readexactly(length) if length else b"")
                state.received.append(request)
                response = state.answer(request)
                if response is None:
                    await asyncio.sleep(3600)
                writer.write(response or b"")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    async with listener:
        yield state
        for writer in state.connections:
            writer.close()


async def test_keep_alive_reuses_one_connection(server: Server) -> None:
    async with make_client(server.url) as client:
        for _ in range(3):
            assert (await client.get("x")).json() == {}
    assert len(server.connections) == 1


async def test_a_pooled_connection_the_server_closed_is_replaced_not_reused(server: Server) -> None:
    async with make_client(server.url) as client:
        assert (await client.get("x")).status_code == 200
        server.connections[0].close()  # the vendor drops the idle keep-alive connection
        await asyncio.sleep(0.05)
        assert (await client.get("x")).status_code == 200
    assert len(server.connections) == 2


async def test_the_body_and_headers_reach_the_vendor_and_the_answers_headers_come_back(server: Server) -> None:
    server.answer = lambda _: ok(b'{"a": 1}', "Retry-After: 7", "X-Two: 1", "X-Two: 2")
    async with make_client(server.url, headers={"Authorization": "App key"}) as client:
        response = await client.post("conversations?x=1", json={"text": "hé"})
    head, _, body = server.received[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /conversations?x=1 HTTP/1.1")
    assert b"\r\nauthorization: app key\r\n" in head.lower()
    assert json.loads(body) == {"text": "hé"}
    assert response.json() == {"a": 1}
    assert response.headers["retry-after"] == "7" and response.headers.get_list("x-two") == ["1", "2"]


async def test_a_gzip_answer_is_decoded(server: Server) -> None:
    packed = gzip.compress(b'{"ok": true}')
    server.answer = lambda _: ok(packed, "Content-Encoding: gzip")
    async with make_client(server.url) as client:
        assert (await client.get("x")).json() == {"ok": True}


async def test_a_vendor_that_never_answers_is_a_timeout(server: Server) -> None:
    server.answer = lambda _: None
    async with make_client(server.url, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(ProviderTimeoutError):
            await send(client, client.build_request("GET", "x"), provider="v", idempotent=True)


async def test_a_refused_connection_is_unavailable() -> None:
    async with make_client("http://127.0.0.1:9/", timeout=httpx.Timeout(1.0)) as client:  # discard port: nothing listens
        with pytest.raises(ProviderUnavailableError, match="ConnectError"):
            await send(client, client.build_request("GET", "x"), provider="v", idempotent=True)
