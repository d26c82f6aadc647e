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

When Redis is away nothing is lost (as long as this process lives):

- An event that cannot be published is kept in the local outbox (`gateway.outbox`, bounded), and so is
  every later one while it holds any, so this instance's events keep their order. The outbox hands
  them over as soon as Redis answers.
- Events handed over after an outage do not go straight into the stream: they wait in a staging set
  (`<prefix>:staging`, ordered by the time each instance accepted them) for `STAGING_GRACE_MS` after
  the first arrives, and every event published meanwhile waits behind them. Then one instance moves
  them all into the stream in that order. So the outboxes of instances that reach Redis again within
  the grace merge in the order their events happened (by each instance's clock), and a client that
  reconnects with `since` receives them in order, once each.
- A subscription without `since` needs no Redis to start: it receives what the reader reads next. One
  with `since` needs Redis for the replay, and is refused while Redis is away.
- The connection pool retries a command once on a broken connection (one left over from before a
  Redis restart is replaced, not reported), and fails fast when Redis does not answer.
- No Redis address reaches a client: errors say only that the event bus is unavailable. The logs name
  the URL with its password hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from providers import echo

from . import bus_codec
from .bus_scripts import MOVE, PUBLISH, STAGE
from .events import RETENTION, BusUnavailable, CursorError, Event, SubscriberHost, Subscribers, dedup_key, fan_out
from .leases import Leases
from .outbox import OUTBOX_SIZE, Outbox
from .redact import url_without_password
from .redis_leases import RedisLeases

# (entry id, fields): redis-py types stream replies for every decoding; with decode_responses they are str.
StreamEntries = list[tuple[str, dict[str, str]]]
logger = logging.getLogger("parley.bus")

_encode, _decode = bus_codec.encode, bus_codec.decode  # the names the tests know

DEDUP_SECONDS = 86_400
READ_BLOCK_MS = 1_000
REPLAY_BATCH = 500
MOVE_BATCH = 500
RECONNECT_SECONDS = 0.5
STAGING_GRACE_MS = 2_000
CONNECT_TIMEOUT_SECONDS = 1.0
COMMAND_TIMEOUT_SECONDS = 2.0 + READ_BLOCK_MS / 1000  # the blocking read waits READ_BLOCK_MS for its answer
HEALTH_CHECK_SECONDS = 15  # a connection idle this long is checked before use
UNAVAILABLE = "the event bus is unavailable (Redis cannot be reached)"


@dataclasses.dataclass(frozen=True, slots=True)
class Kept:
    """An event waiting in the outbox: its entry and dedup key, and when this instance accepted it."""

    entry: bytes
    dedup_key: str
    score: int  # microseconds since the epoch, increasing within this instance
    tag: str  # `<instance> <number>`: unique, so two kept events are never one staging member


class RedisBus(SubscriberHost):
    def __init__(
        self, url: str, *, prefix: str = "parley", retention: int = RETENTION, dedup_seconds: int = DEDUP_SECONDS,
        outbox_size: int = OUTBOX_SIZE,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=COMMAND_TIMEOUT_SECONDS,
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1), health_check_interval=HEALTH_CHECK_SECONDS,
        )
        self._where = url_without_password(url)
        self._stream, self._epoch_key, self._prefix = f"{prefix}:events", f"{prefix}:epoch", prefix
        self._staging, self._staging_since = f"{prefix}:staging", f"{prefix}:staging-since"
        self._retention, self._dedup_seconds = retention, dedup_seconds
        self._publish = self._redis.register_script(PUBLISH)
        self._stage = self._redis.register_script(STAGE)
        self._move = self._redis.register_script(MOVE)
        self._subscribers = Subscribers()
        self._outbox: Outbox[Kept] = Outbox(self._hand_over, size=outbox_size)
        self._leases = RedisLeases(self._redis, prefix)
        self._instance = secrets.token_hex(6)
        self._numbers = 0
        self._last_score = 0
        self._reader: asyncio.Task[None] | None = None
        self._mover: asyncio.Task[None] | None = None
        self._staged_since_move = False
        self._read_after = "0-0"
        self._stopping = False
        self._unreachable = False

    @property
    def outbox(self) -> Outbox[Kept]:
        return self._outbox

    async def start(self) -> None:
        """Checks that Redis answers (a wrong URL fails the start, not the first event), starts the reader
        after the stream's current end, and moves events another instance left staged."""
        try:
            _, info = await self._state()
        except RedisError as exc:
            raise BusUnavailable(f"{UNAVAILABLE}: {type(exc).__name__}") from exc
        self._read_after = info["last-generated-id"]
        self._reader = asyncio.create_task(self._read(), name="parley-bus-reader")
        self._start_mover()

    async def stop(self) -> None:
        await self._outbox.close()
        self._stopping = True
        for task in (self._reader, self._mover):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._reader = self._mover = None
        self._subscribers.live.clear()
        await self._redis.aclose()

    async def ping(self) -> None:
        """Raises BusUnavailable, naming the error's kind but not Redis's address, when Redis does not answer."""
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise BusUnavailable(f"Redis does not answer ({type(exc).__name__})") from exc

    async def publish(self, event: Event) -> Event | None:
        kept = self._kept(event)
        if len(self._outbox):  # Redis was away and earlier events still wait: this one goes behind them
            return self._keep(event, kept)
        keys = [self._stream, self._epoch_key, self._staging, self._staging_since]
        if key := dedup_key(event):
            keys.append(f"{self._prefix}:seen:{key}")
        args: list[bytes | str | int] = [kept.entry, self._retention, secrets.token_hex(4), self._dedup_seconds, kept.score, kept.tag]
        try:
            added = await self._publish(keys=keys, args=args)
        except RedisError as exc:
            self._lost_redis(exc)
            return self._keep(event, kept)
        self._found_redis()
        if added is None:
            return None
        if added == "staged":  # behind events handed over after an outage
            self._staged_since_move = True
            self._start_mover()
            return dataclasses.replace(event, cursor="", sequence=0)
        epoch, entry_id = added
        return dataclasses.replace(event, cursor=f"{epoch}.{entry_id}", sequence=_order(entry_id))

    async def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        subscriber = self._subscribers.join()
        try:
            last = _order(self._read_after)  # the reader hands over everything after this
            if since is not None:
                try:
                    epoch, info = await self._state()
                    after = self._parse(since, epoch, info)
                    last = _order(after)
                    async for event in self._replay(after):
                        last = event.sequence
                        yield event
                except RedisError as exc:
                    self._lost_redis(exc)
                    raise BusUnavailable(UNAVAILABLE) from None
            async with contextlib.aclosing(subscriber.after(last)) as live:
                async for event in live:
                    yield event
        finally:
            self._subscribers.leave(subscriber)

    # ---- while Redis is away ---------------------------------------------------------------------

    def _kept(self, event: Event) -> Kept:
        self._numbers += 1
        self._last_score = max(time.time_ns() // 1000, self._last_score + 1)
        # An event that is never a repeat still gets a key of its own, so handing it over twice is harmless.
        key = dedup_key(event) or f"once:{self._instance}:{self._numbers}"
        entry = orjson.dumps(_encode(dataclasses.replace(event, cursor="", sequence=0)))
        return Kept(entry, key, self._last_score, f"{self._instance} {self._numbers}")

    def _keep(self, event: Event, kept: Kept) -> Event:
        self._outbox.keep(kept)  # BusUnavailable when full
        return dataclasses.replace(event, cursor="", sequence=0)

    async def _hand_over(self, kept: Kept) -> None:
        keys = [self._epoch_key, self._staging, self._staging_since, f"{self._prefix}:seen:{kept.dedup_key}"]
        try:
            await self._stage(keys=keys, args=[kept.entry, secrets.token_hex(4), self._dedup_seconds, kept.score, kept.tag])
        except RedisError as exc:
            raise BusUnavailable(UNAVAILABLE) from exc
        self._found_redis()
        self._staged_since_move = True
        self._start_mover()

    def _start_mover(self) -> None:
        if not self._stopping and (self._mover is None or self._mover.done()):
            self._mover = asyncio.create_task(self._move_staged(), name="parley-bus-mover")

    async def _move_staged(self) -> None:
        """Moves the staged events into the stream once the grace has passed, in order."""
        delay = RECONNECT_SECONDS
        while not self._stopping:
            self._staged_since_move = False
            keys = [self._stream, self._epoch_key, self._staging, self._staging_since]
            try:
                _, wait_ms, left = await self._move(keys=keys, args=[STAGING_GRACE_MS, self._retention, secrets.token_hex(4), MOVE_BATCH])
            except RedisError:
                await asyncio.sleep(delay)  # the reader and the outbox report Redis's absence
                continue
            if wait_ms:
                await asyncio.sleep(wait_ms / 1000)
            elif not left and not self._staged_since_move:
                return

    def _lost_redis(self, exc: RedisError) -> None:
        if not self._unreachable:
            self._unreachable = True
            logger.warning("event bus: Redis at %s cannot be reached (%s: %s); events wait in the local outbox",
                           self._where, type(exc).__name__, exc)

    def _found_redis(self) -> None:
        if self._unreachable:
            self._unreachable = False
            logger.info("event bus: Redis at %s answers again", self._where)

    # ---- reading the stream ---------------------------------------------------------------------

    async def _read(self) -> None:
        while not self._stopping:
            try:
                reply = await self._redis.xread({self._stream: self._read_after}, count=REPLAY_BATCH, block=READ_BLOCK_MS)
                answer = cast(list[tuple[str, StreamEntries]] | None, reply)
            except RedisError as exc:
                if self._stopping:  # redis-py turns the cancelled blocking read into a connection error
                    return
                self._lost_redis(exc)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            self._found_redis()
            for _, entries in answer or ():
                for entry_id, fields in entries:
                    self._read_after = entry_id
                    fan_out(self._subscribers.live, self._decode(entry_id, fields))

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
    """Raises `BusUnavailable` when no Redis answers at `url` (`parley serve` checks before it starts);
    the message names the URL without its password."""
    where = url_without_password(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except ValueError as exc:
        raise BusUnavailable(f"not a usable Redis URL: {where}: {exc}") from None
    try:
        await client.ping()
    except RedisError as exc:
        raise BusUnavailable(f"the event bus cannot reach Redis at {where}: {type(exc).__name__}: {exc}") from None
    finally:
        await client.aclose()


def _order(entry_id: str) -> int:
    """A stream entry id `<ms>-<seq>` as one increasing number (Event.sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms) << 24 | int(seq)
