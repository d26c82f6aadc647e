"""`GatewayApp`: Starlette, with a POST to /graphql handed from the outermost layer to the view, and a
WebSocket to /graphql handed to it under `RequestScope` alone.

A POST (nearly every request a gateway serves) would pass Starlette's ExceptionMiddleware (a
`Request` and two closures), the router (a regex per route tried) and the route, none of which does
anything for it: the view catches its own errors and the route allows POST. Here it skips them and
passes only the layers that act on it — ServerErrorMiddleware (a 500 for the unexpected, as before),
the gateway's middleware (request id and access line, browser origins, body limit) — with the scope
keys those it skips would have set.

An idle subscriber's connection waits, for its whole life, inside every ASGI callable between the
server and the view: each keeps a coroutine frame (and some a closure or two) per connection. For a
WebSocket, Starlette's error and exception middleware, the CORS and body-size middleware and the router
only pass the connection on (none of them acts on a WebSocket scope: browsers apply no CORS to the
handshake, and a WebSocket has no body), about 4 KiB per idle connection. What a WebSocket gets from
the rest stays: `access.RequestScope` around the view (its request id, echoed on the handshake, and
one access line per socket), and the view's own Origin allow-list, admission and 4401/4403 closes.

Everything else (other methods and paths, lifespan) takes Starlette's own way.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path  # the router's own: the same path matched as it matches it
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .access import RequestScope

GRAPHQL_PATH = "/graphql"


class GatewayApp(Starlette):
    graphql_first = True  # False: every request the general way (tests compare the two)

    def __init__(self, *, socket_app: ASGIApp | None = None, **kwargs: Any) -> None:
        """`socket_app`: what serves a WebSocket to /graphql (under RequestScope alone); None: the router."""
        super().__init__(**kwargs)
        self._graphql: ASGIApp | None = None
        self._graphql_keys: dict[str, Any] = {}
        self._socket = RequestScope(socket_app) if socket_app is not None else None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        route = self.router.routes[0] if self.router.routes else None
        # Only where the router would pick this route for every POST to /graphql, and the route hands
        # the request to its endpoint unchanged (an ASGI app, no route middleware or body limit).
        if (self.graphql_first and self.max_body_size is None and isinstance(route, Route) and route.path == GRAPHQL_PATH
                and route.methods is not None and "POST" in route.methods and route.app is route.endpoint):
            app: ASGIApp = route.endpoint
            for cls, args, kwargs in reversed([self._server_errors(), *self.user_middleware]):
                app = cls(app, *args, **kwargs)
            self._graphql = app
            self._graphql_keys = {
                "starlette.exception_handlers": _handlers_by_kind(stack), "route": route, "endpoint": route.endpoint,
            }
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        if self._socket is not None and scope["type"] == "websocket" and get_route_path(scope) == GRAPHQL_PATH:
            scope["app"] = self  # as Starlette sets it (`websocket.app.state`)
            await self._socket(scope, receive, send)
            return
        if (self._graphql is not None and scope["type"] == "http" and scope["method"] == "POST"
                and get_route_path(scope) == GRAPHQL_PATH):
            scope["app"] = self
            if "router" not in scope:
                scope["router"] = self.router
            scope.update(self._graphql_keys)
            scope["path_params"] = dict(scope.get("path_params", {}))
            await self._graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _server_errors(self) -> Middleware:
        """ServerErrorMiddleware as Starlette's stack builds it (its handler: the one for 500 or Exception)."""
        handler = None
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                handler = value
        return Middleware(ServerErrorMiddleware, handler=handler, debug=self.debug)


def _handlers_by_kind(stack: ASGIApp) -> tuple[dict[Any, Any], dict[int, Any]]:
    """What ExceptionMiddleware (the innermost layer of `stack`) puts in the scope: its handlers by
    exception class and by status."""
    layer: Any = stack
    while not isinstance(layer, ExceptionMiddleware):
        layer = layer.app  # every layer of the stack keeps the next in `app`
    return layer._exception_handlers, layer._status_handlers
