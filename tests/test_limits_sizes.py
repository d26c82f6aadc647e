"""Size limits (the body, lists and strings, the document's tokens) and the whole-request deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.limit_settings import Limits
from gateway.settings import ProviderSettings, Settings

from .helpers import SB_BASE, SB_OPTIONS, Gateway, socialboards_app as sandbox_app
from .helpers import create_conversation as create
from .test_gateway_wire import served

MEGABYTE = 1024 * 1024
CHUNK = 64 * 1024
SB = ProviderSettings("sb", "socialboards", SB_BASE, SB_OPTIONS, "hook-secret")


@contextlib.asynccontextmanager
async def limited(sandbox: Starlette, *, upstream_timeout: float = 0.5, **limits: Any) -> AsyncIterator[Gateway]:
    settings = Settings(providers=(SB,), upstream_timeout=upstream_timeout, graphiql=False, limits=Limits(**limits))
    app = create_app(settings, transports={"sb": httpx.ASGITransport(app=sandbox)})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


@pytest.fixture
def sb() -> Starlette:
    return sandbox_app(demo_conversations=4)


@pytest.fixture
async def gateway(sb: Starlette) -> AsyncIterator[Gateway]:
    async with limited(sb, max_list_length=5, max_string_length=50, max_tokens=60) as running:
        yield running


async def requests_at(sandbox: Starlette) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url=SB_BASE) as client:
        count = len((await client.get("/_sandbox/requests")).json()["requests"])
        await client.delete("/_sandbox/requests")
    return count


# -- the body ---------------------------------------------------------------------------------------


class Body:
    """A request body of `size` bytes that counts how much of it was taken."""

    def __init__(self, size: int) -> None:
        self.size, self.taken = size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.size:
            self.taken += CHUNK
            yield b" " * CHUNK


@pytest.mark.parametrize("path", ["/graphql", "/webhooks/sb?secret=hook-secret"])
async def test_a_ten_megabyte_body_without_a_length_is_refused_after_reading_no_more_than_the_limit(
    gateway: Gateway, path: str
) -> None:
    body = Body(10 * MEGABYTE)
    response = await gateway.client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "over 1048576 bytes (server.max_body_bytes)" in response.json()["errors"][0]["message"]
    assert body.taken <= MEGABYTE + CHUNK  # a chunk past the limit, not the 10 MB


async def test_a_ten_megabyte_content_length_is_refused_before_reading_any_of_the_body(gateway: Gateway) -> None:
    body = Body(10 * MEGABYTE)
    headers = {"content-type": "application/json", "content-length": str(10 * MEGABYTE)}
    response = await gateway.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 413 and body.taken == 0


async def test_over_a_socket_the_413_comes_before_the_body_is_sent(sb: Starlette) -> None:
    """Under uvicorn: a client announces 10 MB and sends none of it; the answer comes at once."""
    app = create_app(Settings(providers=(SB,), graphiql=False), transports={"sb": httpx.ASGITransport(app=sb)})
    async with served(app) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (10 * MEGABYTE))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_a_body_under_the_limit_is_served(gateway: Gateway) -> None:
    padded = b'{"query": "{ providers { name } }"' + b" " * (MEGABYTE - 100) + b"}"
    response = await gateway.client.post("/graphql", content=padded, headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["data"] == {"providers": [{"name": "sb"}]}


# -- lists, strings, tokens ---------------------------------------------------------------------------

ADD = """mutation($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) { __typename } }"""
CONVERSATION_ID = "Q29udmVyc2F0aW9uOnNiOjE="  # Conversation:sb:1


async def test_lists_and_strings_over_their_limits_in_variables_are_refused_naming_their_path(gateway: Gateway, sb: Starlette) -> None:
    await requests_at(sb)
    six = [{"text": f"m{i}"} for i in range(6)]
    answer = await gateway.execute(ADD, {"id": CONVERSATION_ID, "messages": six})
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [
        ("INVALID_INPUT", "variable $messages: a list of 6 items; at most 5 are accepted (server.max_list_length)")]
    long_text = [{"text": "x" * 51}]
    answer = await gateway.execute(ADD, {"id": CONVERSATION_ID, "messages": long_text})
    assert answer["errors"][0]["message"] == (
        "variable $messages[0].text: a string of 51 characters; at most 50 are accepted (server.max_string_length)")
    assert await requests_at(sb) == 0


async def test_lists_and_strings_over_their_limits_in_the_document_are_refused_naming_their_path(gateway: Gateway, sb: Starlette) -> None:
    await requests_at(sb)
    six = ", ".join(f'{{text: "m{i}"}}' for i in range(6))
    answer = await gateway.execute(f'mutation {{ add: addMessages(conversationId: "{CONVERSATION_ID}", messages: [{six}]) {{ __typename }} }}')
    assert answer["errors"][0]["message"] == "add(messages:): a list of 6 items; at most 5 are accepted (server.max_list_length)"
    answer = await gateway.execute('{ conversations(filter: {search: "%s"}) { edges { node { id } } } }' % ("y" * 51))
    assert answer["errors"][0]["message"].startswith("conversations(filter:).search: a string of 51 characters")
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert await requests_at(sb) == 0


async def test_five_messages_at_the_limit_are_accepted(sb: Starlette) -> None:
    async with limited(sb, max_list_length=5) as gateway:
        conversation = await create(gateway)
        answer = await gateway.data(ADD, {"id": conversation, "messages": [{"text": f"m{i}"} for i in range(5)]})
    assert answer["addMessages"]["__typename"] == "AddMessagesPayload"


async def test_comments_count_as_tokens(gateway: Gateway) -> None:
    """The document is 5 tokens; 60 comment lines make it 65, over the limit of 60."""
    query = "{ providers { name } }"
    assert (await gateway.execute(query))["data"] == {"providers": [{"name": "sb"}]}
    answer = await gateway.execute("# padding\n" * 60 + query)
    assert answer["data"] is None
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [
        ("INVALID_INPUT", "the document has more than 60 tokens, comments included (server.max_tokens)")]
    assert "errors" not in await gateway.execute("# padding\n" * 50 + query)


# -- the deadline ---------------------------------------------------------------------------------------


async def test_a_request_slower_than_its_deadline_answers_by_it_on_both_http_paths(sb: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    """The vendor call is cut at the time left (not the 10 s upstream timeout): its field fails with
    REQUEST_TIMEOUT, and the answer keeps the rest (here: an inbox without that provider's rows)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sb), base_url=SB_BASE) as hooks:
        await hooks.post("/_sandbox/faults", json={"latencyMs": 3000})
    query = "{ conversations(first: 2) { edges { node { topic } } } }"
    async with limited(sb, upstream_timeout=10, request_timeout=0.3) as gateway:
        for send in (
            lambda: gateway.client.post("/graphql", json={"query": query}),  # the JSON-POST path
            lambda: gateway.client.get("/graphql", params={"query": query}, headers={"accept": "application/json"}),  # the view
        ):
            started = time.perf_counter()
            response = await send()
            elapsed = time.perf_counter() - started
            assert response.status_code == 200
            [error] = response.json()["errors"]
            assert error["extensions"] | {"requestId": None} == {"requestId": None, "code": "REQUEST_TIMEOUT", "provider": "sb"} and error["path"] == ["conversations"]
            assert error["message"] == "sb: no answer before the request's deadline"
            assert response.json()["data"] == {"conversations": {"edges": []}}
            assert elapsed < 1.0, elapsed
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.CRITICAL]


async def test_a_document_checked_once_is_judged_by_each_gateway_s_own_limits_every_time(sb: Starlette) -> None:
    """The literal check is kept per document and limits (gateway.memo): the same document is refused on
    every request by a gateway whose limit it breaks, and admitted by one whose limit it fits."""
    query = '{ conversations(filter: {search: "%s"}) { edges { node { id } } } }' % ("y" * 51)
    async with limited(sb, max_string_length=50) as strict, limited(sb, max_string_length=60) as loose:
        for _ in range(3):
            refused = await strict.execute(query)
            assert refused["errors"][0]["message"].startswith("conversations(filter:).search: a string of 51 characters")
            assert "errors" not in await loose.execute(query)


async def test_over_a_socket_a_body_with_a_length_is_answered_as_the_same_body_streamed_without_one(sb: Starlette) -> None:
    """A declared length within the limit skips the counting (uvicorn reads exactly that many bytes):
    at the limit and one byte over it, the answers match those to the same bytes sent chunked, which
    are counted."""
    app = create_app(Settings(providers=(SB,), graphiql=False), transports={"sb": httpx.ASGITransport(app=sb)})
    opening = b'{"query": "{ providers { name } }"'

    async def chunked(body: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK):
            yield body[start:start + CHUNK]

    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for size in (MEGABYTE, MEGABYTE + 1):
            body = opening + b" " * (size - len(opening) - 1) + b"}"
            assert len(body) == size
            headers = {"content-type": "application/json"}
            declared = await client.post("graphql", content=body, headers=headers)
            streamed = await client.post("graphql", content=chunked(body), headers=headers)
            assert "content-length" in declared.request.headers and "content-length" not in streamed.request.headers
            assert (declared.status_code, declared.content) == (streamed.status_code, streamed.content)
            assert declared.status_code == (200 if size == MEGABYTE else 413), declared.text
