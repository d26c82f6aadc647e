"""Readiness: `GET /ready` answers 200 `{"status": "ready"}` when every check of
`Runtime.readiness_checks` passes, else 503 `{"status": "unready"}`, with the reasons only for a
loopback peer or an authenticated client (and then only those about the instance or about providers
the client may use). Liveness is `/health` (gateway/admission.py): the process answers, nothing more.

A check is an async callable returning None (fine) or why the instance should get no traffic: a
string about the instance, or `Unready(reason, provider=...)` about one provider. Checks run
concurrently, each within `CHECK_SECONDS`. The app registers the bus check; the circuit breakers
register one per provider ("open" is unready), and the migration store its own once it exists.
"""

from __future__ import annotations

from typing import Protocol

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from starlette.requests import Request
from starlette.responses import JSONResponse

from .auth import AuthenticationError, Authenticator
from .events import Bus, BusUnavailable
from .settings import is_loopback

CHECK_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Unready:
    reason: str
    provider: str | None = None  # a reason about this provider is shown only to callers who may use it


ReadinessCheck = Callable[[], Awaitable[str | Unready | None]]


def breaker_check(provider: str, breaker: Refusing) -> ReadinessCheck:
    """Unready while the provider's breaker refuses calls; after its cooldown the next call probes the
    vendor, so an instance taken out of rotation is not kept out by a breaker that could close."""

    async def check() -> Unready | None:
        if breaker.refusing():
            return Unready(f"provider {provider}: shut by its circuit breaker for {breaker.retry_after():.0f} s more", provider=provider)
        return None

    return check


class Refusing(Protocol):
    def refusing(self) -> bool: ...

    def retry_after(self) -> float: ...


def bus_check(bus: Bus) -> ReadinessCheck:
    async def check() -> str | None:
        try:
            await bus.ping()
        except BusUnavailable as exc:
            return f"event bus: {exc}"
        return None

    return check


async def unready(checks: list[ReadinessCheck]) -> list[Unready]:
    """What keeps the instance from being ready, in the order of `checks`."""

    async def run(check: ReadinessCheck) -> Unready | None:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                found = await check()
        except TimeoutError:
            found = f"{getattr(check, '__qualname__', 'a readiness check')} did not answer within {CHECK_SECONDS:g} s"
        return Unready(found) if isinstance(found, str) else found

    return [found for found in await asyncio.gather(*(run(c) for c in checks)) if found is not None]


def ready_endpoint(checks: list[ReadinessCheck], authenticator: Authenticator) -> Callable[[Request], Awaitable[JSONResponse]]:
    """`checks`: the runtime's list, read at each request (checks may be added after start)."""

    async def ready(request: Request) -> JSONResponse:
        problems = await unready(checks)
        if not problems:
            return JSONResponse({"status": "ready"}, headers=NO_STORE)
        body: dict[str, object] = {"status": "unready"}
        shown = _shown(authenticator, request, problems)
        if shown is not None:
            body["reasons"] = shown
        return JSONResponse(body, status_code=503, headers=NO_STORE)

    return ready


def _shown(authenticator: Authenticator, request: Request, problems: list[Unready]) -> list[str] | None:
    """The reasons this caller may read: all for a loopback peer, those about the instance and its own
    providers for an authenticated client, none for anyone else."""
    if is_loopback(request.client.host if request.client else ""):
        return [p.reason for p in problems]
    if authenticator.open:
        return None
    try:
        principal = authenticator.authenticate(request.headers.get("authorization"))
    except AuthenticationError:
        return None
    return [p.reason for p in problems if p.provider is None or principal.may_touch(p.provider)]
