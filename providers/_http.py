"""Shared boundary for adapters: timeouts, retries, the circuit breaker, and translation into
`ProviderError`s (of vendor answers and of webhook bodies).

Requests go out through a `_wire.Transport`; this module decides whether, how often and how long.
Retries: idempotent calls are retried on connection failures, 502/503/504 and 429 (never on a
timeout, so a caller hears of a slow vendor within one timeout); a non-idempotent call (creating,
sending) is retried only on 429, which the vendor answers before doing anything. Waits are
exponential with full jitter (`_retry.backoff`), or what Retry-After says; a Retry-After longer than
`MAX_RETRY_WAIT` is not waited for: the caller gets `RateLimitedError` with `retry_after` and decides.
Every attempt is one call of the request's budget (`_budget`), checked before it is sent.

A transport that is `Resilient` adds its provider's circuit breaker (`_breaker`: a refused call
raises `CircuitOpenError` at once) and retry budget (`_retry`: a retry it has no room for is not
made). The request's deadline
(`_deadline`) caps each attempt's timeout; a retry whose wait would leave less than
`MIN_RETRY_TIME` before it is not made, and a call past it raises `DeadlineExceededError`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import orjson

from . import _budget, _deadline, _observe, signals
from ._breaker import Outcome, outcome_of_status
from ._retry import backoff
from ._wire import DEFAULT_TIMEOUT, Response, Transport, VendorHttp, WireRequest
from .errors import (
    DeadlineExceededError,
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
from .resilience import Resilient

MAX_ATTEMPTS = 3
MAX_RETRY_WAIT = 2.0
MIN_RETRY_TIME = 0.1  # seconds a retry must have left before the deadline, after its wait
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
    """Sends with retries; returns the final response (any status) or raises a `ProviderError`.
    `operation` names the call in observations (`_observe.Routes`)."""
    operation = operation or f"{request.method} {_observe.UNMATCHED}"
    guard = client if isinstance(client, Resilient) else None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response, failure = await _attempt(client, guard, request, provider, operation, first=attempt == 1)
        if response is not None:
            wait, reason = _retry_wait(response, attempt, idempotent), _retry_reason(response.status_code)
        else:
            wait, reason = (backoff(attempt) if idempotent else None), "connection"
        if wait is not None and attempt < MAX_ATTEMPTS and _may_retry(guard, provider, operation, reason, wait):
            if response is not None:
                await response.aclose()
            await asyncio.sleep(wait)
            continue
        if response is not None:
            return response
        assert failure is not None
        raise failure
    raise AssertionError("unreachable")


async def _attempt(
    client: Transport, guard: Resilient | None, request: WireRequest, provider: str, operation: str, *, first: bool
) -> tuple[Response | None, ProviderError | None]:
    """One call: its answer, or the connection failure to raise if it is not retried. Raises a timeout
    and a refusal (deadline, breaker, budget) itself; the breaker hears of every outcome."""
    timeout, by_deadline = _timeout(client, provider)
    probe = guard.breaker.admit() if guard is not None else False
    outcome = Outcome.NEUTRAL  # unless the call gets an answer or fails (not if refused or cancelled)
    try:
        _budget.spend(provider)
        if guard is not None and first:
            guard.retries.deposit()  # a call made, not one refused: refusals earn no retries
        scope, started, result = asyncio.timeout(timeout), time.perf_counter(), "cancelled"
        try:
            async with scope:  # ASGI and mock transports do not enforce httpx timeouts; this always holds
                response = await client.send(request)
            result = str(response.status_code)
        except (httpx.TimeoutException, TimeoutError) as exc:
            if by_deadline and scope.expired():
                result = "deadline"
                raise DeadlineExceededError("no answer before the request's deadline", provider=provider) from exc
            outcome, result = Outcome.FAILURE, "timeout"
            raise ProviderTimeoutError("no answer within the timeout", provider=provider) from exc
        except httpx.TransportError as exc:
            outcome, result = Outcome.FAILURE, "connection_error"
            failure = ProviderUnavailableError(f"cannot reach the vendor ({type(exc).__name__})", provider=provider)
            failure.__cause__ = exc
            return None, failure
        finally:
            seconds = time.perf_counter() - started
            signals.emit(signals.VENDOR_CALL, provider, request.method, result, seconds)
            _observe.vendor_call(provider, operation, result, seconds)
        outcome = outcome_of_status(response.status_code)
        return response, None
    finally:
        if guard is not None:
            guard.breaker.record(probe, outcome)


def _timeout(client: Transport, provider: str) -> tuple[float | None, bool]:
    """The attempt's timeout, and whether the request's deadline set it (rather than the client's)."""
    connect, read = client.timeout.connect, client.timeout.read
    own = None if connect is None or read is None else connect + read
    left = _deadline.remaining()
    if left is None:
        return own, False
    if left <= 0:
        raise DeadlineExceededError("the request's deadline passed before this call", provider=provider)
    return (left, True) if own is None or left < own else (own, False)


def _may_retry(guard: Resilient | None, provider: str, operation: str, reason: str, wait: float) -> bool:
    left = _deadline.remaining()
    made = (left is None or left - wait >= MIN_RETRY_TIME) and (guard is None or guard.may_retry())
    signals.emit(signals.RETRY, provider, reason, made)
    if made:
        _observe.retry(provider, operation)
    return made


def _retry_reason(status: int) -> str:
    return "status_429" if status == 429 else "status_5xx"


def _retry_wait(response: Response, attempt: int, idempotent: bool) -> float | None:
    if response.status_code == 429:
        retry_after = retry_after_seconds(response)
        if retry_after is None:
            return backoff(attempt)
        return retry_after + backoff(1) if retry_after <= MAX_RETRY_WAIT else None  # jitter: not all back at once
    if idempotent and response.status_code in RETRY_STATUSES:
        return backoff(attempt)
    return None


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
