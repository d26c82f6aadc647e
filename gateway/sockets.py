"""WebSockets to the GraphQL path go straight to the view, past Starlette's middleware and router.

An idle subscriber's connection waits, for its whole life, inside every ASGI callable between the
server and the view: each keeps a coroutine frame (and some a closure or two) per connection. For a
WebSocket, Starlette's error and exception middleware, the CORS and body-size middleware and the router
only pass the connection on (none of them acts on a WebSocket scope: browsers apply no CORS to the
handshake, and a WebSocket has no body), about 4 KiB per idle connection. What a WebSocket gets from
the rest stays: `access.RequestScope` around the view (its request id, echoed on the handshake, and
one access line per socket), and the view's own Origin allow-list, admission and 4401/4403 closes.
Everything else (HTTP, other paths, lifespan) goes through the middleware stack as before.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from .access import RequestScope


class GatewayApp(Starlette):
    """Starlette, with a WebSocket to `socket_path` served by `socket_app` under `RequestScope` alone."""

    def __init__(self, *, socket_app: ASGIApp, socket_path: str, **options: Any) -> None:
        super().__init__(**options)
        self.socket_app, self.socket_path = socket_app, socket_path

        self.socket = RequestScope(socket_app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and route_path(scope) == self.socket_path:
            scope["app"] = self  # as Starlette sets it (`request.app.state`)
            await self.socket(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path the router matches (without the server's root_path), as Starlette's router computes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
