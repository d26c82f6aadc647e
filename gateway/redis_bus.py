"""The event bus shared by gateway instances (several hosts, or `parley serve --workers N`), on Redis.

Every instance publishes to one Redis stream, `<prefix>:events`, trimmed to about `retention` entries,
and reads it back with one blocking reader per instance that hands each entry to that instance's
subscribers. So a subscriber on any instance receives every event, from any instance, once, in the
stream's order, and `since` replays from the stream:

- A cursor is `<epoch>.<stream entry id>`. The epoch is a random token kept in `<prefix>:epoch` and
  written onto every entry; if Redis loses its data, the next publish starts a new epoch and a cursor
  from before is refused as from before a restart, not misread. Each entry also names the entry
  before it, so a `since` older than the oldest entry's predecessor is known to have missed trimmed
  events and is refused.
- Publishing is one Lua script, so it is atomic across instances: an event already seen within
  `dedup_seconds` (the same message, or the same change of a conversation, by `gateway.dedup`; a
  mutation and the vendor's webhook of it, or one webhook delivered to two instances or twice) is
  not added again.
- A subscriber registers its queue before it reads the replay, and skips live entries at or before the
  last one replayed: no gap, no duplicate. One that falls `QUEUE_SIZE` entries behind is cut off with
  `SubscriberOverflow`, as on the in-memory bus.
- If Redis cannot be reached, `publish` raises `BusUnavailable` (the webhook endpoint answers 503, so
  the vendor delivers again), and the reader retries until Redis answers; Redis re-delivers nothing
  lost, and a subscriber catches up with `since` from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import secrets
import types
import typing
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from providers import echo

from .events import RETENTION, BusUnavailable, CursorError, Event, Subscriber, dedup_key, fan_out

# (entry id, fields): redis-py types stream replies for every decoding; with decode_responses they are str.
StreamEntries = list[tuple[str, dict[str, str]]]
logger = logging.getLogger("parley.bus")

DEDUP_SECONDS = 86_400
READ_BLOCK_MS = 1_000
REPLAY_BATCH = 500
RECONNECT_SECONDS = 0.5

# KEYS: stream, epoch, and the event's dedup key (absent for events that are never repeats).
# ARGV: entry, approximate length to trim to, an epoch to use if there is none, dedup seconds.
PUBLISH = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
if KEYS[3] and not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then
  return false
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local before = newest and newest[1] or '0-0'
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1], 'p', epoch, 'b', before)
return {epoch, id}
"""


class RedisBus:
    def __init__(
        self, url: str, *, prefix: str = "parley", retention: int = RETENTION, dedup_seconds: int = DEDUP_SECONDS
    ) -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._stream, self._epoch_key, self._prefix = f"{prefix}:events", f"{prefix}:epoch", prefix
        self._retention, self._dedup_seconds = retention, dedup_seconds
        self._publish = self._redis.register_script(PUBLISH)
        self._subscribers: set[Subscriber] = set()
        self._reader: asyncio.Task[None] | None = None
        self._read_after = "0-0"
        self._stopping = False

    async def start(self) -> None:
        """Checks that Redis answers (a wrong URL fails the start, not the first event) and starts the reader
        after the stream's current end."""
        try:
            _, info = await self._state()
        except RedisError as exc:
            raise BusUnavailable(f"the event bus cannot reach Redis: {exc}") from exc
        self._read_after = info["last-generated-id"]
        self._reader = asyncio.create_task(self._read(), name="parley-bus-reader")

    async def stop(self) -> None:
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        self._subscribers.clear()
        await self._redis.aclose()

    async def ping(self) -> None:
        """Raises BusUnavailable, naming the error's kind but not Redis's address, when Redis does not answer."""
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise BusUnavailable(f"Redis does not answer ({type(exc).__name__})") from exc

    async def publish(self, event: Event) -> Event | None:
        keys = [self._stream, self._epoch_key]
        key = dedup_key(event)
        if key is not None:
            keys.append(f"{self._prefix}:seen:{key}")
        entry = orjson.dumps(_encode(dataclasses.replace(event, cursor="", sequence=0)))
        try:
            added = await self._publish(keys=keys, args=[entry, self._retention, secrets.token_hex(4), self._dedup_seconds])
        except RedisError as exc:
            raise BusUnavailable(f"the event bus cannot reach Redis: {exc}") from exc
        if not added:
            return None
        epoch, entry_id = added
        return dataclasses.replace(event, cursor=f"{epoch}.{entry_id}", sequence=_order(entry_id))

    async def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        try:
            try:
                epoch, info = await self._state()
            except RedisError as exc:
                raise BusUnavailable(f"the event bus cannot reach Redis: {exc}") from exc
            last = _order(info["last-generated-id"])
            if since is not None:
                after = self._parse(since, epoch, info)
                last = _order(after)
                async for event in self._replay(after):
                    last = event.sequence
                    yield event
            async with contextlib.aclosing(subscriber.after(last)) as live:
                async for event in live:
                    yield event
        finally:
            self._subscribers.discard(subscriber)

    # ---- reading the stream ---------------------------------------------------------------------

    async def _read(self) -> None:
        while not self._stopping:
            try:
                reply = await self._redis.xread({self._stream: self._read_after}, count=REPLAY_BATCH, block=READ_BLOCK_MS)
                answer = cast(list[tuple[str, StreamEntries]] | None, reply)
            except RedisError as exc:
                if self._stopping:  # redis-py turns the cancelled blocking read into a connection error
                    return
                logger.warning("event bus: reading Redis failed (%s); retrying in %.1f s", exc, RECONNECT_SECONDS)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    self._read_after = entry_id
                    fan_out(self._subscribers, self._decode(entry_id, fields))

    async def _replay(self, after: str) -> AsyncIterator[Event]:
        while True:
            entries = cast(StreamEntries, await self._redis.xrange(self._stream, min=f"({after}", max="+", count=REPLAY_BATCH))
            for entry_id, fields in entries:
                yield self._decode(entry_id, fields)
            if len(entries) < REPLAY_BATCH:
                return
            after = entries[-1][0]

    def _decode(self, entry_id: str, fields: Mapping[str, str]) -> Event:
        event = _decode(Event, orjson.loads(fields["e"]))
        return dataclasses.replace(event, cursor=f"{fields['p']}.{entry_id}", sequence=_order(entry_id))

    async def _state(self) -> tuple[str | None, dict[str, Any]]:
        """The current epoch and the stream's state (XINFO STREAM: the last id added, the oldest entry)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._epoch_key)
            pipe.xinfo_stream(self._stream)
            epoch, info = await pipe.execute(raise_on_error=False)
        if isinstance(info, ResponseError):  # no stream yet: nothing was ever published
            info = {"last-generated-id": "0-0", "first-entry": None}
        elif isinstance(info, Exception):
            raise info
        if isinstance(epoch, Exception):
            raise epoch
        return epoch, info

    def _parse(self, since: str, epoch: str | None, info: Mapping[str, Any]) -> str:
        stamp, _, entry_id = since.partition(".")
        ms, dash, seq = entry_id.partition("-")
        if not (dash and ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
            raise CursorError(f"since: {echo(since)} is not an event cursor")
        if stamp != epoch:
            raise CursorError("since: the cursor is from before a gateway restart; re-fetch with a query")
        if _order(entry_id) > _order(info["last-generated-id"]):
            raise CursorError("since: the cursor is ahead of this gateway's events")
        oldest = info.get("first-entry")
        if oldest and _order(entry_id) < _order(oldest[1].get("b", "0-0")):
            raise CursorError("since: the cursor is older than the retained events; re-fetch with a query")
        return entry_id


async def check(url: str) -> None:
    """Raises `BusUnavailable` when no Redis answers at `url` (`parley serve` checks before it starts)."""
    try:
        client = redis.Redis.from_url(url)
    except ValueError as exc:
        raise BusUnavailable(f"not a usable Redis URL: {exc}") from exc
    try:
        await client.ping()
    except RedisError as exc:
        raise BusUnavailable(f"the event bus cannot reach Redis: {exc}") from exc
    finally:
        await client.aclose()


def _order(entry_id: str) -> int:
    """A stream entry id `<ms>-<seq>` as one increasing number (Event.sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms) << 24 | int(seq)


# ---- events as JSON -----------------------------------------------------------------------------
# Events are frozen dataclasses of the provider models; the JSON follows their field types, so a
# decoded event equals the published one. Vendor data stays the JSON it came as.


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset):
        return [_encode(item) for item in (sorted(value) if isinstance(value, frozenset) else value)]
    if isinstance(value, Mapping):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _decode(kind: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _decode(inner, raw)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{name: _decode(hints[name], value) for name, value in raw.items()})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw)
    if kind is datetime:
        return datetime.fromisoformat(raw)
    if origin is tuple:
        return tuple(_decode(typing.get_args(kind)[0], item) for item in raw)
    if origin is frozenset:
        return frozenset(_decode(typing.get_args(kind)[0], item) for item in raw)
    return raw


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    if kind not in _HINTS:
        _HINTS[kind] = typing.get_type_hints(kind)
    return _HINTS[kind]
