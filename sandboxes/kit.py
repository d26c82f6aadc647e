"""What every vendor sandbox shares and no adapter may use: a movable clock, the state the gate and
the sandbox-only control routes share (``SandboxControls``), typed reading of JSON request bodies,
and a fixed latency in front of a whole app. The gate itself is ``gate.py``, fault injection
``faults.py`` and webhook delivery ``webhooks.py``.

Control routes (under ``/_sandbox``, never authenticated, never logged):

- ``POST /_sandbox/faults`` ``{status?, retryAfter?, malformed?, commitThenDrop?, latencyMs?, times?,
  pathContains?, method?}`` queues a fault (``times`` null = until cleared; ``method`` and
  ``pathContains`` narrow which requests it hits); ``GET`` lists them; ``DELETE`` clears them.
  ``commitThenDrop`` carries the request out, then drops the connection without an answer (see
  ``faults.py`` for what a client sees over a socket and in-process).
- ``GET /_sandbox/requests`` is the request log ``[{method, path, query, body}]`` (and ``requestId``, the
  caller's ``X-Request-Id``, when it sent one); ``DELETE`` clears it.
- ``GET /_sandbox/clock`` is ``{"now": <ISO 8601>}``; ``POST {"advanceSeconds": n}`` moves it forward.

A malformed control request answers 400 ``{"error": "<what was wrong>"}``.

``with_latency`` puts a fixed delay in front of a whole sandbox app (``parley sandbox --latency-ms``),
so benchmarks can stand in for a vendor across a network; control routes stay instant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .faults import FaultQueue, HookInputError, JsonDict, RenderError, parse_fault
from .gate import Authenticate, VendorGate, route_path

__all__ = [
    "SANDBOX_ROOT",
    "route_path",
    "JsonFields",
    "SandboxClock",
    "SandboxControls",
    "json_kind",
    "with_latency",
]

SANDBOX_ROOT = "/_sandbox"


JSON_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}


def json_kind(value: object) -> str:
    """How an error message names a JSON value's type: "a string", "an array", "null"."""
    return "null" if value is None else JSON_KINDS.get(type(value), type(value).__name__)


class JsonFields:
    """Reads typed fields of a JSON request body. A field of the wrong type, or a required one that is
    missing or blank, raises `invalid(message)` (the sandbox's own error), naming where it is."""

    def __init__(self, invalid: Callable[[str], Exception]) -> None:
        self.invalid = invalid

    def obj(self, raw: object, where: str) -> dict[str, object]:
        if not isinstance(raw, dict):
            raise self.invalid(f"{where} must be a JSON object, got {json_kind(raw)}")
        return raw

    def opt_str(self, obj: Mapping[str, object], key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.invalid(f"{where}.{key} must be a string, got {json_kind(value)}")

    def req_str(self, obj: Mapping[str, object], key: str, where: str) -> str:
        value = self.opt_str(obj, key, where)
        if value is None or not value.strip():
            raise self.invalid(f"{where}.{key} is required and must be a non-empty string")
        return value

    def opt_bool(self, obj: Mapping[str, object], key: str, where: str) -> bool | None:
        value = obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.invalid(f"{where}.{key} must be true or false, got {value!r}")

    def opt_int(self, obj: Mapping[str, object], key: str, where: str) -> int | None:
        value = obj.get(key)
        # bool is an int subclass in Python but never an integer on the wire.
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self.invalid(f"{where}.{key} must be an integer, got {value!r}")


# -- the clock -------------------------------------------------------------------------------------


class SandboxClock:
    """Aware UTC time from ``base`` (default: the wall clock) plus an offset tests move forward."""

    def __init__(self, base: Callable[[], datetime] | None = None) -> None:
        self._base = base or (lambda: datetime.now(UTC))
        self.offset = timedelta()

    def now(self) -> datetime:
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def with_latency(app: ASGIApp, latency_ms: int, sandbox_root: str = SANDBOX_ROOT) -> ASGIApp:
    """``app`` with every HTTP request outside ``sandbox_root`` held ``latency_ms`` before it is
    handed on; ``app`` itself when ``latency_ms`` is 0."""
    if latency_ms < 0:
        raise ValueError(f"latency_ms must not be negative, got {latency_ms}")
    if latency_ms == 0:
        return app
    delay = latency_ms / 1000

    async def delayed(scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if scope["type"] == "http" and path != sandbox_root and not path.startswith(sandbox_root + "/"):
            await asyncio.sleep(delay)
        await app(scope, receive, send)

    return delayed


# -- control routes --------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SandboxControls:
    """The state the gate and the control routes share: one per sandbox app."""

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.faults = FaultQueue()
        self.requests: list[JsonDict] = []

    def gate(
        self,
        app: ASGIApp,
        *,
        render_error: RenderError,
        authenticate: Authenticate | None = None,
        public_paths: frozenset[str] = frozenset(),
        sandbox_root: str = SANDBOX_ROOT,
    ) -> VendorGate:
        """The gate (``gate.py``) in front of ``app``, logging to and faulting from these controls."""
        return VendorGate(
            app, requests=self.requests, faults=self.faults, render_error=render_error, authenticate=authenticate,
            public_paths=public_paths, sandbox_root=sandbox_root,
        )

    def routes(self, root: str = SANDBOX_ROOT, format_time: Callable[[datetime], str] = _iso) -> list[Route]:
        async def body_of(request: Request) -> object:
            try:
                return json.loads(await request.body() or b"null")
            except ValueError as error:
                raise HookInputError(f"body is not valid JSON: {error}") from None

        def refused(error: HookInputError) -> Response:
            return JSONResponse({"error": str(error)}, status_code=400)

        def faults_now() -> Response:
            return JSONResponse({"faults": [fault.to_json() for fault in self.faults.faults]})

        async def add_fault(request: Request) -> Response:
            try:
                self.faults.faults.append(parse_fault(await body_of(request)))
            except HookInputError as error:
                return refused(error)
            return faults_now()

        async def get_faults(request: Request) -> Response:
            return faults_now()

        async def clear_faults(request: Request) -> Response:
            self.faults.faults.clear()
            return faults_now()

        async def get_requests(request: Request) -> Response:
            return JSONResponse({"requests": self.requests})

        async def clear_requests(request: Request) -> Response:
            self.requests.clear()
            return JSONResponse({"requests": []})

        async def get_clock(request: Request) -> Response:
            return JSONResponse({"now": format_time(self.clock.now())})

        async def advance_clock(request: Request) -> Response:
            try:
                raw = await body_of(request)
            except HookInputError as error:
                return refused(error)
            seconds = raw.get("advanceSeconds") if isinstance(raw, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                return refused(HookInputError(f"body.advanceSeconds must be a number of seconds >= 0, got {seconds!r}"))
            self.clock.advance(seconds)
            return await get_clock(request)

        return [
            Route(f"{root}/faults", add_fault, methods=["POST"]),
            Route(f"{root}/faults", get_faults, methods=["GET"]),
            Route(f"{root}/faults", clear_faults, methods=["DELETE"]),
            Route(f"{root}/requests", get_requests, methods=["GET"]),
            Route(f"{root}/requests", clear_requests, methods=["DELETE"]),
            Route(f"{root}/clock", get_clock, methods=["GET"]),
            Route(f"{root}/clock", advance_clock, methods=["POST"]),
        ]
