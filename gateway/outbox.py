"""The shared bus's local outbox: events it could not hand to Redis, kept in this process in the order
they were published and handed over, oldest first, as soon as Redis takes them again.

- Bounded: at most `OUTBOX_SIZE` events. When full, a new event is refused (`BusUnavailable`: the
  mutation still answers what the vendor did and logs the event as not announced; a webhook is
  answered 503 so the vendor can deliver it again) rather than dropping a kept one, so what was kept
  stays whole and in order. Refusals are counted and logged.
- Kept as long as the process runs. On a clean stop it tries for `STOP_SECONDS` more; what is still
  kept after that is lost with the process, and logged as an error with the number.
- Handed over one at a time: a later event never overtakes an earlier one. Handing over is
  idempotent on Redis (events are keyed for de-duplication), so an event whose publish reached Redis
  but whose answer was lost is not published twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .events import BusUnavailable

logger = logging.getLogger("parley.bus")

T = TypeVar("T")
OUTBOX_SIZE = 10_000
STOP_SECONDS = 1.0
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 1.0
REFUSAL_LOG_EVERY = 1_000  # a full outbox logs its first refusal, then every this many


class Outbox(Generic[T]):
    """`send` hands one kept item to Redis, raising `BusUnavailable` while it cannot."""

    def __init__(self, send: Callable[[T], Awaitable[None]], *, size: int = OUTBOX_SIZE) -> None:
        self._send, self.size = send, size
        self._kept: deque[T] = deque()
        self._drainer: asyncio.Task[None] | None = None
        # Counters for metrics (read them; nothing here exports them): events ever kept, handed over
        # late, refused because the outbox was full, and lost at a stop.
        self.kept_total = 0
        self.handed_over_total = 0
        self.refused_total = 0
        self.lost_total = 0
        self.on_change: Callable[[int], None] = lambda waiting: None  # told the number waiting (metrics)

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, item: T) -> None:
        """Keeps `item` behind the others; raises BusUnavailable when the outbox is full."""
        if len(self._kept) >= self.size:
            self.refused_total += 1
            if self.refused_total % REFUSAL_LOG_EVERY == 1:
                logger.warning("event bus: the outbox is full (%d events waiting for Redis); %d events refused so far",
                               len(self._kept), self.refused_total)
            raise BusUnavailable("the event bus is unavailable and can keep no more events")
        self._kept.append(item)
        self.kept_total += 1
        self.on_change(len(self._kept))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="parley-bus-outbox")

    async def close(self, timeout: float = STOP_SECONDS) -> None:
        """Tries to hand over what is kept within `timeout`, then gives up on the rest (logged)."""
        if self._drainer is not None and not self._drainer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drainer), timeout)
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._kept:
            self.lost_total += len(self._kept)
            logger.error("event bus: stopping with %d events Redis never took; they are not announced", len(self._kept))
            self._kept.clear()
            self.on_change(0)

    async def _drain(self) -> None:
        delay = RETRY_FIRST_SECONDS
        handed = 0
        while self._kept:
            try:
                await self._send(self._kept[0])
            except BusUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            except Exception:  # a bug, not Redis: one event must not hold back every later one
                logger.exception("event bus: an event in the outbox cannot be published; it is dropped")
                self.lost_total += 1
            else:
                handed += 1
                self.handed_over_total += 1
            self._kept.popleft()
            self.on_change(len(self._kept))
            delay = RETRY_FIRST_SECONDS
        logger.info("event bus: the %d events kept while Redis was away are handed over", handed)
