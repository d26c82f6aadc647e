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
import re
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import orjson

from . import _budget
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


async def send(client: Transport, request: WireRequest, *, provider: str, idempotent: bool) -> Response:
    """Sends with retries; returns the final response (any status) or raises a transport error."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        _budget.spend(provider)
        try:
            # ASGI and mock transports do not enforce httpx timeouts; this deadline always holds.
            async with asyncio.timeout(_deadline(client)):
                response = await client.send(request)
        except (httpx.TimeoutException, TimeoutError) as exc:
            # Not retried: a caller waiting on a slow vendor should hear so within one timeout.
            raise ProviderTimeoutError("no answer within the timeout", provider=provider) from exc
        except httpx.TransportError as exc:
            if not idempotent or last:
                raise ProviderUnavailableError(f"cannot reach the vendor ({type(exc).__name__})", provider=provider) from exc
        else:
            wait = _retry_wait(response, attempt, idempotent)
            if last or wait is None:
                return response
            await response.aclose()
            await asyncio.sleep(wait)
            continue
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


# What Parley says of a vendor's refusal, by its HTTP status; the vendor's own text goes alongside.
STATUS_WORDS = {
    401: "the vendor refused Parley's credentials",
    403: "the vendor refused Parley's credentials for this operation",
    404: "the vendor has no such object",
    409: "the vendor refused the change: the conversation's state forbids it",
    429: "the vendor's rate limit was reached",
    504: "the vendor gave no answer in time",
}


CLOSED = re.compile(r"\bclosed\b", re.IGNORECASE)
CLOSED_WORDS = "the conversation is closed: the vendor changes nothing on it and adds no message to it"


def vendor_words(status: int, vendor_message: str | None = None) -> str:
    """Parley's words for a vendor's answer with `status` (and text `vendor_message`): a refusal
    that says the conversation is closed is worded so, as every vendor refuses changes to one."""
    if status == 400 and vendor_message is not None and CLOSED.search(vendor_message):
        return CLOSED_WORDS
    if status in STATUS_WORDS:
        return STATUS_WORDS[status]
    if status >= 500:
        return f"the vendor failed (HTTP {status})"
    return f"the vendor refused the request (HTTP {status})"


def error_for_status(
    status: int,
    vendor_message: str | None,
    *,
    provider: str,
    vendor_code: str | None = None,
    retry_after: float | None = None,
    message: str | None = None,
) -> ProviderError:
    """The most specific `ProviderError` for an HTTP status the vendor answered with: `message` (or
    Parley's words for the status) as its message, the vendor's text as `vendor_message`."""
    kw: dict[str, Any] = {
        "provider": provider, "status_code": status, "vendor_code": vendor_code, "vendor_message": vendor_message,
    }
    words = message or vendor_words(status, vendor_message)
    if status == 429:
        return RateLimitedError(words, retry_after=retry_after, **kw)
    if status in (401, 403):
        return ProviderAuthError(words, **kw)
    if status == 404:
        return NotFoundError(words, **kw)
    if status == 409:
        return ConflictError(words, **kw)
    if status == 504:
        return ProviderTimeoutError(words, **kw)
    if status >= 500:
        return ProviderUnavailableError(words, **kw)
    return InvalidRequestError(words, **kw)


class WebhookParser(Protocol):
    """A mapping's `parse_webhook`: raises ValueError, KeyError or TypeError for a body it cannot read."""

    def __call__(self, payload: object, *, provider: str) -> list[VendorEvent]: ...


def webhook_events(parse: WebhookParser, payload: object, *, provider: str) -> list[VendorEvent]:
    """`parse(payload)`; a body it cannot read (one the vendor would not send) is MalformedResponseError."""
    try:
        return parse(payload, provider=provider)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"webhook body: {exc}", provider=provider) from exc
