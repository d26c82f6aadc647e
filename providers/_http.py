"""Shared boundary for adapters: timeouts, retries, and translation into `ProviderError`s (of vendor
answers and of webhook bodies).

Requests go out through a `_wire.Transport`; this module decides how often and how long to wait.
Retries: idempotent calls are retried on connection failures, 502/503/504 and 429 (never on a
timeout, so a caller hears of a slow vendor within one timeout); a
non-idempotent call (creating, sending) is retried only on 429, which the vendor answers before
doing anything. A Retry-After longer than `MAX_RETRY_WAIT` is not waited for: the caller gets
`RateLimitedError` with `retry_after` and decides. Every attempt is one call of the request's
budget (`_budget`), checked before it is sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import orjson

from . import _budget, _observe
from ._wire import DEFAULT_TIMEOUT, Response, Transport, VendorHttp, WireRequest
from .errors import (
    MalformedResponseError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    InvalidRequestError,
    ConflictError,
)
from .models import VendorEvent

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.1
MAX_RETRY_WAIT = 2.0
RETRY_STATUSES = frozenset({502, 503, 504})


def make_client(
    base_url: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient | VendorHttp:
    """A long-lived pooled client for one vendor account; its owner (the app lifespan) closes it.
    `transport` replaces the network (tests: an in-process sandbox) and gives an httpx client."""
    if transport is not None:
        return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport, headers=headers)
    return VendorHttp(base_url, timeout=timeout, headers=headers)


async def send(
    client: Transport, request: WireRequest, *, provider: str, idempotent: bool, operation: str | None = None
) -> Response:
    """Sends with retries; returns the final response (any status) or raises a transport error.
    `operation` names the call in observations (`_observe.Routes`)."""
    operation = operation or f"{request.method} {_observe.UNMATCHED}"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        _budget.spend(provider)
        started = time.perf_counter()
        try:
            # ASGI and mock transports do not enforce httpx timeouts; this deadline always holds.
            async with asyncio.timeout(_deadline(client)):
                response = await client.send(request)
        except (httpx.TimeoutException, TimeoutError) as exc:
            _observe.vendor_call(provider, operation, "timeout", time.perf_counter() - started)
            # Not retried: a caller waiting on a slow vendor should hear so within one timeout.
            raise ProviderTimeoutError("no answer within the timeout", provider=provider) from exc
        except httpx.TransportError as exc:
            _observe.vendor_call(provider, operation, "unreachable", time.perf_counter() - started)
            if not idempotent or last:
                raise ProviderUnavailableError(f"cannot reach the vendor ({type(exc).__name__})", provider=provider) from exc
        else:
            _observe.vendor_call(provider, operation, str(response.status_code), time.perf_counter() - started)
            wait = _retry_wait(response, attempt, idempotent)
            if last or wait is None:
                return response
            await response.aclose()
            _observe.retry(provider, operation)
            await asyncio.sleep(wait)
            continue
        _observe.retry(provider, operation)
        await asyncio.sleep(_backoff(attempt))
    raise AssertionError("unreachable")


def _deadline(client: Transport) -> float | None:
    connect, read = client.timeout.connect, client.timeout.read
    return None if connect is None or read is None else connect + read


def _retry_wait(response: Response, attempt: int, idempotent: bool) -> float | None:
    if response.status_code == 429:
        retry_after = retry_after_seconds(response)
        wait = _backoff(attempt) if retry_after is None else retry_after
        return wait if wait <= MAX_RETRY_WAIT else None
    if idempotent and response.status_code in RETRY_STATUSES:
        return _backoff(attempt)
    return None


def _backoff(attempt: int) -> float:
    return BACKOFF_BASE * (2 ** (attempt - 1)) * (1 + random.random() / 2)


def retry_after_seconds(response: Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for APIs; treat as unknown


def decode_json(response: Response, *, provider: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"the vendor answered HTTP {response.status_code} with a body that is not JSON", provider=provider,
            status_code=response.status_code,
        ) from exc


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    vendor_code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The most specific `ProviderError` for an HTTP status the vendor answered with."""
    kw: dict[str, Any] = {"provider": provider, "status_code": status, "vendor_code": vendor_code}
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **kw)
    if status in (401, 403):
        return ProviderAuthError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 409:
        return ConflictError(message, **kw)
    if status == 504:
        return ProviderTimeoutError(message, **kw)
    if status >= 500:
        return ProviderUnavailableError(message, **kw)
    return InvalidRequestError(message, **kw)


class WebhookParser(Protocol):
    """A mapping's `parse_webhook`: raises ValueError, KeyError or TypeError for a body it cannot read."""

    def __call__(self, payload: object, *, provider: str) -> list[VendorEvent]: ...


def webhook_events(parse: WebhookParser, payload: object, *, provider: str) -> list[VendorEvent]:
    """`parse(payload)`; a body it cannot read (one the vendor would not send) is MalformedResponseError."""
    try:
        return parse(payload, provider=provider)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"webhook body: {exc}", provider=provider) from exc
