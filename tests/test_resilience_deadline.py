"""The whole-request deadline: however many vendor calls a request makes in a row, each is cut to the
time left, so no request outlives `request_timeout` on any transport (the issue's acceptance: 4.5 s
vendor latency, request_timeout = 5, nothing over 5.5 s). Gateway and sandboxes under uvicorn on
loopback, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import orjson
import pytest
from strawberry.types import ExecutionResult
from websockets.asyncio.client import connect

from gateway.app import create_app
from gateway.guard import Guard
from gateway.limit_settings import Limits
from gateway.limits import within_deadline
from gateway.settings import ProviderSettings, Settings

from .helpers import no_collector_pauses, IB_API_KEY, IB_SENDER, PROVIDERS, global_id, ib_customer_writes, infobip_app, socialboards_app
from .test_gateway_wire import served

LATENCY_MS = 4500
REQUEST_TIMEOUT = 5.0
INBOX = "{ conversations(first: 5) { edges { node { topic lastMessage { text } } } } }"
READ = "query R($id: ID!) { conversation(id: $id) { topic messages(first: 5) { edges { node { text } } } } }"
CREATE = """mutation C($input: CreateConversationInput!) { createConversation(input: $input) {
  __typename ... on ConversationPayload { conversation { id messageCount } } } }"""
REPLY = """mutation A($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) {
  __typename ... on AddMessagesPayload { messages { text } } } }"""


@contextlib.asynccontextmanager
async def slow_vendors() -> AsyncIterator[tuple[str, str]]:
    """The gateway over a Socialboards and an Infobip sandbox, all three on sockets; its base URL and an
    Infobip conversation a customer wrote in to. Then every vendor call takes 4.5 s."""
    sb, ib = socialboards_app(demo_conversations=3), infobip_app(demo_conversations=3)
    async with served(sb, grace=0.1) as sb_url, served(ib, grace=0.1) as ib_url, httpx.AsyncClient(base_url=ib_url) as ib_hooks, \
            httpx.AsyncClient(base_url=sb_url) as sb_hooks:
        providers = (ProviderSettings("sb", "socialboards", sb_url, PROVIDERS["sb"].options),
                     ProviderSettings("ib", "infobip", ib_url, {"api_key": IB_API_KEY, "senders": {"WHATSAPP": IB_SENDER}}))
        limits = Limits(request_timeout=REQUEST_TIMEOUT, rate_limit=None, cost_rate_limit=None)
        app = create_app(Settings(providers=providers, upstream_timeout=10, graphiql=False, limits=limits))
        conversation = await ib_customer_writes(ib_hooks, "Where is my parcel?")
        async with app.router.lifespan_context(app), served(app, grace=0.1) as url:
            for hooks in (sb_hooks, ib_hooks):
                assert (await hooks.post("/_sandbox/faults", json={"latencyMs": LATENCY_MS})).status_code == 200
            yield url, global_id("Conversation", "ib", conversation)


async def timed(run: Awaitable[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    body = await run
    return time.perf_counter() - started, body


async def over_websocket(url: str, query: str, variables: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The operation's time (from its `subscribe`: the deadline is the operation's, not the handshake's) and answer."""
    async with connect(url.replace("http", "ws", 1) + "graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        started = time.perf_counter()
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}).decode())
        frame = orjson.loads(await ws.recv())
        assert frame["type"] == "next", frame
        payload: dict[str, Any] = frame["payload"]
        return time.perf_counter() - started, payload


async def test_with_vendors_slower_than_the_deadline_allows_no_request_outlives_it_on_any_path() -> None:
    async with slow_vendors() as (url, conversation), httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def post(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            body: dict[str, Any] = (await client.post("graphql", json={"query": query, "variables": variables or {}})).json()
            return body

        async def get(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            params = {"query": query, "variables": orjson.dumps(variables).decode()}
            body: dict[str, Any] = (await client.get("graphql", params=params, headers={"accept": "application/json"})).json()
            return body

        new = {"provider": "ib", "customer": {"id": "447700900001"}, "channel": "WHATSAPP",
               "messages": [{"text": "Your parcel is late"}, {"text": "It leaves today"}]}
        replies = [{"text": f"reply {n}"} for n in range(3)]
        answers = await asyncio.gather(
            timed(post(INBOX)),  # the JSON-POST path: both vendors' lists, then their rows' details
            timed(get(READ, {"id": conversation})),  # strawberry's view: the conversation, then its messages
            timed(post(CREATE, {"input": new})),  # create, then send each message: three calls in a row
            over_websocket(url, REPLY, {"id": conversation, "messages": replies}),  # read, then three sends
        )
    for elapsed, body in answers:
        assert elapsed <= REQUEST_TIMEOUT + 0.5, (elapsed, body)
        assert {error["extensions"]["code"] for error in body.get("errors", [])} <= {"REQUEST_TIMEOUT"}, body  # never INTERNAL
    (_, inbox), _, (_, created), (_, replied) = answers
    assert inbox["data"] == {"conversations": {"edges": []}}  # each provider's failure is its own error
    assert {(e["extensions"]["provider"], tuple(e["path"])) for e in inbox["errors"]} == {("sb", ("conversations",)), ("ib", ("conversations",))}
    for body, field in ((created, "createConversation"), (replied, "addMessages")):  # calls in a row: one cut
        [error] = body["errors"]
        assert error["path"] == [field] and error["extensions"] | {"requestId": None} == {"requestId": None, "code": "REQUEST_TIMEOUT", "provider": "ib"}


async def test_past_the_deadline_what_is_left_of_a_request_is_stopped_and_answered_as_such() -> None:
    guard = Guard(Settings(limits=Limits(request_timeout=0.2)))
    try:
        started = time.perf_counter()
        result = await within_deadline(guard, asyncio.sleep(5, result=ExecutionResult(data={}, errors=None)))
        assert time.perf_counter() - started < 0.5
    finally:
        await guard.aclose()
    assert result.data is None and result.errors is not None
    [error] = result.errors
    assert error.extensions == {"code": "REQUEST_TIMEOUT"}
    assert "longer than 0.2 s (server.request_timeout)" in error.message


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Any:
    yield
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


pytestmark = pytest.mark.usefixtures(no_collector_pauses.__name__)
