"""`conversationChanged` is de-duplicated like `messageAdded`: a change made by a mutation, which the
vendor's webhook then reports too, is one event; the webhook delivered again is none; a new change is
one more. On the embedded default (each vendor's sandbox sends its webhooks back into the gateway),
on the in-memory bus and on the Redis bus."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.events import Bus, Event, EventKind, InMemoryBus
from gateway.redis_bus import RedisBus
from gateway.settings import Settings
from providers.models import Conversation, ConversationStatus

from .helpers import Gateway
from .embedded import embedded, one_per_provider

PAYLOAD = "__typename ... on ConversationPayload { conversation { status } }"
FIRST_CHANGE = {  # a change each vendor reports with a webhook; then closing, which each reports too
    "socialboards": f"mutation($id: ID!, $bot: Boolean!) {{ m: setBotActive(id: $id, active: $bot) {{ {PAYLOAD} }} }}",
    "infobip": f"mutation($id: ID!) {{ m: updateConversation(id: $id, input: {{status: PENDING}}) {{ {PAYLOAD} }} }}",
    "clevertap": f"mutation($id: ID!) {{ m: updateConversation(id: $id, input: {{status: PENDING}}) {{ {PAYLOAD} }} }}",
}
CLOSE = f"mutation($id: ID!) {{ m: closeConversation(id: $id) {{ {PAYLOAD} }} }}"
BOT_ACTIVE = "query($id: ID!) { conversation(id: $id) { botActive } }"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
def make_bus(request: pytest.FixtureRequest) -> Callable[[], Bus | None]:
    if request.param == "memory":
        return lambda: None  # the app's own in-memory bus
    url = request.getfixturevalue("redis_url")
    return lambda: RedisBus(url, prefix=f"test-{uuid.uuid4().hex[:8]}")


class Deliveries:
    """The webhooks the sandboxes delivered to the gateway, each once the gateway has answered it."""

    def __init__(self, gateway: Gateway) -> None:
        self.seen: list[tuple[str, bytes, dict[str, Any]]] = []  # (provider, body, answer)
        for client in gateway.app.state.runtime.closables:
            client.event_hooks["response"].append(self._record)

    async def _record(self, response: httpx.Response) -> None:
        await response.aread()
        self.seen.append((response.request.url.path.rsplit("/", 1)[-1], response.request.content, response.json()))

    async def next_from(self, provider: str, after: int) -> tuple[bytes, dict[str, Any]]:
        for _ in range(200):
            found = [(body, answer) for name, body, answer in self.seen[after:] if name == provider]
            if found:
                return found[0]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no webhook from {provider}")


async def changes_until_sentinel(events: AsyncIterator[Event], first: asyncio.Future[Event], remote_id: str) -> list[str]:
    """The statuses of `conversationChanged` events of the conversation, up to the sentinel event."""
    statuses: list[str] = []
    event = await asyncio.wait_for(first, 2)
    while event.provider != "sentinel":
        if event.kind is EventKind.CONVERSATION_CHANGED and event.conversation_id == remote_id and event.conversation:
            statuses.append(event.conversation.status.value)
        event = await asyncio.wait_for(anext(events), 2)
    return statuses


@pytest.mark.parametrize("vendor", sorted(FIRST_CHANGE))
async def test_a_change_is_one_conversation_changed_event_and_a_redelivered_webhook_none(
    vendor: str, make_bus: Callable[[], Bus | None]
) -> None:
    async with embedded(bus=make_bus()) as gateway:
        runtime = gateway.app.state.runtime
        gid = (await one_per_provider(gateway, status=["NEW", "OPEN"]))[vendor]
        remote_id = base64.b64decode(gid).decode().split(":", 2)[2]
        deliveries = Deliveries(gateway)
        events = runtime.bus.subscribe()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)  # subscribed
        bot = (await gateway.data(BOT_ACTIVE, {"id": gid}))["conversation"]["botActive"]
        bodies, answered = [], []
        for mutation in (FIRST_CHANGE[vendor], CLOSE):
            before = len(deliveries.seen)
            answer = (await gateway.data(mutation, {"id": gid, "bot": not bot} if "$bot" in mutation else {"id": gid}))["m"]
            answered.append(answer["conversation"]["status"])
            bodies.append((await deliveries.next_from(vendor, before))[0])  # the vendor's webhook of it, answered
        again = [await gateway.client.post(f"/webhooks/{vendor}?secret={runtime.webhook_secrets[vendor]}", content=body,
                                           headers={"content-type": "application/json"}) for body in bodies]
        await runtime.bus.publish(Event(EventKind.MESSAGE_ADDED, "sentinel", "none"))
        statuses = await changes_until_sentinel(events, first, remote_id)
        await events.aclose()
    assert [(r.status_code, r.json()["published"]) for r in again] == [(200, 0), (200, 0)]
    assert answered[1] == "CLOSED" and answered[0] != "CLOSED"
    assert statuses == answered  # one event per change, none for the webhooks of them nor their repeats


SUBSCRIBE = "subscription { conversationChanged { conversation { remoteId status } } }"


def test_a_subscriber_sees_one_close_as_one_event() -> None:
    """Over graphql-transport-ws: closing A (which the vendor's webhook reports as well), then closing
    B, reaches the subscriber as exactly A then B."""
    app = create_app(Settings(demo_conversations=6, graphiql=False))
    with TestClient(app) as client:
        query = '{ conversations(first: 100, filter: {status: [NEW, OPEN], providers: ["socialboards"]}) { edges { node { id remoteId } } } }'
        nodes = [e["node"] for e in client.post("/graphql", json={"query": query}).json()["data"]["conversations"]["edges"]]
        a, b = nodes[0], nodes[1]
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            time.sleep(0.1)
            for node in (a, b):
                assert "errors" not in client.post("/graphql", json={"query": CLOSE, "variables": {"id": node["id"]}}).json()
                time.sleep(0.2)  # the vendor's webhook of it has been handled
            frames = [ws.receive_json() for _ in range(2)]
    assert [f["payload"]["data"]["conversationChanged"]["conversation"] for f in frames] == [
        {"remoteId": a["remoteId"], "status": "CLOSED"}, {"remoteId": b["remoteId"], "status": "CLOSED"},
    ]


async def test_the_same_state_twice_is_one_event_and_a_new_update_time_another() -> None:
    bus = InMemoryBus()
    state = Conversation("sb", "socialboards", "1", ConversationStatus.OPEN, "active", T0, T0, custom_fields=())
    from_webhook = replace(state, custom_fields=None, vendor_data={"Id": 1}, message_count=None)  # what a webhook lacks
    assert await bus.publish(Event(EventKind.CONVERSATION_CHANGED, "sb", "1", conversation=state)) is not None
    assert await bus.publish(Event(EventKind.CONVERSATION_CHANGED, "sb", "1", conversation=from_webhook)) is None
    later = replace(state, updated_at=T0 + timedelta(milliseconds=1))
    assert await bus.publish(Event(EventKind.CONVERSATION_CHANGED, "sb", "1", conversation=later)) is not None
    other = replace(state, remote_id="2")
    assert await bus.publish(Event(EventKind.CONVERSATION_CHANGED, "sb", "2", conversation=other)) is not None
