"""Admission: each transport's credentials checked before anything runs.

- HTTP (POST, GET, SSE): `Authorization: Bearer …` on the request; refused with 401, a GraphQL-shaped
  UNAUTHENTICATED body and `WWW-Authenticate: Bearer`, before the body is even read.
- WebSocket: the `connection_init` payload's `authorization` (browsers cannot set headers on a
  WebSocket), else the upgrade request's `Authorization` header. graphql-transport-ws refuses by
  closing with 4401; legacy graphql-ws sends `connection_error`, then closes with 4401. The context
  lives as long as the socket: the principal set at `connection_init` is the one every operation on it
  sees, and a second `connection_init` is refused rather than allowed to change it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol, cast

import orjson
from graphql import GraphQLError, get_operation_ast, parse
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import CompleteMessage, ConnectionErrorMessage
from strawberry.types.graphql import OperationType
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage as LegacyConnectionInitMessage

from providers._observe import current_request_id

from .auth import ANONYMOUS, NOBODY, AuthenticationError, Authenticator, Principal, visible_providers
from .context import Context, make_loaders
from .errors import ErrorCode
from .runtime import Runtime

PRINCIPAL = "parley.principal"  # the ASGI scope key the HTTP entry leaves the principal under
UNAUTHORIZED_CLOSE = 4401
TOO_MANY_INITIALISATIONS_CLOSE = 4429
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code


def admit_http(authenticator: Authenticator, connection: HTTPConnection) -> Principal:
    """Authenticates an HTTP request and leaves its principal in the scope for `principal_of`."""
    principal = authenticator.authenticate(connection.headers.get("authorization"))
    connection.scope[PRINCIPAL] = principal
    return principal


def principal_of(authenticator: Authenticator, connection: HTTPConnection) -> Principal:
    """The principal `admit_http` found; a request that did not pass through it gets nothing, unless
    no clients are configured."""
    default = ANONYMOUS if authenticator.open else NOBODY
    return cast(Principal, connection.scope.get(PRINCIPAL, default))


def unauthenticated(error: AuthenticationError) -> Response:
    challenge = 'Bearer realm="parley"' if not error.given else 'Bearer realm="parley", error="invalid_token"'
    extensions = {"code": ErrorCode.UNAUTHENTICATED.value}
    request_id = current_request_id()
    if request_id is not None:
        extensions["requestId"] = request_id
    body = {"errors": [{"message": str(error), "extensions": extensions}]}
    return Response(orjson.dumps(body), status_code=401, media_type="application/json", headers={"WWW-Authenticate": challenge})


def health_report(runtime: Runtime, headers: Headers) -> dict[str, object]:
    """Liveness for anyone; the provider names only for an authenticated client, and only its own."""
    if runtime.authenticator.open:
        return {"status": "ok"}
    try:
        principal = runtime.authenticator.authenticate(headers.get("authorization"))
    except AuthenticationError:
        return {"status": "ok"}
    return {"status": "ok", "providers": sorted(visible_providers(runtime.providers, principal))}


# ---- WebSockets ----------------------------------------------------------------------------------


class _HasRuntime(Protocol):
    runtime: Runtime


def _admit_connection(view: object, context: Context, payload: Mapping[str, Any] | None) -> AuthenticationError | None:
    """Authenticates a WebSocket from its `connection_init`, and narrows the socket's context to what the
    principal may touch; the error when it may not connect."""
    runtime = cast(_HasRuntime, view).runtime
    credentials = (payload or {}).get("authorization", (payload or {}).get("Authorization"))
    if credentials is None:
        credentials = context.request.headers.get("authorization")
    elif not isinstance(credentials, str):
        return AuthenticationError("invalid credentials: connection_init payload.authorization must be a string `Bearer <token>`")
    try:
        principal = runtime.authenticator.authenticate(credentials)
    except AuthenticationError as exc:
        return exc
    providers = visible_providers(runtime.providers, principal)
    context.principal = principal
    context.providers = providers
    context.loaders = make_loaders(providers, cache=False)
    return None


def _operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """The operation's type, None when the document does not parse or names no single operation
    (strawberry's subscribe then answers that as the protocol's error)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    return OperationType(operation.operation.value) if operation is not None else None


def _close_reason(text: str) -> str:
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws; strawberry closes a refused `connection_init` with 4403, the protocol's
    code for missing or bad credentials is 4401."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        if isinstance(payload, dict) and not self.connection_init_received and not self.connection_timed_out:
            refused = _admit_connection(self.view, self.context, payload)
            if refused is not None:
                self.connection_init_received = True
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=UNAUTHORIZED_CLOSE, reason=_close_reason(f"Unauthorized: {refused}"))
                return
        await super().handle_connection_init(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Legacy graphql-ws (subscriptions-transport-ws): `connection_error`, then close with 4401."""

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self.connection_acknowledged:
            await self._refuse("Too many initialisation requests", TOO_MANY_INITIALISATIONS_CLOSE)
            return
        payload = message.get("payload")
        if payload is None or isinstance(payload, dict):
            refused = _admit_connection(self.view, self.context, payload)
            if refused is not None:
                await self._refuse(str(refused), UNAUTHORIZED_CLOSE, code=ErrorCode.UNAUTHENTICATED, reason=f"Unauthorized: {refused}")
                return
        await super().handle_connection_init(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        """Queries and mutations too, as subscriptions-transport-ws clients (gql's default WebSocket
        transport among them) send them: one `data` message, then `complete`. strawberry's handler
        only subscribes, which refuses them with an unexpected error."""
        if _operation_type(query, operation_name) not in (OperationType.QUERY, OperationType.MUTATION):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query, variable_values=variables, context_value=self.context, root_value=self.root_value,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.tasks.pop(operation_id, None)

    async def _refuse(self, message: str, close: int, *, code: ErrorCode = ErrorCode.INVALID_INPUT, reason: str | None = None) -> None:
        error: dict[str, object] = {"message": message, "extensions": {"code": code.value}}
        await self.send_message(ConnectionErrorMessage(type="connection_error", payload=error))
        await self.websocket.close(code=close, reason=_close_reason(reason or message))
