"""Infobip's side of the shared sandbox gate (sandboxes/gate.py): ``App`` key auth, an optional
token bucket, and injected faults rendered as the vendor would answer them.

What the platform in front of the Conversations service refuses comes in its ``requestError`` shape:
401 ``UNAUTHORIZED`` / ``Invalid login details``, 403 ``FORBIDDEN``, 429 ``TOO_MANY_REQUESTS`` /
``Too many requests`` (with ``Retry-After`` seconds). Any other injected status is the service's own
``{"statusCode": "ERROR", "message": "injected fault: HTTP <status>"}``; 502/503/504 and malformed
bodies are ``sandboxes/faults.py``'s.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .model import error_response

PLATFORM_ERRORS: dict[int, tuple[str, str]] = {
    401: ("UNAUTHORIZED", "Invalid login details"),
    403: ("FORBIDDEN", "Forbidden"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
}


def request_error(status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
    message_id, text = PLATFORM_ERRORS[status]
    body = {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}
    return JSONResponse(body, status_code=status, headers=headers)


def render_fault(status: int, text: str, headers: dict[str, str]) -> Response:
    if status in PLATFORM_ERRORS:
        return request_error(status, headers)
    return error_response(status, text, headers)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_second`` calls a second."""

    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError(f"RateLimit needs burst >= 1 and per_second > 0, got {self.burst}, {self.per_second}")


class TokenBucket:
    """Counts calls against a :class:`RateLimit` on the sandbox clock, so tests control refills."""

    def __init__(self, limit: RateLimit, now: Callable[[], datetime]) -> None:
        self._limit = limit
        self._now = now
        self._tokens = float(limit.burst)
        self._checked = now()

    def take(self) -> int | None:
        """None when the call may go ahead, else the whole seconds until a token is back."""
        moment = self._now()
        elapsed = max((moment - self._checked).total_seconds(), 0.0)
        self._tokens = min(self._limit.burst, self._tokens + elapsed * self._limit.per_second)
        self._checked = moment
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return max(1, math.ceil((1 - self._tokens) / self._limit.per_second))


def app_key_auth(api_key: str, bucket: TokenBucket | None) -> Callable[[Request], Awaitable[Response | None]]:
    """``Authorization: App <key>`` (scheme in any case); other schemes are refused like a wrong key.

    Only authenticated calls count against the bucket.
    """

    async def authenticate(request: Request) -> Response | None:
        scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "app" or not secrets.compare_digest(credentials.strip().encode(), api_key.encode()):
            return request_error(401)
        wait = bucket.take() if bucket is not None else None
        return None if wait is None else request_error(429, {"Retry-After": str(wait)})

    return authenticate
