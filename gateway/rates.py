"""Per-client rate limits with the `limits` library: requests per window and estimated vendor calls
per window, each a sliding-window counter keyed by the client.

Counters live in this process, or on the Redis of `bus_url` so every instance and worker counts
against the same limit. `limits` reaches Redis through redis-py (its `redispy` implementation; its
default, coredis, is not installed) over a connection pool the app owns and closes. If Redis cannot
be reached, requests are served and the failure is logged: an unreachable counter must not take the
API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

logger = logging.getLogger("parley.limits")
KEY_PREFIX = "parley-limits"


class RateLimits:
    """`requests` and `cost` in the `limits` notation ("600/minute", "10/second;600/hour"); None: no limit."""

    def __init__(self, *, requests: str | None, cost: str | None, pool: ConnectionPool | None = None) -> None:
        self._requests = parse_many(requests) if requests else []
        self._cost = parse_many(cost) if cost else []
        storage: Storage = MemoryStorage() if pool is None else RedisStorage(
            _storage_uri(pool), implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True,
            connection_pool=pool,  # type: ignore[arg-type]  # typed as scalar options, handed to redis-py as is
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit_request(self, client: str) -> float | None:
        """Counts one request; the seconds to wait when it is over a limit, else None."""
        return await self._hit(self._requests, "requests", client, 1)

    async def hit_cost(self, client: str, cost: int) -> float | None:
        """Charges `cost` vendor calls; the seconds to wait when that is over a limit, else None."""
        return await self._hit(self._cost, "cost", client, cost) if cost > 0 else None

    async def _hit(self, items: list[RateLimitItem], kind: str, client: str, cost: int) -> float | None:
        for item in items:
            try:
                if await self._limiter.hit(item, kind, client, cost=cost):
                    continue
                stats = await self._limiter.get_window_stats(item, kind, client)
            except StorageError as exc:
                logger.warning("rate limit %s not applied: the counter store failed (%s)", item, exc.storage_error)
                return None
            return max(1.0, math.ceil(stats.reset_time - time.time()))
        return None


def _storage_uri(pool: ConnectionPool) -> str:
    """The `limits` storage URI for the pool's Redis (only its scheme matters: the pool connects)."""
    kind = pool.connection_class.__name__
    if kind == "UnixDomainSocketConnection":
        return "async+redis+unix:///"
    return "async+rediss://" if kind == "SSLConnection" else "async+redis://"
