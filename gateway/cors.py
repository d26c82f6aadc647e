"""Which web pages on other origins may call `/graphql` from a browser: `server.cors_origins`.

- A listed origin gets its preflight answered with the methods and headers GraphQL clients send, and
  every answer names it in `Access-Control-Allow-Origin`, with credentials allowed.
- `"*"` lets any other origin in without credentials (browsers refuse `*` with credentials, and the
  settings refuse `"*"` once clients are configured).
- Any other origin gets no CORS header at all, and its preflight a 400 saying why.

Browsers do not apply CORS to WebSocket handshakes; the same list is the WebSocket Origin allow-list,
enforced by strawberry's view (`allowed_origins`, wired in app.py). Same-origin pages (GraphiQL) and
clients without an `Origin` (servers, curl) need neither.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATHS = frozenset({"/graphql"})
ALLOW_METHODS = ("GET", "POST")
ALLOW_HEADERS = (
    "Content-Type",  # application/json is not one a page may send without asking
    "Authorization",
    "Accept",  # text/event-stream for SSE subscriptions
    "X-Request-Id",
    "X-GraphQL-Event-Stream-Token",  # graphql-sse clients in single-connection mode
    "Last-Event-ID",  # what fetch-based SSE clients send on reconnect (Parley resumes from `since`)
)
EXPOSE_HEADERS = ("X-Request-Id", "Retry-After")  # readable by the page; others it may not read
MAX_AGE_SECONDS = 600  # how long a browser may reuse a preflight's answer
SHOWN_ORIGIN_CHARS = 100


class BrowserOrigins:
    """ASGI middleware answering CORS for the gateway's GraphQL path; other paths pass untouched.
    Outermost, so that refusals by anything inside still reach the page that asked."""

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.listed = frozenset(origin for origin in origins if origin != "*")
        self.credentialed = _cors(app, sorted(self.listed), credentials=True)
        self.anyone = _cors(app, ["*"], credentials=False) if "*" in origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) not in PATHS:
            await self.app(scope, receive, send)
            return
        origin = _origin(scope)
        if origin is None:
            await self.app(scope, receive, send)
        elif origin in self.listed:
            await self.credentialed(scope, receive, send)
        elif self.anyone is not None:
            await self.anyone(scope, receive, send)
        elif scope["method"] == "OPTIONS" and "access-control-request-method" in Headers(scope=scope):
            shown = origin[:SHOWN_ORIGIN_CHARS]
            refusal = PlainTextResponse(f"CORS: origin {shown!r} is not in server.cors_origins", status_code=400,
                                        headers={"Vary": "Origin"})
            await refusal(scope, receive, send)
        else:  # same-origin pages, or a foreign page the browser will not let read the answer
            await self.app(scope, receive, _varying_by_origin(send))


def _origin(scope: Scope) -> str | None:
    """The Origin header as `Headers(scope=scope).get("origin")` gives it, without building them."""
    for name, value in scope["headers"]:
        if name == b"origin":
            return value.decode("latin-1")
    return None


def _cors(app: ASGIApp, origins: list[str], *, credentials: bool) -> CORSMiddleware:
    return CORSMiddleware(app, allow_origins=origins, allow_methods=ALLOW_METHODS, allow_headers=ALLOW_HEADERS,
                          allow_credentials=credentials, expose_headers=EXPOSE_HEADERS, max_age=MAX_AGE_SECONDS)


def _varying_by_origin(send: Send) -> Send:
    """The answer to a listed origin differs (it carries CORS headers), so caches must key on Origin."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)

    return send_varying


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
