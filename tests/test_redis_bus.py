"""The Redis bus shared by gateway instances, on a real redis-server: every subscriber on any instance
gets every event once and in order, `since` replays across instances, a message published by two
instances is one event, and Redis being away is a clear failure, not a lost event taken for sent."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.events import QUEUE_SIZE, BusUnavailable, CursorError, Event, EventKind, SubscriberOverflow
from gateway.redact import url_without_password
from gateway.redis_bus import RedisBus, _decode, _encode, check
from gateway.settings import ProviderSettings, Settings
from providers.models import (
    Campaign,
    Channel,
    Conversation,
    ConversationStatus,
    CustomField,
    Direction,
    Feedback,
    Message,
    Participant,
    Priority,
    QueueInfo,
    Role,
)

from .helpers import (
    ADD,
    change_event,
    free_port,
    listening,
    message_event,
    new_conversation,
    next_payload,
    post,
    remote_ids,
    take,
    ws_subscribe,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # each test its own keys on the shared server


@pytest.fixture
async def buses(redis_url: str, prefix: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two instances' buses on one Redis."""
    a, b = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def started(subscription: AsyncIterator[Event]) -> asyncio.Task[Event]:
    """The subscription's first read, begun (so it has registered) but not awaited."""
    task = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0.05)
    return task


async def test_a_subscriber_on_one_instance_gets_every_instances_events_once_in_order(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    subscription = b.subscribe()
    first = await started(subscription)
    published = [await a.publish(message_event("m1")), await b.publish(message_event("m2")), await a.publish(change_event())]
    got = [await asyncio.wait_for(first, 2), *await take(subscription, 2)]
    assert [e.cursor for e in got] == [e.cursor for e in published if e is not None]
    assert remote_ids(got) == ["m1", "m2"] and got[2].kind is EventKind.CONVERSATION_CHANGED
    assert got[0].message == message_event("m1").message and got[2].conversation == change_event().conversation
    cursors = [e.cursor for e in got]
    assert len({c.split(".")[0] for c in cursors}) == 1 and [e.sequence for e in got] == sorted(e.sequence for e in got)


async def test_the_same_message_from_two_instances_is_one_event(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    subscription = a.subscribe()
    first = await started(subscription)
    assert await a.publish(message_event("m1")) is not None
    assert await b.publish(message_event("m1")) is None  # e.g. the mutation on one, the vendor's webhook on the other
    assert await b.publish(message_event("m1", provider="other")) is not None
    got = [await asyncio.wait_for(first, 2), *await take(subscription, 1)]
    assert [(e.provider, e.message.remote_id) for e in got if e.message] == [("support-sb", "m1"), ("other", "m1")]


async def test_since_replays_what_another_instance_published_then_live_events_without_gap_or_duplicate(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = buses
    seen = await a.publish(message_event("m1"))
    assert seen is not None
    for name in ("m2", "m3"):
        await a.publish(message_event(name))
    subscription = b.subscribe(since=seen.cursor)
    replayed = await take(subscription, 2)
    await b.publish(message_event("m4"))
    assert remote_ids(replayed + await take(subscription, 1)) == ["m2", "m3", "m4"]


async def test_events_published_while_a_subscriber_replays_arrive_once(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    seen = await a.publish(message_event("m0"))
    assert seen is not None
    subscription = b.subscribe(since=seen.cursor)
    first = await started(subscription)  # registered, replay read: nothing yet
    for name in ("m1", "m2", "m3"):
        await a.publish(message_event(name))
    assert remote_ids([await asyncio.wait_for(first, 2), *await take(subscription, 2)]) == ["m1", "m2", "m3"]


@pytest.mark.parametrize("since", ["", "nope", "abc.1", "abc.1-", "abc.-1", "abc.1-x", "abc.١-0"])
async def test_a_malformed_since_is_refused(buses: tuple[RedisBus, RedisBus], since: str) -> None:
    with pytest.raises(CursorError, match="not an event cursor"):
        await anext(buses[0].subscribe(since=since))


async def test_since_from_another_epoch_ahead_or_trimmed_away_is_refused(redis_url: str, prefix: str) -> None:
    bus = RedisBus(redis_url, prefix=prefix, retention=5)
    await bus.start()
    try:
        published = [await bus.publish(message_event(f"m{i}")) for i in range(300)]  # trimming is by whole nodes
        first, last = published[0], published[-1]
        assert first is not None and last is not None
        epoch, entry = last.cursor.split(".")
        with pytest.raises(CursorError, match="before a gateway restart"):
            await anext(bus.subscribe(since=f"other.{entry}"))
        ms, seq = entry.split("-")
        with pytest.raises(CursorError, match="ahead"):
            await anext(bus.subscribe(since=f"{epoch}.{int(ms) + 1000}-0"))
        with pytest.raises(CursorError, match="older than the retained"):
            await anext(bus.subscribe(since=first.cursor))
        subscription = bus.subscribe(since=last.cursor)  # the newest is still good: nothing to replay, then live
        waiting = await started(subscription)
        await bus.publish(message_event("after"))
        assert remote_ids([await asyncio.wait_for(waiting, 2)]) == ["after"]
    finally:
        await bus.stop()


async def test_a_subscriber_that_falls_queue_size_behind_is_cut_off_after_draining(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    slow = b.subscribe()
    first = await started(slow)
    for i in range(QUEUE_SIZE + 10):
        await a.publish(message_event(f"m{i}"))
    await asyncio.sleep(0.3)  # the reader hands everything out meanwhile
    drained = [await asyncio.wait_for(first, 2)]
    with pytest.raises(SubscriberOverflow):
        while True:
            drained.append(await asyncio.wait_for(anext(slow), 2))
    assert remote_ids(drained) == [f"m{i}" for i in range(len(drained))] and len(drained) >= QUEUE_SIZE


async def test_an_unreachable_redis_fails_the_start_keeps_events_and_refuses_a_replay_without_naming_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = RedisBus("redis://:hunter2@127.0.0.1:9/0", outbox_size=2)  # the discard port: nothing listens
    with pytest.raises(BusUnavailable, match="Redis cannot be reached") as refused:
        await bus.start()
    kept = [await bus.publish(message_event(f"m{i}")) for i in range(2)]
    assert [(e.cursor, e.message.remote_id) for e in kept if e and e.message] == [("", "m0"), ("", "m1")]
    with pytest.raises(BusUnavailable, match="can keep no more") as full:
        await bus.publish(message_event("m2"))
    with pytest.raises(BusUnavailable, match="Redis cannot be reached") as replay:
        await anext(bus.subscribe(since="abc.1-0"))
    assert (len(bus.outbox), bus.outbox.refused_total) == (2, 1)
    await bus.stop()
    assert bus.outbox.lost_total == 2
    for error in (refused, full, replay):
        assert "127.0.0.1" not in str(error.value) and "hunter2" not in str(error.value)
    assert "redis://***@127.0.0.1:9/0" in caplog.text and "hunter2" not in caplog.text


async def test_the_start_up_check_names_the_url_without_its_password() -> None:
    with pytest.raises(BusUnavailable, match=r"cannot reach Redis at redis://\*\*\*@127\.0\.0\.1:9/0") as refused:
        await check("redis://:hunter2@127.0.0.1:9/0")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:s3cret@cache:6379/1", "redis://***@cache:6379/1"),
    ("rediss://user:s3cret@cache/0", "rediss://user:***@cache/0"),
    ("redis://s3cret@cache", "redis://***@cache"),
    ("redis://u:s3cret@[::1]:6379/0", "redis://u:***@[::1]:6379/0"),
    ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock?db=1&password=***"),
    ("redis://[bad", "***"),
])
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert url_without_password(url) == shown


def test_an_event_with_every_field_set_comes_back_equal() -> None:
    author = Participant("u1", "Ann", Role.AGENT, email="a@example.com", external_id="x-1", avatar_url="https://a/b.png")
    message = Message("sb", "m1", "c1", "hé", author, Direction.OUTBOUND, T0, channel=Channel.SMS, imported=True,
                      vendor_data={"raw": [1, {"a": None}], "n": 1.5})
    conversation = Conversation(
        "sb", "socialboards", "c1", ConversationStatus.PENDING, "waiting", T0, T0, topic="t", summary="s",
        priority=Priority.HIGH, channel=Channel.WHATSAPP, customer=Participant("c", None, Role.CUSTOMER), assignee=author,
        queue=QueueInfo("q1", 2, 5), bot_active=False, tags=("a", "b"), feedback=Feedback(True, "ok"),
        initial_page_url="https://x/1", latest_page_url="https://x/2", sentiment="POSITIVE", category_id="7",
        custom_fields=(CustomField("f", "v"), CustomField("g", None)), campaign=Campaign("k", "Spring"), active=True,
        last_message_at=T0, message_count=3, last_message=message, vendor_data={"id": "c1"}, missing=frozenset({"tags", "customer"}),
    )
    for event in (Event(EventKind.MESSAGE_ADDED, "sb", "c1", message=message),
                  Event(EventKind.CONVERSATION_CHANGED, "sb", "c1", conversation=conversation),
                  Event(EventKind.CONVERSATION_CHANGED, "sb", "c1", conversation=change_event().conversation)):
        assert _decode(Event, _encode(event)) == event


# -- two gateway instances on one Redis ------------------------------------------------------------


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    """A Socialboards sandbox in its own process, which both instances use."""
    port = free_port()
    with listening([sys.executable, "-m", "gateway.cli", "sandbox", "socialboards", "--port", str(port)], port, tmp_path):
        yield f"http://127.0.0.1:{port}/"


def received(ws: Any) -> dict[str, Any]:
    event: dict[str, Any] = next_payload(ws)["data"]["messageAdded"]
    return event


def test_a_subscriber_on_one_gateway_gets_the_messages_added_through_another_and_catches_up_on_a_third(
    redis_url: str, sandbox_url: str
) -> None:
    credentials = {"client_id": "sandbox-client", "refresh_token": "sandbox-refresh", "agent_email": "ana@agents.example.com"}
    settings = Settings(providers=(ProviderSettings("sb", "socialboards", sandbox_url, credentials),), graphiql=False,
                        bus_url=redis_url.rsplit("/", 1)[0] + "/1")  # a database of its own
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b, TestClient(create_app(settings)) as c:
        conversation, _ = new_conversation(a, "sb")
        with b.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation})
            time.sleep(0.2)
            for text in ("one", "two"):
                post(a, ADD, {"id": conversation, "text": text})
            one, two = received(ws), received(ws)
        assert [one["message"]["text"], two["message"]["text"]] == ["one", "two"]
        with c.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation, "since": one["cursor"]})
            assert received(ws) == two  # replayed from Redis: the same event, the same cursor


# -- when the shared bus is away -------------------------------------------------------------------


class UnreachableBus:
    """A shared bus whose Redis went away after the gateway started."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, event: Event) -> Event | None:
        raise BusUnavailable("the event bus cannot reach Redis: connection refused")

    async def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        raise BusUnavailable("the event bus cannot reach Redis: connection refused")
        yield  # an async generator, like the real ones


def test_without_the_bus_a_mutation_still_answers_what_the_vendor_did_and_a_webhook_is_refused_for_redelivery() -> None:
    with TestClient(create_app(Settings(demo_conversations=2, graphiql=False), bus=UnreachableBus())) as client:
        conversation, remote_id = new_conversation(client, "socialboards")
        added = client.post("/graphql", json={"query": ADD, "variables": {"id": conversation, "text": "kept"}}).json()
        assert added == {"data": {"addMessages": {"__typename": "AddMessagesPayload"}}}
        secret = client.app.state.runtime.webhook_secrets["socialboards"]  # type: ignore[attr-defined]
        known = int(remote_id)  # the gateway reads the conversation a Socialboards webhook names before publishing it
        webhook = {"CommunityName": "c", "EventType": "conversation_created", "TicketId": known, "Events": [{
            "ConversationId": known, "EventTime": "2023-10-25T13:39:57+03:00",
            "Conversation": {"Id": known, "IsClosed": False, "CreationTime": "2023-10-25T13:39:57+03:00",
                             "LastModifiedTime": "2023-10-25T13:39:57+03:00", "Messages": [], "TotalMessagesCount": 0}}]}
        refused = client.post(f"/webhooks/socialboards?secret={secret}", json=webhook)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "UNAVAILABLE"
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws_subscribe(ws, {"id": conversation})
            frame = ws.receive_json()
        assert frame["type"] == "next" and frame["payload"]["data"] is None, frame
        [error] = frame["payload"]["errors"]
        assert "cannot reach Redis" in error["message"] and error["extensions"]["code"] == "INTERNAL"
