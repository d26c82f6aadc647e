"""The HTTP and WebSocket entry to the schema: strawberry's view, plus the gateway's own path for a
POST of one JSON operation (what every client but GraphiQL and streaming ones sends)."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from .access import with_request_id
from .admission import LegacyWSHandler, admit_http, principal_of, unauthenticated
from .auth import AuthenticationError, visible_providers
from .context import Context, make_loaders
from .graphiql import offline_page
from .limits import within_deadline
from .live import LiveTransportWSHandler
from .runtime import Runtime
from .schema import schema_for

OPERATION_KEYS = frozenset({"query", "variables", "operationName", "extensions"})
QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
SUBSCRIPTION_OVER_PLAIN_HTTP = (
    "a subscription over HTTP needs the header 'Accept: text/event-stream' (GraphQL over SSE); "
    "or subscribe over a WebSocket (graphql-transport-ws or graphql-ws)"
)


def _json_post(scope: Scope) -> bool:
    """A POST whose body is declared as JSON (any charset parameter)."""
    if scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class GatewayGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveTransportWSHandler  # subscribers of one subscription share it (gateway/live.py)
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(schema_for(introspection=runtime.settings.introspection_on), **kwargs)
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = principal_of(self.runtime.authenticator, request)  # a WebSocket's is set at connection_init
        providers = visible_providers(self.runtime.providers, principal)
        return Context(
            request=request,
            response=response,
            providers=providers,
            bus=self.runtime.bus,
            loaders=make_loaders(providers, cache=not isinstance(request, WebSocket)),
            principal=principal,
            guard=self.runtime.guard,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST of one JSON operation (what every client but GraphiQL and streaming ones sends) is
        executed here; everything else, and anything this path does not take as it is, goes to
        strawberry's view, which answers it with its own errors. This path does what the view does
        for such a request (context, `schema.execute`, `process_result`, `create_response`) without
        its request adapters and content negotiation, a tenth of a by-id request's CPU."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            admit_http(self.runtime.authenticator, request)
        except AuthenticationError as exc:
            if not (self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request))):
                await unauthenticated(exc)(scope, receive, send)  # the IDE's page holds no data; its requests need credentials
                return
        try:
            response = await self._execute_json_post(request) if _json_post(scope) else None
            if response is None:
                response = await self.run(request)
        except HTTPException as exc:
            response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        await response(scope, receive, send)

    async def _execute_json_post(self, request: Request) -> Response | None:
        """The answer to a single JSON operation; None when the body is anything else (the view then
        reads the same body again, and refuses it as it would have)."""
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or set(data) - OPERATION_KEYS:
            return None
        query, variables, name, extensions = (data.get(key) for key in ("query", "variables", "operationName", "extensions"))
        persisted_only = query is None and isinstance(extensions, dict) and "persistedQuery" in extensions  # a hash alone
        if not (isinstance(query, str) and query or persisted_only) or not isinstance(variables, dict | None) \
                or not isinstance(name, str | None) or not isinstance(extensions, dict | None):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        try:
            result = await within_deadline(self.runtime.guard, self.schema.execute(
                query, variable_values=variables, context_value=context, operation_name=name,
                allowed_operation_types=QUERIES_AND_MUTATIONS, operation_extensions=extensions,
            ))
        except (InvalidOperationTypeError, CannotGetOperationTypeError, MissingQueryError):
            return None  # refused before anything ran: a subscription (streamed by the view) or no operation
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(orjson.dumps(response_data), status_code=sub_response.status_code or 200, media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def execute_single(self, request: Request, request_adapter: Any, sub_response: Any, context: Context,
                             root_value: Any, request_data: Any) -> ExecutionResult:
        """A query or mutation outside a stream, within the request deadline as on the JSON-POST path.
        strawberry would run a subscription here too, as if it were a query, and fail inside; Parley
        answers 406 naming what to send instead."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        try:
            return await within_deadline(self.runtime.guard, self.schema.execute(
                request_data.query, root_value=root_value, variable_values=request_data.variables,
                context_value=context, operation_name=request_data.operation_name,
                allowed_operation_types=allowed, operation_extensions=request_data.extensions,
            ))
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(406, SUBSCRIPTION_OVER_PLAIN_HTTP) from None
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        with_request_id(result.errors)  # also on the errors made outside the schema (the request deadline)
        return await super().process_result(request, result)

    async def render_graphql_ide(self, request: Request) -> Response:
        return offline_page(self.graphql_ide_html)  # served from Parley's own path, not a CDN

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()  # str, not bytes: bytes would make WebSocket frames binary

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)
