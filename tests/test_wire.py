"""`providers._wire.VendorHttp` on real loopback sockets: keep-alive, a connection the vendor closed,
timeouts, refused connections, bodies and compressed answers; and the requests it builds itself are
the ones httpx would build."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers._http import make_client, send
from providers._wire import VendorHttp, transport
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
            assert (await client.request("GET", "x")).json() == {}
    assert len(server.connections) == 1


async def test_a_pooled_connection_the_server_closed_is_replaced_not_reused(server: Server) -> None:
    async with make_client(server.url) as client:
        assert (await client.request("GET", "x")).status_code == 200
        server.connections[0].close()  # the vendor drops the idle keep-alive connection
        await asyncio.sleep(0.05)
        assert (await client.request("GET", "x")).status_code == 200
    assert len(server.connections) == 2


async def test_the_body_and_headers_reach_the_vendor_and_the_answers_headers_come_back(server: Server) -> None:
    server.answer = lambda _: ok(b'{"a": 1}', "Retry-After: 7", "X-Two: 1", "X-Two: 2")
    async with make_client(server.url, headers={"Authorization": "App key"}) as client:
        response = await client.request("POST", "conversations", params={"x": 1}, json={"text": "hé"})
    head, _, body = server.received[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /conversations?x=1 HTTP/1.1")
    assert b"\r\nauthorization: app key\r\n" in head.lower()
    assert json.loads(body) == {"text": "hé"}
    assert response.json() == {"a": 1}
    assert response.headers["retry-after"] == "7" and response.headers.getall("x-two") == ["1", "2"]


async def test_a_gzip_answer_is_decoded(server: Server) -> None:
    packed = gzip.compress(b'{"ok": true}')
    server.answer = lambda _: ok(packed, "Content-Encoding: gzip")
    async with make_client(server.url) as client:
        assert (await client.request("GET", "x")).json() == {"ok": True}


async def test_a_vendor_that_never_answers_is_a_timeout(server: Server) -> None:
    server.answer = lambda _: None
    async with make_client(server.url, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(ProviderTimeoutError):
            await send(client, client.build_request("GET", "x"), provider="v", idempotent=True)


async def test_a_refused_connection_is_unavailable() -> None:
    async with make_client("http://127.0.0.1:9/", timeout=httpx.Timeout(1.0)) as client:  # discard port: nothing listens
        with pytest.raises(ProviderUnavailableError, match="ConnectError"):
            await send(client, client.build_request("GET", "x"), provider="v", idempotent=True)


async def test_a_form_body_is_sent_as_httpx_encodes_it(server: Server) -> None:
    async with make_client(server.url) as client:
        await client.request("POST", "token", data={"grant_type": "refresh_token", "x": "a b&c"})
    head, _, body = server.received[0].partition(b"\r\n\r\n")
    assert b"\r\ncontent-type: application/x-www-form-urlencoded\r\n" in head.lower()
    assert body == b"grant_type=refresh_token&x=a+b%26c"


# What the adapters pass: relative paths (ids percent-escaped or digits) and flat query params.
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_scalar = st.one_of(_text, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False))
_params = st.one_of(st.none(), st.dictionaries(st.text("abcXYZ_[]", min_size=1, max_size=6),
                                                st.one_of(_scalar, st.lists(_scalar, max_size=3)), max_size=4))
_segment = st.one_of(st.sampled_from(["conversations", "ccaas", "1", ".", "..", "%2F", "%2f", "a%20b", "%zz", "é", "a b"]),
                     st.text("abc-._~%?#:@0123456789", max_size=5))
_path = st.lists(_segment, min_size=1, max_size=4).map("/".join) | st.just("https://elsewhere.example/token")


_BASES = ("http://127.0.0.1:9/", "http://h:1/api/v2")
_OURS = {base: VendorHttp(base) for base in _BASES}
_THEIRS = {base: httpx.Client(base_url=base) for base in _BASES}


@settings(max_examples=400, deadline=None)
@given(path=_path, params=_params, leading=st.booleans(), base=st.sampled_from(_BASES))
def test_a_request_is_built_byte_for_byte_as_httpx_builds_it(path: str, params: dict | None, leading: bool, base: str) -> None:
    url = ("/" + path) if leading and not path.startswith("http") else path
    try:
        expected = _THEIRS[base].build_request("GET", url, params=params)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            _OURS[base].build_request("GET", url, params=params)
        return
    built = _OURS[base].build_request("GET", url, params=params, headers={"Authorization": "App k"})
    assert built.url == str(expected.url)
    assert built.headers["authorization"] == "App k" and built.body is None


def test_a_json_body_is_the_same_json_with_its_content_type() -> None:
    body = {"text": "hé \u2028", "n": [1, 2.5, None, True], "nested": {"a": ""}}
    built = VendorHttp("http://h/").build_request("POST", "x", json=body)
    assert json.loads(built.body) == body and built.headers["content-type"] == "application/json"


def test_the_requests_adapters_make_are_built_without_httpx() -> None:
    client = VendorHttp("http://h/")
    client.build_request("GET", "ccaas/1/conversations/a%2Fb/messages", params={"limit": 50, "orderBy": ["createdAt:DESC"]})
    client.build_request("POST", "/chat/conversations/17", json={"text": "x"}, headers={"authorization": "Bearer t"})
    assert client._httpx is None  # the fallback, which costs a quarter of a vendor read, was not needed


def test_a_request_httpx_builds_keeps_the_callers_headers_and_drops_only_httpxs_defaults() -> None:
    built = VendorHttp("http://h/").build_request("POST", "https://elsewhere.example/token", data={"a": "1"},
                                                  headers={"Accept": "application/json", "Authorization": "x"})
    assert built.headers["accept"] == "application/json" and built.headers["authorization"] == "x"
    assert "user-agent" not in built.headers and "host" not in built.headers
    assert built.url == "https://elsewhere.example/token" and built.body == b"a=1"


async def test_an_httpx_client_sends_the_request_httpx_built_and_one_built_elsewhere_as_it_is() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"Retry-After": "3"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://h/api/") as client:
        wire = transport(client)
        own = wire.build_request("GET", "x", params={"a": [1, 2]})
        response = await wire.send(own)
        elsewhere = VendorHttp("http://h/api/").build_request("POST", "y", json={"t": "hé"}, headers={"X-Key": "k"})
        await wire.send(elsewhere)
    assert own.url == "http://h/api/x?a=1&a=2" and wire.base_url == "http://h/api/"
    assert response.json() == {"ok": True} and response.headers["retry-after"] == "3"
    assert str(seen[1].url) == elsewhere.url and seen[1].method == "POST"
    assert seen[1].headers["x-key"] == "k" and seen[1].headers["content-type"] == "application/json"
    assert json.loads(seen[1].content) == {"t": "hé"}
