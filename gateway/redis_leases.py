"""Leases on the Redis of the shared bus (`gateway.leases` says what a lease and a mark are)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from .leases import LeaseUnavailable

MARK_TTL_SECONDS = 7 * 86_400  # a mark not written for a week is from a setup long gone: start afresh

# KEYS: the lease. ARGV: holder, TTL ms. Takes a free lease or renews one's own; 1 when held after.
TAKE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""
# KEYS: the lease. ARGV: holder.
GIVE_BACK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS: the lease, the mark. ARGV: holder, mark, mark TTL seconds.
WRITE_MARK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisLeases:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis, self._prefix = client, prefix
        self._take = client.register_script(TAKE)
        self._give_back = client.register_script(GIVE_BACK)
        self._write_mark = client.register_script(WRITE_MARK)

    async def take(self, name: str, holder: str, ttl_seconds: float) -> bool:
        return bool(await self._call(self._take, [self._lease(name)], [holder, max(1, round(ttl_seconds * 1000))]))

    async def give_back(self, name: str, holder: str) -> None:
        await self._call(self._give_back, [self._lease(name)], [holder])

    async def read_mark(self, name: str) -> str | None:
        try:
            value = await self._redis.get(self._mark(name))
        except RedisError as exc:
            raise LeaseUnavailable(f"leases cannot be read: {type(exc).__name__}") from exc
        return None if value is None else str(value)

    async def write_mark(self, name: str, holder: str, mark: str) -> bool:
        return bool(await self._call(self._write_mark, [self._lease(name), self._mark(name)], [holder, mark, MARK_TTL_SECONDS]))

    async def _call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise LeaseUnavailable(f"leases cannot be reached: {type(exc).__name__}") from exc

    def _lease(self, name: str) -> str:
        return f"{self._prefix}:lease:{name}"

    def _mark(self, name: str) -> str:
        return f"{self._prefix}:mark:{name}"
