"""Events for subscriptions: the `Bus` protocol and the in-memory bus with a replay log (one process;
`gateway.redis_bus.RedisBus` is the bus shared by several, chosen where the app is wired).

Every published event gets a cursor `<epoch>.<sequence>`, increasing within one bus. A subscriber that
passes `since` first receives the retained events after that cursor, then live ones, without gaps or
duplicates: it registers its queue before reading the log and skips anything at or before the last
sequence it replayed. The same message, or the same change of a conversation, arriving from two
sources (a mutation and the vendor's webhook of it, or a webhook delivered again) is published once
(`gateway.dedup` says when two events are the same). A subscriber that falls `QUEUE_SIZE` events behind is cut off with `SubscriberOverflow`
instead of slowing the others.
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
        """Assigns the cursor and fans out; returns None when the event was a duplicate."""
        ...

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        """Retained events after `since` (raises CursorError), then live events."""
        ...


class Subscriber:
    """One subscription's queue, filled by its bus's `fan_out`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.overflowed = False

    async def after(self, last: int) -> AsyncGenerator[Event, None]:
        """Queued events with a sequence after `last`, in order; `SubscriberOverflow` once the bus has cut
        this subscriber off and it has drained what it had."""
        while True:
            if self.overflowed and self.queue.empty():
                raise SubscriberOverflow(f"subscriber fell more than {QUEUE_SIZE} events behind")
            event = await self.queue.get()
            if event.sequence > last:
                last = event.sequence
                yield event


def fan_out(subscribers: set[Subscriber], event: Event) -> None:
    """Queues `event` for every subscriber; one whose queue is full is cut off instead of slowing the rest."""
    for subscriber in list(subscribers):
        try:
            subscriber.queue.put_nowait(event)
        except asyncio.QueueFull:
            subscriber.overflowed = True
            subscribers.discard(subscriber)


class InMemoryBus:
    """The single-process bus (the default)."""

    def __init__(self, *, retention: int = RETENTION) -> None:
        self.epoch = secrets.token_hex(4)
        self._sequence = 0
        self._log: deque[Event] = deque(maxlen=retention)
        self._subscribers: set[Subscriber] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._subscribers.clear()

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
        fan_out(self._subscribers, stamped)
        return stamped

    async def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
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
            self._subscribers.discard(subscriber)

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
