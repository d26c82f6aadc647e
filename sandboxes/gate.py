"""The gate in front of a sandbox's vendor routes: the request log, faults and authentication.

Nothing here knows a vendor's wire format. A sandbox passes in how its vendor renders an error
(``render_error``) and how it authenticates (``authenticate``); the gate owns the order a request
passes it in, which is part of every sandbox's contract:

1. the request is logged (so tests count upstream calls even when they fail);
2. the first queued fault whose ``method`` and ``pathContains`` match is applied: its latency first,
   then its status or malformed body;
3. ``authenticate`` runs (unless the path is public); a response from it is the answer;
4. the vendor route runs.

Under a ``commitThenDrop`` fault, steps 3 and 4 run as usual but their answer, whatever it is, is
discarded and the connection dropped (``faults.drop_connection``): the vendor committed, the client
never hears so.

Requests under the sandbox root (the control routes) pass the gate untouched and unlogged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import Fault, FaultQueue, JsonDict, LostAnswer, RenderError, drop_connection, fault_response

Authenticate = Callable[[Request], Awaitable[Response | None]]

logger = logging.getLogger("sandboxes.faults")


def route_path(scope: Scope) -> str:
    """The request's path inside this app: without the prefix it is mounted under (the embedded
    default serves each sandbox under /sandbox/<name>), so /_sandbox hooks stay hooks there."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


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
        sandbox_root: str,
    ) -> None:
        self.app = app
        self.requests = requests
        self.faults = faults
        self.render_error = render_error
        self.authenticate = authenticate
        self.public_paths = public_paths
        self.sandbox_root = sandbox_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if scope["type"] != "http" or path == self.sandbox_root or path.startswith(self.sandbox_root + "/"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = Request(scope)
        fault = self._log_and_take(request, body)
        if fault is not None:
            await asyncio.sleep(fault.latency_ms / 1000)
            injected = fault_response(fault, self.render_error)
            if injected is not None:
                await injected(scope, receive, send)
                return
        refused = await self._authenticate(request)
        answer: ASGIApp = refused if refused is not None else self.app
        if fault is not None and fault.commit_then_drop:
            lost = LostAnswer()
            await answer(scope, _replay(body, receive), lost)
            logger.warning(
                "injected commitThenDrop fault: %s %s answered %s; the client gets no answer",
                request.method, request.url.path, lost.status,
            )
            await drop_connection(send)
            return
        await answer(scope, _replay(body, receive), send)

    def _log_and_take(self, request: Request, body: bytes) -> Fault | None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": logged_query(request),
                "body": logged_body(body, request.headers.get("content-type", "")),
                # only when sent: what the caller says this call was for (Parley sends its request id)
                **({"requestId": request.headers["x-request-id"]} if "x-request-id" in request.headers else {}),
            }
        )
        return self.faults.take(request.method, request.url.path)

    async def _authenticate(self, request: Request) -> Response | None:
        if self.authenticate is None or request.url.path in self.public_paths:
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
