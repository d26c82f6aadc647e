"""What every vendor sandbox shares and no adapter may use: the request log, fault injection, a
movable clock and the sandbox-only control routes that drive them.

Nothing here knows a vendor's wire format. A sandbox passes in how its vendor renders an error
(``render_error``) and how it authenticates (``authenticate``); the kit owns the order a request
passes the gate in, which is part of every sandbox's contract:

1. the request is logged (so tests count upstream calls even when they fail);
2. the first queued fault whose ``pathContains`` matches is applied: its latency first, then its
   status or malformed body;
3. ``authenticate`` runs (unless the path is public); a response from it is the answer;
4. the vendor route runs.

Injected fault bodies look like what a client meets in production: 502/503/504 are an HTML page
from a "load balancer"; other statuses are the vendor's own error body (``render_error``), with
``Retry-After`` on 429 and 503 when the fault sets ``retryAfter``; ``malformed`` is HTTP 200 with
an ``application/json`` content type and a truncated JSON body.

Control routes (under ``/_sandbox``, never authenticated, never logged):

- ``POST /_sandbox/faults`` ``{status?, retryAfter?, malformed?, latencyMs?, times?, pathContains?}``
  queues a fault (``times`` null = until cleared); ``GET`` lists them; ``DELETE`` clears them.
- ``GET /_sandbox/requests`` is the request log ``[{method, path, query, body}]``; ``DELETE`` clears it.
- ``GET /_sandbox/clock`` is ``{"now": <ISO 8601>}``; ``POST {"advanceSeconds": n}`` moves it forward.

A malformed control request answers 400 ``{"error": "<what was wrong>"}``.

``with_latency`` puts a fixed delay in front of a whole sandbox app (``parley sandbox --latency-ms``),
so benchmarks can stand in for a vendor across a network; control routes stay instant.

``WebhookSender`` posts a sandbox's webhooks: deliveries are chained so they arrive in the order the
changes happened, and none ever delays or fails the API call that caused it (failures are logged and
dropped, no retries).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SANDBOX_ROOT",
    "Fault",
    "FaultQueue",
    "HookInputError",
    "SandboxClock",
    "SandboxControls",
    "VendorGate",
    "WebhookSender",
    "closing",
    "fault_response",
    "parse_fault",
    "with_latency",
]

SANDBOX_ROOT = "/_sandbox"
MALFORMED_BODY = b'{"status": "success", "conversations": [{"id": "7f3c", "topic": "Ord'
GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
GATEWAY_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"

DELIVERY_TIMEOUT_SECONDS = 5.0

JsonDict = dict[str, Any]
RenderError = Callable[[int, str, dict[str, str]], Response]
Authenticate = Callable[[Request], Awaitable[Response | None]]


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


class HookInputError(ValueError):
    """A control request (``/_sandbox/...``) the kit cannot act on; the message names the field."""


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


# -- faults ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Fault:
    status: int | None = None
    retry_after: int | None = None
    malformed: bool = False
    latency_ms: int = 0
    times: int | None = None
    path_contains: str | None = None

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    def to_json(self) -> JsonDict:
        names = {"retry_after": "retryAfter", "latency_ms": "latencyMs", "path_contains": "pathContains"}
        return {names.get(key, key): value for key, value in asdict(self).items()}


def _field(obj: dict[str, object], key: str, kind: type, label: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    if not isinstance(value, kind):
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    return value


def parse_fault(raw: object) -> Fault:
    if not isinstance(raw, dict):
        raise HookInputError(f"body must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"status", "retryAfter", "malformed", "latencyMs", "times", "pathContains"})
    if unknown:
        raise HookInputError(f"body has unknown field(s) {', '.join(unknown)}")
    fault = Fault(
        status=_field(raw, "status", int, "an integer"),
        retry_after=_field(raw, "retryAfter", int, "an integer"),
        malformed=bool(_field(raw, "malformed", bool, "true or false")),
        latency_ms=_field(raw, "latencyMs", int, "an integer") or 0,
        times=_field(raw, "times", int, "an integer"),
        path_contains=_field(raw, "pathContains", str, "a string"),
    )
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise HookInputError(f"body.status={fault.status} must be an HTTP error status between 400 and 599")
    if fault.status is not None and fault.malformed:
        raise HookInputError("set either body.status or body.malformed, not both")
    if fault.status is None and not fault.malformed and fault.latency_ms == 0:
        raise HookInputError("a fault needs at least one of status, malformed or latencyMs")
    if fault.latency_ms < 0 or (fault.retry_after or 0) < 0:
        raise HookInputError("body.latencyMs and body.retryAfter must not be negative")
    if fault.times is not None and fault.times < 1:
        raise HookInputError(f"body.times={fault.times} must be at least 1, or null for until cleared")
    return fault


class FaultQueue:
    """Queued faults; a request gets the first one whose ``pathContains`` matches."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def take(self, path: str) -> Fault | None:
        fault = next((item for item in self.faults if item.matches(path)), None)
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self.faults.remove(fault)
        return fault


def fault_response(fault: Fault, render_error: RenderError) -> Response | None:
    """What the fault answers instead of the API, or None when it only adds latency."""
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
    if fault.status is None:
        return None
    headers = {}
    if fault.retry_after is not None and fault.status in (429, 503):
        headers["Retry-After"] = str(fault.retry_after)
    reason = GATEWAY_REASONS.get(fault.status)
    if reason is not None:
        page = GATEWAY_PAGE.format(status=fault.status, reason=reason)
        return HTMLResponse(page, status_code=fault.status, headers=headers)
    return render_error(fault.status, f"injected fault: HTTP {fault.status}", headers)


# -- the gate --------------------------------------------------------------------------------------


def logged_body(body: bytes, content_type: str) -> object:
    """The request body as the log shows it: parsed JSON, form fields as a dict, else None."""
    if not body:
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    try:
        return json.loads(body)
    except ValueError:
        return None


def logged_query(request: Request) -> dict[str, str | list[str]]:
    query: dict[str, str | list[str]] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        query[key] = values[0] if len(values) == 1 else values
    return query


class VendorGate:
    """ASGI middleware in front of a sandbox's vendor routes (the order is in the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: list[JsonDict],
        faults: FaultQueue,
        render_error: RenderError,
        authenticate: Authenticate | None = None,
        public_paths: frozenset[str] = frozenset(),
        sandbox_root: str = SANDBOX_ROOT,
    ) -> None:
        self.app = app
        self.requests = requests
        self.faults = faults
        self.render_error = render_error
        self.authenticate = authenticate
        self.public_paths = public_paths
        self.sandbox_root = sandbox_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] != "http" or path == self.sandbox_root or path.startswith(self.sandbox_root + "/"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        response = await self._screen(Request(scope), body)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _screen(self, request: Request, body: bytes) -> Response | None:
        path = request.url.path
        self.requests.append(
            {
                "method": request.method,
                "path": path,
                "query": logged_query(request),
                "body": logged_body(body, request.headers.get("content-type", "")),
            }
        )
        fault = self.faults.take(path)
        if fault is not None:
            await asyncio.sleep(fault.latency_ms / 1000)
            injected = fault_response(fault, self.render_error)
            if injected is not None:
                return injected
        if self.authenticate is None or path in self.public_paths:
            return None
        return await self.authenticate(request)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()  # only a disconnect can come after the body
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def with_latency(app: ASGIApp, latency_ms: int, sandbox_root: str = SANDBOX_ROOT) -> ASGIApp:
    """``app`` with every HTTP request outside ``sandbox_root`` held ``latency_ms`` before it is
    handed on; ``app`` itself when ``latency_ms`` is 0."""
    if latency_ms < 0:
        raise ValueError(f"latency_ms must not be negative, got {latency_ms}")
    if latency_ms == 0:
        return app
    delay = latency_ms / 1000

    async def delayed(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
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

    def gate(self, app: ASGIApp, **options: Any) -> VendorGate:
        return VendorGate(app, requests=self.requests, faults=self.faults, **options)

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


# -- webhooks --------------------------------------------------------------------------------------


class WebhookSender:
    """Posts JSON bodies to ``url`` in order; a no-op when no URL is configured. The client is made
    on first use unless one is injected, and closed by ``aclose`` only if the sender made it."""

    def __init__(
        self,
        url: str | None,
        client: httpx.AsyncClient | None,
        *,
        logger: logging.Logger,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._url = url
        self._client = client
        self._owns_client = False
        self._logger = logger
        self._headers = headers or {}
        self._tail: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, body: JsonDict, *, label: str) -> None:
        """Queues a delivery; ``label`` names it in the log (e.g. the event type)."""
        if self._url is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver_after(self._tail, body, label))
        self._tail = task
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        """Waits for deliveries in flight, then closes the HTTP client if the sender made it."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    async def _deliver_after(self, previous: asyncio.Task[None] | None, body: JsonDict, label: str) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self._url is not None
        try:
            response = await self._http().post(self._url, json=body, headers=self._headers)
        except Exception as exc:  # nothing the receiver does may reach the API call
            self._logger.warning("webhook %s to %s failed: %r", label, self._url, exc)
            return
        if response.is_error:
            self._logger.warning("webhook %s to %s answered %d", label, self._url, response.status_code)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
            self._owns_client = True
        return self._client


def closing(sender: WebhookSender) -> Callable[[Any], Any]:
    """A Starlette lifespan that waits for the sandbox's deliveries and closes its sender on shutdown."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        await sender.aclose()

    return lifespan
