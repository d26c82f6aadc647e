"""The door every vendor API request passes: request log, injected faults, then bearer-token auth.

Sandbox-only paths (``/_sandbox/...``) bypass it entirely. Order matters and is part of the contract:
a request is logged first (so tests can count upstream calls even when they fail), then the first
matching fault is applied (latency, then status or malformed body), then the token is checked.

Injected fault bodies, chosen to look like what a client meets in production:
- 429 → error envelope, code 30, plus ``Retry-After: <retryAfter>`` when set (also on 503);
- 502/503/504 → an HTML page from the "load balancer", not an envelope;
- other 5xx → error envelope, code 50; other 4xx → error envelope with that status's code;
- malformed → HTTP 200, ``application/json`` content type, truncated JSON body.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._sandbox_input import as_object, invalid, opt_bool, opt_int, opt_str
from ._sandbox_model import ErrorCode, JsonDict, SandboxError, error_response

MALFORMED_BODY = b'{"data": {"id": 254626, "author": {"name": "Jo'
GATEWAY_STATUSES = (502, 503, 504)
FAULT_CODE_BY_STATUS: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.CONVERSATION_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    429: ErrorCode.RATE_LIMITED,
}
GATEWAY_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}


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


def parse_fault(raw: object) -> Fault:
    obj = as_object(raw, "body")
    fault = Fault(
        status=opt_int(obj, "status", "body"),
        retry_after=opt_int(obj, "retryAfter", "body"),
        malformed=bool(opt_bool(obj, "malformed", "body")),
        latency_ms=opt_int(obj, "latencyMs", "body") or 0,
        times=opt_int(obj, "times", "body"),
        path_contains=opt_str(obj, "pathContains", "body"),
    )
    _check_fault(fault)
    return fault


def _check_fault(fault: Fault) -> None:
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise invalid(f"body.status={fault.status} must be an HTTP error status between 400 and 599")
    if fault.status is not None and fault.malformed:
        raise invalid("set either body.status or body.malformed, not both")
    if fault.status is None and not fault.malformed and fault.latency_ms == 0:
        raise invalid("a fault needs at least one of status, malformed or latencyMs")
    if fault.latency_ms < 0 or (fault.retry_after or 0) < 0:
        raise invalid("body.latencyMs and body.retryAfter must not be negative")
    if fault.times is not None and fault.times < 1:
        raise invalid(f"body.times={fault.times} must be at least 1, or null for until cleared")


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


def fault_response(fault: Fault) -> Response | None:
    """What the fault answers instead of the API, or None when it only adds latency."""
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
    if fault.status is None:
        return None
    if fault.status not in (429, 503):
        headers = {}
    if fault.status in GATEWAY_STATUSES:
        page = GATEWAY_PAGE.format(status=fault.status, reason=GATEWAY_REASONS[fault.status])
        return HTMLResponse(page, status_code=fault.status, headers=headers)
    default = ErrorCode.INTERNAL_ERROR if fault.status >= 500 else ErrorCode.INVALID_REQUEST
    code = FAULT_CODE_BY_STATUS.get(fault.status, default)
    error = SandboxError(code, f"injected fault: HTTP {fault.status}", headers=headers)
    return error_response(error, status=fault.status)


class OAuthError(Exception):
    """A refused token request, answered OAuth2 style (RFC 6749 §5.2), outside the envelope."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class TokenStore:
    """Access tokens issued by ``POST /token`` for one client and when each one expires."""

    def __init__(self, client_id: str, refresh_token: str, ttl: timedelta, now: Callable[[], datetime]) -> None:
        self.client_id = client_id
        self.refresh_token = refresh_token
        self.ttl = ttl
        self._now = now
        self._expiry: dict[str, datetime] = {}

    def grant(self, form: Mapping[str, str]) -> JsonDict:
        """The token response for a ``grant_type=refresh_token`` form; every mismatch is ``invalid_grant``."""
        if form.get("grant_type") != "refresh_token":
            raise OAuthError(
                "invalid_grant", f"grant_type {form.get('grant_type')!r} is not supported; use 'refresh_token'"
            )
        if not secrets.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError("invalid_grant", f"client_id {form.get('client_id')!r} is not known")
        if not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            # Never echo a secret back, not even a wrong one.
            raise OAuthError("invalid_grant", "refresh_token is not valid for this client_id")
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._now() + self.ttl
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self.ttl.total_seconds())}

    def check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing 'Authorization: Bearer <access token>' header", "invalid_request")
        expiry = self._expiry.get(token.strip())
        if expiry is None:
            raise _unauthorized("access token is not recognised; get one from POST /token", "invalid_token")
        if self._now() >= expiry:
            raise _unauthorized("access token has expired; get a new one from POST /token", "invalid_token")


def _unauthorized(text: str, oauth_error: str) -> SandboxError:
    challenge = f'Bearer error="{oauth_error}", error_description="{text}"'
    return SandboxError(ErrorCode.UNAUTHORIZED, text, headers={"WWW-Authenticate": challenge})


def logged_body(body: bytes, content_type: str) -> object:
    """The request body as the request log shows it: parsed JSON, form fields as a dict, else None."""
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
    """ASGI middleware in front of the vendor API routes (see the module docstring for the order)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: list[JsonDict],
        faults: FaultQueue,
        tokens: TokenStore,
        public_paths: frozenset[str],
        sandbox_root: str,
    ) -> None:
        self.app = app
        self.requests = requests
        self.faults = faults
        self.tokens = tokens
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
        content_type = request.headers.get("content-type", "")
        self.requests.append(
            {
                "method": request.method,
                "path": path,
                "query": logged_query(request),
                "body": logged_body(body, content_type),
            }
        )
        fault = self.faults.take(path)
        if fault is not None:
            await asyncio.sleep(fault.latency_ms / 1000)
            injected = fault_response(fault)
            if injected is not None:
                return injected
        if path in self.public_paths:
            return None
        try:
            self.tokens.check(request.headers.get("authorization"))
        except SandboxError as error:
            return error_response(error)
        return None


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
