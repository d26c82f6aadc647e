"""What several test modules share, in one place; the pytest fixtures built on it are in conftest.py.

- each vendor's sandbox with the tests' fake credentials, and a client for it in-process;
- the sandbox-only hooks: a customer writing in, faults, the request log, the clock, and a receiver
  for the webhooks a sandbox sends;
- the gateway over sandboxes in-process (`gateway_over`) with its GraphQL helpers, and the same for a
  `TestClient` running the embedded default (mutations, graphql-transport-ws subscriptions);
- bus events made by hand, and server processes of the tests' own.
"""

from __future__ import annotations

import asyncio
import gc
import base64
import contextlib
import itertools
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.events import Event, EventKind
from gateway.settings import ProviderSettings, Settings
from providers.models import Conversation, ConversationStatus, Direction, Message
from sandboxes.clevertap import app as ct_sandbox
from sandboxes.infobip import app as ib_sandbox
from sandboxes.socialboards import app as sb_sandbox

Json = dict[str, Any]
T = TypeVar("T")
SHORT_TIMEOUT = 0.5

# -- the sandboxes, with the tests' credentials ----------------------------------------------------

SB_BASE = "http://sb.test/"
SB_CREDENTIALS = {"client_id": "test-client", "refresh_token": "test-refresh"}
SB_AGENT = "ana@agents.example.com"  # the team member an AGENT message without an author is written as
SB_OPTIONS = {**SB_CREDENTIALS, "agent_email": SB_AGENT}
IB_BASE = "http://ib.test/"
IB_API_KEY = "test-key"
IB_HEADERS = {"Authorization": f"App {IB_API_KEY}"}
IB_SENDER = "447860099299"  # the account's number customers write to
CT_BASE = "http://ct.test/"
CT_CREDENTIALS = {"account_id": "TEST-ACCOUNT", "passcode": "test-passcode"}
CT_HEADERS = {"X-CleverTap-Account-Id": "TEST-ACCOUNT", "X-CleverTap-Passcode": "test-passcode"}
ASHA, BEN = "asha.rao@example.com", "ben.okafor@example.com"  # Agents in the CleverTap sandbox's default directory
SPRING = 1700000101  # a default CleverTap campaign

PROVIDERS = {  # one provider per vendor, configured for the sandboxes below
    "sb": ProviderSettings("sb", "socialboards", SB_BASE, SB_OPTIONS),
    "ib": ProviderSettings("ib", "infobip", IB_BASE, {"api_key": IB_API_KEY}),
    "ct": ProviderSettings("ct", "clevertap", CT_BASE, CT_CREDENTIALS),
}
SB_PROVIDER = replace(PROVIDERS["sb"], webhook_secret="hook-secret")  # what the `gateway` fixture runs


def socialboards_app(**options: Any) -> Starlette:
    return sb_sandbox.create_app(client_id="test-client", refresh_token="test-refresh", **options)


def infobip_app(**options: Any) -> Starlette:
    return ib_sandbox.create_app(api_key=IB_API_KEY, **options)


def clevertap_app(**options: Any) -> Starlette:
    return ct_sandbox.create_app(account_id="TEST-ACCOUNT", passcode="test-passcode", **options)


def vendor_apps(demo_conversations: int) -> dict[str, Starlette]:
    """A sandbox of each vendor with demo conversations, keyed like `PROVIDERS`."""
    return {
        "sb": socialboards_app(demo_conversations=demo_conversations),
        "ib": infobip_app(demo_conversations=demo_conversations),
        "ct": clevertap_app(demo_conversations=demo_conversations),  # a quarter are older than 15 days: hidden
    }


class FrozenClock:
    """A sandbox's base clock, frozen at a recent moment; tests move it with /_sandbox/clock."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    def __call__(self) -> datetime:
        return self.start


def asgi_client(app: Starlette, base_url: str, **options: Any) -> httpx.AsyncClient:
    """An httpx client that reaches `app` in-process (`options`: headers, timeout, ...)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, **options)


# -- the sandbox-only hooks ------------------------------------------------------------------------

_numbers = itertools.count(1)


async def inject_fault(hooks: httpx.AsyncClient, **fault: Any) -> None:
    """Queues a fault on the sandbox (the kit's wire names: status, retryAfter, latencyMs, malformed,
    pathContains, method, times, commitThenDrop)."""
    response = await hooks.post("/_sandbox/faults", json=fault)
    assert response.status_code == 200, response.text


async def clear_faults(hooks: httpx.AsyncClient) -> None:
    assert (await hooks.delete("/_sandbox/faults")).status_code == 200


async def sandbox_requests(hooks: httpx.AsyncClient, method: str | None = None, path_contains: str = "") -> list[Json]:
    """The vendor calls the sandbox logged, oldest first: all, or those with `method` and a path containing `path_contains`."""
    rows: list[Json] = (await hooks.get("/_sandbox/requests")).json()["requests"]
    return [r for r in rows if (method is None or r["method"] == method) and path_contains in r["path"]]


async def forget_requests(hooks: httpx.AsyncClient) -> None:
    assert (await hooks.delete("/_sandbox/requests")).status_code == 200


async def advance_clock(hooks: httpx.AsyncClient, seconds: float) -> None:
    assert (await hooks.post("/_sandbox/clock", json={"advanceSeconds": seconds})).status_code == 200


async def sb_customer_writes(hooks: httpx.AsyncClient, remote_id: str, text: str) -> None:
    """The customer of a Socialboards conversation writes in."""
    response = await hooks.post(f"/_sandbox/conversations/{remote_id}/customer-message", json={"message": text})
    assert response.status_code == 200, response.text


async def sb_agent_replies(hooks: httpx.AsyncClient, remote_id: str, text: str) -> None:
    """An agent answers a Socialboards conversation in the vendor's own console."""
    response = await hooks.post(f"/_sandbox/conversations/{remote_id}/agent-reply", json={"message": text})
    assert response.status_code == 200, response.text


async def ib_customer_writes(
    hooks: httpx.AsyncClient,
    text: str,
    *,
    conversation: str | None = None,
    sender: str | None = None,
    channel: str = "WHATSAPP",
    to: str = IB_SENDER,
) -> str:
    """A customer writes in to Infobip (from a new number unless `sender`); returns the conversation id."""
    body: Json = {"from": sender or f"4479{next(_numbers):08d}", "to": to, "channel": channel, "text": text}
    if conversation is not None:
        body["conversationId"] = conversation
    response = await hooks.post("/_sandbox/inbound", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["conversationId"])


async def ct_user_writes(
    hooks: httpx.AsyncClient, text: str, *, identity: str | None = None, name: str | None = None
) -> str:
    """A user replies to a CleverTap campaign (as a new user unless `identity`); returns the conversation id."""
    body: Json = {"identity": identity or f"user-{next(_numbers)}", "campaign_id": SPRING, "text": text}
    if name is not None:
        body["user_name"] = name
    response = await hooks.post("/1/conversation/inbound.json", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["record"]["id"])


def new_identity() -> str:
    """A CleverTap user identity no other test uses."""
    return f"user-{next(_numbers)}"


class WebhookReceiver:
    """A tiny webhook receiver at `path`, reached in-process through ASGITransport: the body and the
    headers of every POST, in order."""

    def __init__(self, path: str = "/hooks") -> None:
        self.bodies: list[Json] = []
        self.headers: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route(path, self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        self.bodies.append(await request.json())
        return Response(status_code=204)

    def client(self) -> httpx.AsyncClient:
        """A client reaching this receiver in-process: give it to a sandbox as its `webhook_client`."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))

    async def wait_for(self, count: int) -> list[Json]:
        for _ in range(400):
            if len(self.bodies) >= count:
                return self.bodies
            await asyncio.sleep(0.005)
        raise AssertionError(f"expected {count} webhook deliveries, got {len(self.bodies)}")


# -- the gateway over sandboxes in-process ---------------------------------------------------------


@dataclass
class Gateway:
    """The gateway app with its lifespan running, plus a GraphQL helper."""

    app: Starlette
    client: httpx.AsyncClient

    async def execute(self, query: str, variables: Json | None = None) -> Json:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        body: Json = response.json()
        return body

    async def data(self, query: str, variables: Json | None = None) -> Json:
        body = await self.execute(query, variables)
        assert "errors" not in body, body["errors"]
        data: Json = body["data"]
        return data


def gateway_settings(*providers: ProviderSettings, timeout: float = SHORT_TIMEOUT) -> Settings:
    """The gateway over `providers` (by default `SB_PROVIDER`), with a short upstream timeout."""
    return Settings(providers=providers or (SB_PROVIDER,), upstream_timeout=timeout, graphiql=False)


@contextlib.asynccontextmanager
async def gateway_over(*vendors: tuple[ProviderSettings, Starlette], timeout: float = SHORT_TIMEOUT) -> AsyncIterator[Gateway]:
    """The gateway with its lifespan running, each provider wired in-process to its sandbox app."""
    settings = gateway_settings(*(p for p, _ in vendors), timeout=timeout)
    app = create_app(settings, transports={p.name: httpx.ASGITransport(app=sandbox) for p, sandbox in vendors})
    async with app.router.lifespan_context(app), asgi_client(app, "http://parley.test") as client:
        yield Gateway(app, client)


async def every_edge(gateway: Gateway, query: str, variables: Json | None = None, *, connection: str = "conversations") -> list[Json]:
    """Every edge of a list, page by page: `query` takes `$after` and selects `pageInfo { hasNextPage
    endCursor }`; fails if the paging does not end within 100 pages."""
    edges: list[Json] = []
    after = None
    for _ in range(100):
        page = (await gateway.data(query, {**(variables or {}), "after": after}))[connection]
        edges += page["edges"]
        if not page["pageInfo"]["hasNextPage"]:
            return edges
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("paging did not end")


CREATE = """mutation Create($input: CreateConversationInput!) { createConversation(input: $input) {
  ... on ConversationPayload { conversation { id remoteId } } } }"""
STATUS = "query S($id: ID!) { conversation(id: $id) { status vendorStatus queue { position } } }"


async def create_conversation(gateway: Gateway, name: str = "Mia", **extra: object) -> str:
    """A conversation created through the gateway on its Socialboards provider `sb`; its global id."""
    customer = {"name": name, "externalId": f"{name.lower()}-1"}
    data = await gateway.data(CREATE, {"input": {"provider": "sb", "customer": customer, **extra}})
    node_id: str = data["createConversation"]["conversation"]["id"]
    return node_id


def global_id(type_name: str, *parts: str) -> str:
    """A Relay global id, made here rather than by the code under test: `Conversation`, provider, remote id."""
    return base64.b64encode(":".join((type_name, *parts)).encode()).decode()


def remote_id_of(node_id: str) -> str:
    return base64.b64decode(node_id).decode().rsplit(":", 1)[1]


# -- the embedded default under a TestClient -------------------------------------------------------

ADD = """mutation A($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) {
  __typename } }"""
MESSAGE_ADDED = """subscription S($id: ID, $since: String) {
  messageAdded(conversationId: $id, since: $since) { cursor message { text direction } } }"""


def post(client: TestClient, query: str, variables: Json | None = None) -> Json:
    """The `data` of a GraphQL request that must succeed."""
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert "errors" not in body, body
    data: Json = body["data"]
    return data


def new_conversation(client: TestClient, provider: str = "socialboards") -> tuple[str, str]:
    """A conversation created through the gateway: its global id and remote id."""
    customer = {"name": "Live", "externalId": "live-1"}
    conversation = post(client, CREATE, {"input": {"provider": provider, "customer": customer}})["createConversation"]["conversation"]
    return conversation["id"], conversation["remoteId"]


def ws_subscribe(ws: Any, variables: Json, query: str = MESSAGE_ADDED) -> None:
    """Opens a graphql-transport-ws connection and starts one subscription, id "1"."""
    ws.send_json({"type": "connection_init", "payload": {}})
    assert ws.receive_json()["type"] == "connection_ack"
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})


def next_payload(ws: Any) -> Json:
    frame = ws.receive_json()
    assert frame["type"] == "next", frame
    payload: Json = frame["payload"]
    return payload


def from_the_start(client: TestClient) -> str:
    """A `since` cursor that replays every event the gateway has published (its bus is in memory)."""
    return f"{client.app.state.runtime.bus.epoch}.0"  # type: ignore[attr-defined]


def at_the_vendor(client: TestClient, vendor: str, call: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Runs `call` with a client for the embedded default's `vendor` sandbox (its API and hooks), in the
    app's event loop, where the sandbox sends its webhooks back to the gateway."""
    sandbox = client.app.state.runtime.sandboxes[vendor]  # type: ignore[attr-defined]

    async def run() -> T:
        async with asgi_client(sandbox, f"http://{vendor}.sandbox/") as hooks:
            return await call(hooks)

    return client.portal.call(run)  # type: ignore[union-attr]


# -- bus events made by hand -----------------------------------------------------------------------

EVENT_TIME = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def message_event(remote_id: str, *, provider: str = "support-sb", conversation: str = "c1") -> Event:
    message = Message(
        provider=provider,
        remote_id=remote_id,
        conversation_remote_id=conversation,
        text=f"text {remote_id}",
        author=None,
        direction=Direction.INBOUND,
        created_at=EVENT_TIME,
    )
    return Event(EventKind.MESSAGE_ADDED, provider, conversation, message=message)


def change_event(remote_id: str = "c1", *, provider: str = "support-sb") -> Event:
    conversation = Conversation(
        provider=provider,
        vendor="socialboards",
        remote_id=remote_id,
        status=ConversationStatus.OPEN,
        vendor_status="active",
        created_at=EVENT_TIME,
        updated_at=EVENT_TIME,
    )
    return Event(EventKind.CONVERSATION_CHANGED, provider, remote_id, conversation=conversation)


def remote_ids(events: list[Event]) -> list[str]:
    return [e.message.remote_id for e in events if e.message is not None]


async def take(subscription: AsyncIterator[Event], count: int) -> list[Event]:
    return [await asyncio.wait_for(anext(subscription), 1) for _ in range(count)]


# -- server processes of the tests' own ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int) -> None:
    """Returns once something listens on the loopback port (fails after 15 s)."""
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port}")


@contextlib.contextmanager
def listening(argv: list[str], port: int, cwd: Path | None = None) -> Iterator[None]:
    """A server process started by the test, from when it listens on `port` until the block ends."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def uvicorn_serving(config: uvicorn.Config) -> AsyncIterator[str]:
    """A uvicorn server of `config` (port 0: a free one) in this event loop, from when it listens until
    the block ends; its origin, `http://127.0.0.1:<port>`. A server that fails to start raises why."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def stoppable_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (its URL, and its process, for the test to stop), skipped
    without redis-server unless PARLEY_REQUIRE_REDIS."""
    import os
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("PARLEY_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed: this test needs it (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture
def no_collector_pauses() -> Iterator[None]:
    """For tests that time a gateway running in the test process: the heap a long pytest run has built
    makes a full collection take a second or more, which would be timed as Parley's (`parley serve`
    settles its own collector after start-up: gateway/tuning.py)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
