"""Events for subscriptions: the `Bus` protocol and the in-memory bus with a replay log (one process;
`gateway.redis_bus.RedisBus` is the bus shared by several, chosen where the app is wired).

Every published event gets a cursor `<epoch>.<sequence>`, increasing within one bus. A subscriber that
passes `since` first receives the retained events after that cursor, then live ones, without gaps or
duplicates: it registers its queue before reading the log and skips anything at or before the last
sequence it replayed. The same message, or the same change of a conversation, arriving from two
sources (a mutation and the vendor's webhook of it, or a webhook delivered again) is published once
(`gateway.dedup` says when two events are the same). A subscriber that falls `QUEUE_SIZE` events behind is cut off with `SubscriberOverflow`
instead of slowing the others. When the server shuts down, `end_subscriptions` ends every stream once
it has delivered what it holds, so each client gets its protocol's `complete` rather than a cut
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Protocol

from providers import Conversation, Message, echo

from .dedup import conversation_key, message_key
from .leases import Leases, LocalLeases

RETENTION = 10_000
QUEUE_SIZE = 256
DEDUP_WINDOW = 50_000


class EventKind(enum.Enum):
    MESSAGE_ADDED = "MESSAGE_ADDED"
    CONVERSATION_CHANGED = "CONVERSATION_CHANGED"


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    provider: str
    conversation_id: str
    message: Message | None = None
    conversation: Conversation | None = None
    cursor: str = ""
    sequence: int = 0
    published_at: float = 0.0  # epoch seconds, when it was handed to the bus (0: not known); for the lag metric


def dedup_key(event: Event) -> str | None:
    """The key under which a bus publishes `event` once (`gateway.dedup`); None: never a repeat."""
    if event.kind is EventKind.MESSAGE_ADDED and event.message is not None:
        return message_key(event.message)
    if event.kind is EventKind.CONVERSATION_CHANGED and event.conversation is not None:
        return conversation_key(event.conversation)
    return None


class CursorError(ValueError):
    """`since` is malformed, from another bus epoch, or older than the retained log."""


class SubscriberOverflow(RuntimeError):
    pass


class BusUnavailable(RuntimeError):
    """The shared bus cannot be reached: the event was not published, or a subscription cannot start."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> None:
        """Returns when the bus can publish and subscribe; raises BusUnavailable when it cannot."""
        ...

    async def publish(self, event: Event) -> Event | None:
        """Assigns the cursor and fans out; returns None when the event was a duplicate. A shared bus
        that cannot publish now keeps the event to publish later and returns it without a cursor;
        it raises BusUnavailable only when it can keep no more."""
        ...

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        """Retained events after `since` (raises CursorError), then live events; the stream ends
        after `end_subscriptions`."""
        ...

    def end_subscriptions(self) -> None:
        """Ends every subscriber's stream once it has taken what it holds, and every later one at once
        (the server is shutting down)."""
        ...

    @property
    def subscriber_count(self) -> int:
        """Streams still open."""
        ...

    def leases(self) -> Leases:
        """Where pollers take turns (gateway.pollers): this process alone, or every instance on Redis."""
        ...


class Subscriber:
    """One subscription's queue, filled by its bus's `fan_out`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=QUEUE_SIZE)  # None: wake up, the stream ends
        self.overflowed = False
        self.ended = False

    def end(self) -> None:
        self.ended = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue is drained first, and then seen ended
            self.queue.put_nowait(None)

    async def after(self, last: int) -> AsyncGenerator[Event, None]:
        """Queued events with a sequence after `last`, in order; `SubscriberOverflow` once the bus has cut
        this subscriber off and it has drained what it had; the end once it was ended and has drained."""
        while True:
            if self.queue.empty():
                if self.overflowed:
                    raise SubscriberOverflow(f"subscriber fell more than {QUEUE_SIZE} events behind")
                if self.ended:
                    return
            event = await self.queue.get()
            if event is not None and event.sequence > last:
                last = event.sequence
                yield event


class Subscribers:
    """The subscribers of one bus, and whether it still takes new ones."""

    def __init__(self) -> None:
        self.live: set[Subscriber] = set()
        self.ending = False

    def join(self) -> Subscriber:
        subscriber = Subscriber()
        if self.ending:
            subscriber.end()
        self.live.add(subscriber)
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        self.live.discard(subscriber)

    def end_all(self) -> None:
        self.ending = True
        for subscriber in list(self.live):
            subscriber.end()


def fan_out(subscribers: set[Subscriber], event: Event) -> None:
    """Queues `event` for every subscriber; one whose queue is full is cut off instead of slowing the rest."""
    for subscriber in list(subscribers):
        try:
            subscriber.queue.put_nowait(event)
        except asyncio.QueueFull:
            subscriber.overflowed = True
            subscribers.discard(subscriber)


class SubscriberHost:
    """What both buses answer the same way from their subscribers and their leases."""

    _subscribers: Subscribers
    _leases: Leases

    def end_subscriptions(self) -> None:
        self._subscribers.end_all()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers.live)

    def leases(self) -> Leases:
        return self._leases


class InMemoryBus(SubscriberHost):
    """The single-process bus (the default)."""

    def __init__(self, *, retention: int = RETENTION) -> None:
        self.epoch = secrets.token_hex(4)
        self._sequence = 0
        self._log: deque[Event] = deque(maxlen=retention)
        self._subscribers = Subscribers()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._leases = LocalLeases()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subscribers.live.clear()

    async def ping(self) -> None:
        return None

    async def publish(self, event: Event) -> Event | None:
        key = dedup_key(event)
        if key is not None:
            if key in self._seen:
                return None
            self._seen[key] = None
            if len(self._seen) > DEDUP_WINDOW:
                self._seen.popitem(last=False)
        self._sequence += 1
        stamped = replace(event, sequence=self._sequence, cursor=f"{self.epoch}.{self._sequence}")
        self._log.append(stamped)
        fan_out(self._subscribers.live, stamped)
        return stamped

    async def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        subscriber = self._subscribers.join()
        try:
            last = self._sequence
            if since is not None:
                last = self._parse(since)
                for event in list(self._log):
                    if event.sequence > last:
                        last = event.sequence
                        yield event
            async with contextlib.aclosing(subscriber.after(last)) as live:
                async for event in live:
                    yield event
        finally:
            self._subscribers.leave(subscriber)

    def _parse(self, since: str) -> int:
        epoch, _, number = since.partition(".")
        if not (number.isascii() and number.isdigit()):
            raise CursorError(f"since: {echo(since)} is not an event cursor")
        if epoch != self.epoch:
            raise CursorError("since: the cursor is from before a gateway restart; re-fetch with a query")
        sequence = int(number)
        oldest = self._log[0].sequence if self._log else self._sequence + 1
        if sequence < oldest - 1:
            raise CursorError("since: the cursor is older than the retained events; re-fetch with a query")
        if sequence > self._sequence:
            raise CursorError("since: the cursor is ahead of this gateway's events")
        return sequence
