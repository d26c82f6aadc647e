"""What one app's request limits keep between requests: the limits, the rate counters and the
persisted documents, in memory or on the Redis of `bus_url` (one connection pool for both, opened on
first use and closed with the app). The checks themselves run in `gateway.limits`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .documents import Documents
from .rates import RateLimits
from .settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.limits = settings.limits
        self._pool: ConnectionPool | None = None
        if settings.bus_url:  # redis-py (and the cryptography it loads, ~16 MiB together) only for those who use Redis
            from redis.asyncio import ConnectionPool

            self._pool = ConnectionPool.from_url(settings.bus_url)
        self.rates = RateLimits(requests=self.limits.rate_limit, cost=self.limits.cost_rate_limit, pool=self._pool)
        trusted_only = frozenset(c.name for c in settings.clients if c.trusted_documents_only)
        self.documents = Documents(settings.trusted_documents, trusted_only=trusted_only, pool=self._pool)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def client_of(context: Any) -> str | None:
    """The `[clients.<name>]` the request acts as (None: anonymous)."""
    return getattr(getattr(context, "principal", None), "client", None)


def rate_key(context: Any) -> str:
    """Whom a request's rates count against: its client, or its address when anonymous (behind a
    proxy, give uvicorn --proxy-headers so that is the caller's)."""
    client = client_of(context)
    if client is not None:
        return f"client:{client}"
    peer = getattr(getattr(context, "request", None), "client", None)
    return f"address:{peer.host if peer is not None else 'unknown'}"
