"""Persisted and trusted documents: which document a request runs.

- Automatic persisted queries (Apollo's protocol): `extensions.persistedQuery = {version: 1,
  sha256Hash}`. A hash alone runs the document stored under it, or answers PERSISTED_QUERY_NOT_FOUND
  (the client then sends the query with its hash); a query with its hash is checked
  (`sha256(query) == sha256Hash`) and stored. The store is this process's memory (the most recently
  used `MEMORY_DOCUMENTS`), or the Redis of `bus_url`, shared by every instance, for `REDIS_TTL`.
- Trusted documents: `server.trusted_documents`, a manifest of sha256 -> document read at start.
  Anyone may run a manifest document by its hash alone. A client with `trusted_documents_only`
  may run nothing else, by hash or by full text: PERSISTED_QUERY_NOT_ALLOWED.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from .errors import ErrorCode, client_error

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool, Redis

logger = logging.getLogger("parley.limits")
MEMORY_DOCUMENTS = 10_000
REDIS_TTL_SECONDS = 24 * 3600
REDIS_PREFIX = "parley:apq:"
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# Apollo clients recognise a miss by this message as well as by the code.
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"


class Documents:
    def __init__(
        self, manifest: Mapping[str, str] | None, *, trusted_only: frozenset[str], pool: ConnectionPool | None = None
    ) -> None:
        """`trusted_only`: the clients that may run manifest documents only."""
        self._manifest = dict(manifest or {})
        self._trusted_only = trusted_only
        self._redis: Redis | None = None
        self._redis_error: type[Exception] = Exception
        if pool is not None:  # a pool is given only on a gateway with a Redis: redis-py is loaded then
            from redis.asyncio import Redis
            from redis.exceptions import RedisError

            self._redis, self._redis_error = Redis(connection_pool=pool), RedisError
        self._memory: OrderedDict[str, str] = OrderedDict()

    async def document(self, query: str | None, extensions: Mapping[str, Any] | None, client: str | None) -> str | None:
        """The document to run; raises a GraphQLError with the code that says why there is none."""
        trusted_only = client is not None and client in self._trusted_only
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if query is not None and trusted_only and _sha256(query) not in self._manifest:
                raise _not_allowed(client)
            return query
        digest = _digest(persisted)
        if query is None:
            known = self._manifest.get(digest)
            if known is not None:
                return known
            if trusted_only:
                raise _not_allowed(client)
            stored = await self._load(digest)
            if stored is None:
                raise client_error(NOT_FOUND_MESSAGE, ErrorCode.PERSISTED_QUERY_NOT_FOUND)
            return stored
        actual = _sha256(query)
        if actual != digest:
            raise client_error(
                f"extensions.persistedQuery.sha256Hash: {digest} is not the SHA-256 of the query (that is {actual})",
                field="extensions.persistedQuery.sha256Hash",
            )
        if digest not in self._manifest:
            if trusted_only:
                raise _not_allowed(client)
            await self._store(digest, query)
        return query

    async def _load(self, digest: str) -> str | None:
        if self._redis is None:
            found = self._memory.get(digest)
            if found is not None:
                self._memory.move_to_end(digest)
            return found
        try:
            raw = await self._redis.get(REDIS_PREFIX + digest)
        except self._redis_error as exc:  # the client sends the query again, and it runs
            logger.warning("persisted query lookup failed: %s", exc)
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    async def _store(self, digest: str, query: str) -> None:
        if self._redis is None:
            self._memory[digest] = query
            self._memory.move_to_end(digest)
            if len(self._memory) > MEMORY_DOCUMENTS:
                self._memory.popitem(last=False)
            return
        try:
            await self._redis.set(REDIS_PREFIX + digest, query, ex=REDIS_TTL_SECONDS)
        except self._redis_error as exc:  # the query runs all the same; its hash alone misses until stored
            logger.warning("persisted query not stored: %s", exc)


def _digest(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise client_error("extensions.persistedQuery: expected {version: 1, sha256Hash}", field="extensions.persistedQuery")
    if persisted.get("version") != 1:
        raise client_error(
            f"extensions.persistedQuery.version: only version 1 is supported, got {persisted.get('version')!r}",
            field="extensions.persistedQuery.version",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.match(digest):
        raise client_error(
            "extensions.persistedQuery.sha256Hash: expected 64 hexadecimal digits", field="extensions.persistedQuery.sha256Hash"
        )
    return digest.lower()


def _sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def _not_allowed(client: str | None) -> GraphQLError:
    return client_error(
        f"client {client!r} may run only the documents of the trusted-documents manifest (server.trusted_documents); "
        "this one is not in it",
        ErrorCode.PERSISTED_QUERY_NOT_ALLOWED,
    )
