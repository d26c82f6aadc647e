"""One writer cannot cut others off: `addMessages` is at most `max_list_length` messages, which is at
most half a subscriber's buffer and a sliver of the replay log (gateway/limit_settings.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.events import QUEUE_SIZE, RETENTION, Event, EventKind, InMemoryBus, SubscriberOverflow
from gateway.limit_settings import DEFAULT_MAX_LIST_LENGTH, MAX_LIST_LENGTH_CAP, load_limits
from gateway.setting_values import SettingsError

from .helpers import Gateway
from .helpers import create_conversation as create

ADD = """mutation($id: ID!, $messages: [MessageInput!]!) { addMessages(conversationId: $id, messages: $messages) {
  __typename ... on AddMessagesPayload { messages { id } } } }"""


def bulk(count: int) -> list[dict[str, Any]]:
    return [{"text": f"bulk {i}"} for i in range(count)]


async def test_more_messages_than_the_list_limit_are_refused_before_any_vendor_call(gateway: Gateway, sb_hooks: Any) -> None:
    conversation = await create(gateway)
    await sb_hooks.delete("/_sandbox/requests")
    answer = await gateway.execute(ADD, {"id": conversation, "messages": bulk(DEFAULT_MAX_LIST_LENGTH + 1)})
    assert [(e["extensions"]["code"], e["message"]) for e in answer["errors"]] == [
        ("INVALID_INPUT", "variable $messages: a list of 101 items; at most 100 are accepted (server.max_list_length)")]
    assert (await sb_hooks.get("/_sandbox/requests")).json()["requests"] == []


async def test_a_bulk_at_the_cap_neither_overflows_an_idle_subscriber_nor_leaves_the_replay_window(gateway: Gateway) -> None:
    conversation = await create(gateway)
    bus = gateway.app.state.runtime.bus.inner  # under the metrics' wrapper
    assert isinstance(bus, InMemoryBus)
    live = bus.subscribe()
    first = asyncio.create_task(anext(live))  # subscribed; reads one event, then nothing while the bulk lands
    await asyncio.sleep(0)
    answer = await gateway.data(ADD, {"id": conversation, "messages": bulk(DEFAULT_MAX_LIST_LENGTH)})
    assert len(answer["addMessages"]["messages"]) == DEFAULT_MAX_LIST_LENGTH
    received = [await first] + [await asyncio.wait_for(anext(live), timeout=2) for _ in range(DEFAULT_MAX_LIST_LENGTH - 1)]
    await live.aclose()
    assert [e.message.text for e in received if e.message] == [f"bulk {i}" for i in range(DEFAULT_MAX_LIST_LENGTH)]
    replay = bus.subscribe(since=f"{bus.epoch}.0")  # a subscriber that was away reconnects
    replayed = [await asyncio.wait_for(anext(replay), timeout=2) for _ in range(DEFAULT_MAX_LIST_LENGTH + 1)]
    await replay.aclose()
    assert [e.message.text for e in replayed if e.kind is EventKind.MESSAGE_ADDED and e.message] == [
        f"bulk {i}" for i in range(DEFAULT_MAX_LIST_LENGTH)]


async def idle_subscriber(bus: InMemoryBus, published: int) -> tuple[list[str], Exception | None]:
    """A subscriber that reads nothing while `published` events land (the bus does not yield between
    them); what it gets after, and the error that ends it."""
    subscriber = bus.subscribe()
    first = asyncio.create_task(anext(subscriber))
    await asyncio.sleep(0)  # subscribed
    for i in range(published):
        await bus.publish(Event(EventKind.CONVERSATION_CHANGED, "sb", str(i)))
    got, error = [(await first).conversation_id], None
    try:
        while len(got) < published:
            got.append((await asyncio.wait_for(anext(subscriber), timeout=1)).conversation_id)
    except SubscriberOverflow as exc:
        error = exc
    await subscriber.aclose()
    return got, error


async def test_two_writers_at_the_cap_fit_an_idle_subscribers_buffer_and_only_more_cuts_it_off() -> None:
    got, error = await idle_subscriber(InMemoryBus(), 2 * MAX_LIST_LENGTH_CAP)
    assert error is None and got == [str(i) for i in range(2 * MAX_LIST_LENGTH_CAP)]
    got, error = await idle_subscriber(InMemoryBus(), QUEUE_SIZE + 1)
    assert isinstance(error, SubscriberOverflow) and len(got) == QUEUE_SIZE
    assert MAX_LIST_LENGTH_CAP * 50 < RETENTION  # and one writer's bulk is a sliver of the replay log


def test_a_list_limit_above_half_a_subscribers_buffer_is_refused() -> None:
    assert load_limits({"max_list_length": MAX_LIST_LENGTH_CAP}, {}).max_list_length == MAX_LIST_LENGTH_CAP
    with pytest.raises(SettingsError, match=r"PARLEY_MAX_LIST_LENGTH / server\.max_list_length: at most 128, so one addMessages"):
        load_limits({"max_list_length": MAX_LIST_LENGTH_CAP + 1}, {})
