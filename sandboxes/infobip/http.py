"""Request and response plumbing shared by the sandbox's endpoints: reading path, body and state,
the list answer, one route per path, and the vendor-shaped 404/405 and error handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import query as query
from .input import read_json
from .model import JsonDict, SandboxError, error_response
from .state import Sandbox

Endpoint = Callable[[Request], Awaitable[Response]]


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def path_param(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


async def json_body(request: Request) -> object:
    return read_json(await request.body())


def page_response(
    request: Request,
    plural: str,
    items: Iterable[Any],
    order: query.SortKeys[Any],
    render: Callable[[Any], JsonDict],
    identity: str = "id",
    tie: Callable[[Any], Any] | None = None,
) -> Response:
    """One page of ``items`` in the documented list shape; ``identity`` is the default order and what
    breaks ties, unless ``tie`` (a sort key, not a field clients may order by) is given."""
    paging = query.parse_paging(request.query_params, order, identity)
    keys = order if tie is None else {**order, "": tie}
    found, total = query.page_of(items, paging, keys, identity if tie is None else "")
    return JSONResponse(query.page_json(plural, [render(item) for item in found], total, paging))


def resource(path: str, **handlers: Endpoint) -> Route:
    """One route per path, so a wrong method's 405 lists every allowed one in ``Allow``."""

    async def dispatch(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return Route(path, dispatch, methods=list(handlers))


async def _on_sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return error_response(exc.status, exc.message, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(405, f"Request method '{request.method}' is not supported", exc.headers)
    return error_response(exc.status_code, f"No endpoint {request.method} {request.url.path}")


EXCEPTION_HANDLERS = {SandboxError: _on_sandbox_error, HTTPException: _on_http_error}
