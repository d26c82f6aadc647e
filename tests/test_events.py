"""The in-memory event bus: cursors, replay after `since`, de-duplication, slow subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.events import QUEUE_SIZE, CursorError, Event, InMemoryBus, SubscriberOverflow

from .helpers import change_event, message_event, remote_ids, take

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def publish_messages(bus: InMemoryBus, *ids: str) -> list[Event]:
    stamped = []
    for remote_id in ids:
        event = await bus.publish(message_event(remote_id))
        assert event is not None
        stamped.append(event)
    return stamped


# -- cursors ---------------------------------------------------------------------------------------


async def test_cursors_increase_and_carry_the_bus_epoch() -> None:
    bus = InMemoryBus()
    events = await publish_messages(bus, *(f"m{i}" for i in range(12)))
    sequences = [e.sequence for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    for event in events:
        epoch, _, number = event.cursor.partition(".")
        assert epoch == bus.epoch
        assert int(number) == event.sequence


async def test_change_events_get_cursors_from_the_same_sequence_as_messages() -> None:
    bus = InMemoryBus()
    first = await bus.publish(message_event("m1"))
    second = await bus.publish(change_event())
    third = await bus.publish(message_event("m2"))
    assert first is not None and second is not None and third is not None
    assert first.sequence < second.sequence < third.sequence


async def test_two_buses_have_different_epochs() -> None:
    assert InMemoryBus().epoch != InMemoryBus().epoch


# -- replay and live events ------------------------------------------------------------------------


async def test_since_replays_retained_events_after_the_cursor_then_live_ones_without_gap_or_duplicate() -> None:
    bus = InMemoryBus()
    published = await publish_messages(bus, "m1", "m2", "m3", "m4")
    subscription = bus.subscribe(since=published[1].cursor)
    try:
        received = await take(subscription, 1)  # m3, replayed
        await publish_messages(bus, "m5")  # live while the replay is still going
        received += await take(subscription, 2)  # m4 (replayed), m5 (live)
        await publish_messages(bus, "m6", "m7")
        received += await take(subscription, 2)
        assert remote_ids(received) == ["m3", "m4", "m5", "m6", "m7"]
        assert [e.sequence for e in received] == list(range(3, 8))
        nothing_more = asyncio.ensure_future(anext(subscription))
        await asyncio.sleep(0.01)
        assert not nothing_more.done()
        nothing_more.cancel()
        await asyncio.gather(nothing_more, return_exceptions=True)
    finally:
        await subscription.aclose()


async def test_events_published_between_subscribe_call_and_first_read_are_replayed_once() -> None:
    bus = InMemoryBus()
    published = await publish_messages(bus, "m1", "m2")
    subscription = bus.subscribe(since=published[0].cursor)
    await publish_messages(bus, "m3")
    received = await take(subscription, 2)
    await publish_messages(bus, "m4")
    received += await take(subscription, 1)
    await subscription.aclose()
    assert remote_ids(received) == ["m2", "m3", "m4"]


async def test_since_the_latest_cursor_replays_nothing_and_then_delivers_live_events() -> None:
    bus = InMemoryBus()
    published = await publish_messages(bus, "m1", "m2")
    subscription = bus.subscribe(since=published[-1].cursor)
    pending = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    assert not pending.done()
    await publish_messages(bus, "m3")
    event = await asyncio.wait_for(pending, 1)
    await subscription.aclose()
    assert remote_ids([event]) == ["m3"]


async def test_since_none_gets_only_events_published_after_subscribing() -> None:
    bus = InMemoryBus()
    await publish_messages(bus, "old1", "old2")
    subscription = bus.subscribe()
    pending = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)  # the subscriber registers and waits
    await publish_messages(bus, "new1", "new2")
    received = [await asyncio.wait_for(pending, 1), *await take(subscription, 1)]
    await subscription.aclose()
    assert remote_ids(received) == ["new1", "new2"]


async def test_since_with_retention_just_covering_the_gap_replays_everything_missed() -> None:
    bus = InMemoryBus(retention=3)
    published = await publish_messages(bus, "m1", "m2", "m3", "m4", "m5")  # m3..m5 retained
    subscription = bus.subscribe(since=published[1].cursor)
    received = await take(subscription, 3)
    await subscription.aclose()
    assert remote_ids(received) == ["m3", "m4", "m5"]


# -- refused cursors -------------------------------------------------------------------------------


@pytest.mark.parametrize("since", ["", "garbage", "abc.", "abc.x1", "abc.-1", "abc.1.2", ".", "1"])
async def test_malformed_since_is_refused(since: str) -> None:
    bus = InMemoryBus()
    await publish_messages(bus, "m1")
    with pytest.raises(CursorError, match="is not an event cursor"):
        await anext(bus.subscribe(since=since))


@pytest.mark.parametrize("number", ["²", "١", " 1", "1 ", "+1", "1_0"])
async def test_since_with_the_right_epoch_but_a_non_ascii_or_decorated_number_is_refused_as_malformed(
    number: str,
) -> None:
    bus = InMemoryBus()
    await publish_messages(bus, "m1", "m2")
    with pytest.raises(CursorError, match="is not an event cursor"):
        await anext(bus.subscribe(since=f"{bus.epoch}.{number}"))


async def test_since_from_another_bus_epoch_is_refused_as_from_before_a_restart() -> None:
    old = InMemoryBus()
    cursor = (await publish_messages(old, "m1"))[0].cursor
    bus = InMemoryBus()
    await publish_messages(bus, "m1", "m2")
    with pytest.raises(CursorError, match="before a gateway restart"):
        await anext(bus.subscribe(since=cursor))


async def test_since_ahead_of_the_published_events_is_refused() -> None:
    bus = InMemoryBus()
    await publish_messages(bus, "m1", "m2")
    with pytest.raises(CursorError, match="ahead of this gateway's events"):
        await anext(bus.subscribe(since=f"{bus.epoch}.3"))


async def test_since_on_a_bus_with_no_events_is_ahead_unless_it_is_zero() -> None:
    bus = InMemoryBus()
    with pytest.raises(CursorError, match="ahead"):
        await anext(bus.subscribe(since=f"{bus.epoch}.1"))
    subscription = bus.subscribe(since=f"{bus.epoch}.0")
    pending = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    await publish_messages(bus, "m1")
    assert remote_ids([await asyncio.wait_for(pending, 1)]) == ["m1"]
    await subscription.aclose()


async def test_since_older_than_the_retained_events_is_refused() -> None:
    bus = InMemoryBus(retention=3)
    published = await publish_messages(bus, "m1", "m2", "m3", "m4", "m5")  # m1 and m2 are gone
    with pytest.raises(CursorError, match="older than the retained events"):
        await anext(bus.subscribe(since=published[0].cursor))


async def test_a_refused_since_leaves_no_subscriber_behind() -> None:
    bus = InMemoryBus()
    await publish_messages(bus, "m1")
    with pytest.raises(CursorError):
        await anext(bus.subscribe(since="garbage"))
    assert bus.subscriber_count == 0


# -- de-duplication --------------------------------------------------------------------------------


async def test_same_message_published_twice_is_delivered_once() -> None:
    bus = InMemoryBus()
    subscription = bus.subscribe()
    pending = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    first = await bus.publish(message_event("m1"))
    again = await bus.publish(message_event("m1", conversation="c1"))
    following = await bus.publish(message_event("m2"))
    assert first is not None and following is not None
    assert again is None
    received = [await asyncio.wait_for(pending, 1), *await take(subscription, 1)]
    await subscription.aclose()
    assert remote_ids(received) == ["m1", "m2"]
    assert following.sequence == first.sequence + 1  # the duplicate used no sequence number


async def test_same_message_id_from_another_provider_is_not_a_duplicate() -> None:
    bus = InMemoryBus()
    assert await bus.publish(message_event("m1", provider="support-sb")) is not None
    assert await bus.publish(message_event("m1", provider="acme-infobip")) is not None


async def test_the_same_conversation_change_twice_is_one_event_and_another_state_another() -> None:
    bus = InMemoryBus()
    assert await bus.publish(change_event("c1")) is not None
    assert await bus.publish(change_event("c1")) is None  # e.g. the mutation, then the vendor's webhook of it
    assert await bus.publish(change_event("c2")) is not None
    moved = change_event("c1")
    assert moved.conversation is not None
    later = replace(moved, conversation=replace(moved.conversation, updated_at=T0 + timedelta(seconds=1)))
    assert await bus.publish(later) is not None


# -- slow subscribers and closing ------------------------------------------------------------------


async def test_a_subscriber_that_falls_queue_size_behind_gets_overflow_after_draining_while_others_get_everything() -> (
    None
):
    bus = InMemoryBus()
    total = QUEUE_SIZE + 10
    slow = bus.subscribe()
    slow_first = asyncio.ensure_future(anext(slow))  # registers, reads one event, then stops reading
    fast_received: list[Event] = []

    async def read_fast() -> None:
        async for event in bus.subscribe():
            fast_received.append(event)
            if len(fast_received) == total:
                return

    fast = asyncio.ensure_future(read_fast())
    await asyncio.sleep(0)
    for i in range(total):
        await bus.publish(message_event(f"m{i}"))
        await asyncio.sleep(0)  # lets the fast reader keep up
    await asyncio.wait_for(fast, 2)
    assert [e.sequence for e in fast_received] == list(range(1, total + 1))

    slow_received = [await asyncio.wait_for(slow_first, 1)]
    with pytest.raises(SubscriberOverflow, match=f"more than {QUEUE_SIZE} events behind"):
        while True:
            slow_received.append(await asyncio.wait_for(anext(slow), 1))
    # one event read, then a full queue drained; nothing after the overflow point
    assert [e.sequence for e in slow_received] == list(range(1, QUEUE_SIZE + 2))
    assert bus.subscriber_count == 0


async def test_an_overflowed_subscriber_gets_no_further_events_queued() -> None:
    bus = InMemoryBus()
    slow = bus.subscribe()
    first = asyncio.ensure_future(anext(slow))
    await asyncio.sleep(0)
    await publish_messages(bus, *(f"m{i}" for i in range(QUEUE_SIZE + 2)))
    assert bus.subscriber_count == 0  # dropped on overflow, before it read anything
    await first
    await publish_messages(bus, "late")
    drained = []
    with pytest.raises(SubscriberOverflow):
        while True:
            drained.append(await asyncio.wait_for(anext(slow), 1))
    assert "late" not in remote_ids(drained)


async def test_closing_the_subscription_removes_the_subscriber() -> None:
    bus = InMemoryBus()
    subscription = bus.subscribe()
    pending = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    assert bus.subscriber_count == 1
    await publish_messages(bus, "m1")
    await asyncio.wait_for(pending, 1)
    await subscription.aclose()
    assert bus.subscriber_count == 0
    # publishing to nobody still works and keeps the log for later `since` subscribers
    published = await publish_messages(bus, *(f"x{i}" for i in range(QUEUE_SIZE + 5)))
    assert published[-1].sequence == QUEUE_SIZE + 6


async def test_stop_drops_every_subscriber() -> None:
    bus = InMemoryBus()
    subscriptions = [bus.subscribe() for _ in range(3)]
    pending = [asyncio.ensure_future(anext(s)) for s in subscriptions]
    await asyncio.sleep(0)
    assert bus.subscriber_count == 3
    await bus.stop()
    assert bus.subscriber_count == 0
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
