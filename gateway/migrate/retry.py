"""Retrying a vendor call the vendor could not answer now (429, 5xx, timeouts, a lost connection),
with exponential backoff that honours `Retry-After`. A call still failing after the last attempt
raises `VendorAway`, which stops the job (resumable) rather than failing conversation after
conversation while a vendor is down."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from providers.errors import ProviderUnavailableError, RateLimitedError

T = TypeVar("T")
ATTEMPTS = 7
FIRST_WAIT = 0.25
MAX_WAIT = 15.0
TRANSIENT = (ProviderUnavailableError, RateLimitedError)


class VendorAway(Exception):
    """A vendor did not answer usefully through every attempt."""


def wait_for(exc: Exception, attempt: int) -> float:
    """How long to wait before attempt `attempt + 1`: the vendor's Retry-After, else backoff with jitter."""
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return min(max(exc.retry_after, 0.0), MAX_WAIT * 4)
    return min(MAX_WAIT, FIRST_WAIT * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


async def retrying(call: Callable[[], Awaitable[T]], *, what: str, attempts: int = ATTEMPTS) -> T:
    """`call()`, again after a transient failure; VendorAway after `attempts` of them."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TRANSIENT as exc:
            if attempt == attempts:
                raise VendorAway(f"{what}: {exc} (after {attempts} attempts)") from exc
            await asyncio.sleep(wait_for(exc, attempt))
    raise AssertionError("unreachable")
