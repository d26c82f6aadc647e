"""CleverTap-style Conversations sandbox: a local server for the API in docs/clevertap-api.md.

CleverTap publishes no conversations API, so the API is Parley's own design in CleverTap's REST
conventions (``/1/...json`` paths, ``X-CleverTap-Account-Id`` / ``X-CleverTap-Passcode`` headers, a
``status``-keyed envelope, two-step cursors, a concurrency limit), encoding the dashboard feature's
rules: first agent wins, New on every user reply, the 24-hour active window and the 15-day listing.

- ``POST /1/conversations.json?batch_size=N`` starts a listing, ``GET /1/conversations.json?cursor=``
  pages it; ``GET /1/conversation.json?id=``; ``GET /1/conversation/messages.json?id=&batch_size=``
  then ``?cursor=``; ``POST /1/conversation/claim.json``, ``reply.json``, ``ticket_status.json``;
- sandbox-only: ``POST /1/conversation/inbound.json`` (a user replies to a campaign; same headers),
  and, unauthenticated under ``/_sandbox``, fault injection, the request log and the clock.

Records and errors are in ``model``, validation in ``input``, the rules in
``state``, cursors in ``cursors``, auth and the concurrency limit in
``gate``, events in ``events``; the gate itself and the request log are ``sandboxes/gate.py``,
faults ``sandboxes/faults.py``, the clock and the control routes ``sandboxes/kit.py``. State lives on ``app.state.sandbox`` and is built here, not
in a lifespan, because httpx's ASGITransport runs none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..kit import SANDBOX_ROOT
from ..webhooks import WebhookSender, closing
from .config import CampaignSpec, UserSpec, campaigns_from, users_from
from .demo import seed_demo
from .events import ACCOUNT_HEADER, logger
from .gate import ConcurrencyLimit, passcode_auth, render_fault
from .input import (
    parse_claim,
    parse_inbound,
    parse_json,
    parse_list_query,
    parse_reply,
    parse_status_change,
    query_batch_size,
    query_required,
    query_sort_order,
)
from .model import (
    Campaign,
    DashboardUser,
    JsonDict,
    SandboxError,
    error_response,
    fail,
    message_json,
    success,
)
from .state import Sandbox

__all__ = ["Campaign", "DashboardUser", "Sandbox", "create_app"]

DEFAULT_MAX_CONCURRENCY = 15


def create_app(
    *,
    account_id: str = "SANDBOX-ACCOUNT",
    passcode: str = "sandbox-passcode",
    agents: Sequence[UserSpec] | None = None,
    campaigns: Sequence[CampaignSpec] | None = None,
    max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
    webhook_url: str | None = None,
    webhook_client: httpx.AsyncClient | None = None,
    demo_conversations: int = 0,
    seed: int = 0,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """A fresh sandbox app.

    ``agents`` is the account's dashboard users (``DashboardUser`` or ``{"email", "name", "role",
    "id"?}``; default: three Agents, an Admin and a Member); ``campaigns`` the campaigns users reply
    to (``Campaign`` or ``{"id", "name", "labels"?, "channel"?}``; default: five). ``max_concurrency``
    None turns the limit off. Events go to ``webhook_url`` through ``webhook_client`` (created on
    first use when not given). ``clock`` returns aware UTC datetimes (default: the wall clock).
    Raises ValueError for a bad user, campaign or limit.
    """
    sandbox = Sandbox(
        account_id=account_id,
        passcode=passcode,
        users=users_from(agents),
        campaigns=campaigns_from(campaigns),
        clock=clock,
        max_concurrency=max_concurrency,
        events=WebhookSender(webhook_url, webhook_client, logger=logger, headers={ACCOUNT_HEADER: account_id}),
        seed=seed,
    )
    seed_demo(sandbox, demo_conversations)
    controls = sandbox.controls
    middleware = [
        Middleware(ConcurrencyLimit, in_flight=sandbox.in_flight, requests=controls.requests),
        Middleware(
            controls.gate,
            render_error=render_fault,
            authenticate=passcode_auth(account_id, passcode),
            sandbox_root=SANDBOX_ROOT,
        ),
    ]
    routes = [*controls.routes(SANDBOX_ROOT), *VENDOR_ROUTES]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=closing(sandbox.events))
    app.state.sandbox = sandbox
    return app



# -- plumbing --------------------------------------------------------------------------------------


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def _body(request: Request) -> object:
    return parse_json(await request.body())


def _page(records: list[JsonDict], next_cursor: str | None) -> Response:
    if next_cursor is None:
        return success(records=records)
    return success(records=records, next_cursor=next_cursor)


async def _on_sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return fail(405, f"Method {request.method} is not allowed on {request.url.path}", exc.headers)
    if exc.status_code == 404:
        return fail(404, f"No endpoint at {request.method} {request.url.path}")
    return fail(exc.status_code, str(exc.detail), exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # Starlette still re-raises after answering, so the server logs the traceback.
    return fail(500, "Internal error")


EXCEPTION_HANDLERS = {SandboxError: _on_sandbox_error, HTTPException: _on_http_error, Exception: _on_unexpected}


# -- the API ---------------------------------------------------------------------------------------


async def conversations(request: Request) -> Response:
    """One route for both steps, so a wrong method's 405 lists both in ``Allow``."""
    return await (start_listing(request) if request.method == "POST" else listing_page(request))


async def start_listing(request: Request) -> Response:
    batch_size = query_batch_size(request.query_params)
    query = parse_list_query(await _body(request))
    return success(cursor=_sandbox(request).start_listing(query, batch_size))


async def listing_page(request: Request) -> Response:
    return _page(*_sandbox(request).listing_page(query_required(request.query_params, "cursor")))


async def get_conversation(request: Request) -> Response:
    sandbox = _sandbox(request)
    return success(record=sandbox.to_json(sandbox.get(query_required(request.query_params, "id"))))


async def messages(request: Request) -> Response:
    """Step 1 with ``id`` (and ``batch_size``, ``sort_order``); step 2 with ``cursor``."""
    sandbox, params = _sandbox(request), request.query_params
    if "cursor" in params:
        return _page(*sandbox.messages_page(query_required(params, "cursor")))
    conversation_id = query_required(params, "id")
    batch_size, sort_order = query_batch_size(params), query_sort_order(params, "asc")
    return success(cursor=sandbox.start_messages(conversation_id, batch_size, sort_order))


async def claim(request: Request) -> Response:
    sandbox = _sandbox(request)
    conversation_id, email = parse_claim(await _body(request))
    return success(record=sandbox.to_json(sandbox.claim(conversation_id, email)))


async def reply(request: Request) -> Response:
    message = _sandbox(request).reply(parse_reply(await _body(request)))
    return success(record=message_json(message))


async def ticket_status(request: Request) -> Response:
    sandbox = _sandbox(request)
    return success(record=sandbox.to_json(sandbox.set_ticket_status(parse_status_change(await _body(request)))))


async def inbound(request: Request) -> Response:
    """Sandbox-only: a user replies to a campaign (creates the conversation when needed)."""
    sandbox = _sandbox(request)
    conversation, message = sandbox.inbound(parse_inbound(await _body(request)))
    return success(record=sandbox.to_json(conversation), message=message_json(message))


VENDOR_ROUTES = [
    Route("/1/conversations.json", conversations, methods=["GET", "POST"]),
    Route("/1/conversation.json", get_conversation, methods=["GET"]),
    Route("/1/conversation/messages.json", messages, methods=["GET"]),
    Route("/1/conversation/claim.json", claim, methods=["POST"]),
    Route("/1/conversation/reply.json", reply, methods=["POST"]),
    Route("/1/conversation/ticket_status.json", ticket_status, methods=["POST"]),
    Route("/1/conversation/inbound.json", inbound, methods=["POST"]),
]
