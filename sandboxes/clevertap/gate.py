"""CleverTap's side of the shared sandbox gate (sandboxes/gate.py) and the concurrency limit.

- ``passcode_auth``: every API call carries ``X-CleverTap-Account-Id`` and ``X-CleverTap-Passcode``;
  a missing or wrong one is 401 ``Invalid credentials``.
- ``render_fault``: injected 4xx/5xx faults are the fail envelope (502/503/504 and malformed bodies
  are ``sandboxes/faults.py``'s); ``Retry-After`` only when the fault sets it.
- ``ConcurrencyLimit``: CleverTap limits concurrent requests per account, not requests per period.
  It sits outside the shared gate, so a request held by injected latency still counts as in flight.
  The sandbox serves one account, so every API request counts; ``/_sandbox`` controls never do.
  A request over the limit is answered 429 at once (no ``Retry-After``: CleverTap documents none)
  and still appears in the request log.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..gate import logged_body, logged_query
from ..gate import route_path
from ..kit import SANDBOX_ROOT
from .model import JsonDict, fail

ACCOUNT_HEADER = "X-CleverTap-Account-Id"
PASSCODE_HEADER = "X-CleverTap-Passcode"
TOO_MANY = "Too many concurrent requests"


def render_fault(status: int, text: str, headers: dict[str, str]) -> Response:
    return fail(status, text, headers)


def passcode_auth(account_id: str, passcode: str) -> Callable[[Request], Awaitable[Response | None]]:
    expected = (account_id.encode(), passcode.encode())

    async def authenticate(request: Request) -> Response | None:
        given = (request.headers.get(ACCOUNT_HEADER, ""), request.headers.get(PASSCODE_HEADER, ""))
        # Compare both, always, so the answer time says nothing about which one was wrong.
        account_ok = secrets.compare_digest(given[0].encode(), expected[0])
        passcode_ok = secrets.compare_digest(given[1].encode(), expected[1])
        return None if account_ok and passcode_ok else fail(401, "Invalid credentials")

    return authenticate


class InFlight:
    """How many API requests are being served now, against an optional limit."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max_concurrency must be at least 1 or None, got {limit}")
        self.limit = limit
        self.count = 0

    def try_enter(self) -> bool:
        if self.limit is not None and self.count >= self.limit:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1


class ConcurrencyLimit:
    """ASGI middleware: counts API requests in flight and refuses those over the limit with 429."""

    def __init__(self, app: ASGIApp, *, in_flight: InFlight, requests: list[JsonDict]) -> None:
        self.app = app
        self.in_flight = in_flight
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if scope["type"] != "http" or path == SANDBOX_ROOT or path.startswith(SANDBOX_ROOT + "/"):
            await self.app(scope, receive, send)
            return
        if not self.in_flight.try_enter():
            await self._refuse(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.leave()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": logged_query(request),
            "body": logged_body(body, request.headers.get("content-type", "")),
        }
        self.requests.append(entry)
        await fail(429, TOO_MANY)(scope, receive, send)
