"""Socialboards sandbox: a local emulation of the External Chat API, plus ``POST tickets/list``.

Implements, as documented at https://developers.socialboards.com/docs/apis/external-chat-api/ and
decided in docs/socialboards.md for the parts the vendor leaves undocumented:

- ``POST /token`` (form ``grant_type=refresh_token&client_id=…&refresh_token=…``, OAuth2 JSON reply);
- under ``prefix``: ``chat/conversations`` (POST), ``chat/conversations/{id}`` (GET, ``includeMessages``,
  ``orderyBy``/``orderBy``), ``…/messages`` (POST, GET with ``skip``/``take``/``orderBy``),
  ``…/previousMessages`` (POST), ``…/queue`` (GET), ``…/takeover`` (GET, PATCH), ``…/feedback``,
  ``…/latestUrl``, ``…/close`` (PATCH), and ``tickets/list`` (POST);
- sandbox-only controls under ``/_sandbox`` (no auth): agent replies, customer messages, fault
  injection, the request log and the clock.

Every vendor response uses the ``{"data", "errorCode", "errorText"}`` envelope; the error catalogue is
in ``model``, the rules the docs leave open in ``state``, the webhook shapes in
``webhooks`` and the fault bodies in ``gate`` (the gate itself and the request log are
``sandboxes/gate.py``, fault injection ``sandboxes/faults.py``, the clock hooks ``sandboxes/kit.py``). State lives on
``app.state.sandbox`` and is built here, not in a lifespan, because httpx's ASGITransport runs none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .demo import seed_demo
from .gate import OAuthError, bearer_auth, render_fault
from .input import (
    MAX_MESSAGES_TAKE,
    as_object,
    invalid,
    opt_str,
    parse_conversation_draft,
    parse_feedback,
    parse_latest_url,
    parse_message_drafts,
    parse_takeover,
    parse_ticket_query,
    query_bool,
    query_int,
    query_order,
    req_str,
)
from .model import (
    ORDER_ASC,
    ErrorCode,
    Message,
    SandboxError,
    envelope,
    error_response,
    feedback_json,
    format_time,
    message_json,
    queue_json,
    ticket_json,
)
from .state import Sandbox
from ..kit import SANDBOX_ROOT
from ..webhooks import WebhookSender, closing
from .webhooks import logger

__all__ = ["Sandbox", "create_app"]

DEFAULT_AGENT_NAME = "Sandbox Agent"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_app(
    *,
    client_id: str = "sandbox-client",
    refresh_token: str = "sandbox-refresh",
    community: str = "sandbox",
    webhook_url: str | None = None,
    webhook_client: httpx.AsyncClient | None = None,
    demo_conversations: int = 0,
    seed: int = 0,
    clock: Callable[[], datetime] | None = None,
    token_ttl_seconds: int = 3600,
    prefix: str = "",
) -> Starlette:
    """A fresh sandbox app; ``clock`` returns aware UTC datetimes, ``prefix`` (e.g. "/v2") roots the API."""
    sandbox = Sandbox(
        clock=clock,
        credentials=(client_id, refresh_token),
        token_ttl=timedelta(seconds=token_ttl_seconds),
        community=community,
        webhooks=WebhookSender(webhook_url, webhook_client, logger=logger),
        seed=seed,
    )
    seed_demo(sandbox, demo_conversations)
    root = "/" + prefix.strip("/") if prefix.strip("/") else ""
    token = Route("/token", issue_token, methods=["POST"])
    # The docs' only absolute URL is https://api.socialboards.com/token, so with a prefix the token
    # endpoint answers both at the host root and under the prefix.
    api: list[BaseRoute] = [token, Mount(root, routes=[token, *VENDOR_ROUTES])] if root else [token, *VENDOR_ROUTES]
    controls = sandbox.controls
    routes = [*SANDBOX_ROUTES, *controls.routes(SANDBOX_ROOT, format_time), *api]
    gate = Middleware(
        controls.gate,
        render_error=render_fault,
        authenticate=bearer_auth(sandbox.tokens),
        public_paths=frozenset({"/token", f"{root}/token"}),
        sandbox_root=SANDBOX_ROOT,
    )
    app = Starlette(routes=routes, middleware=[gate], exception_handlers=EXCEPTION_HANDLERS, lifespan=closing(sandbox.webhooks))
    app.state.sandbox = sandbox
    return app




# -- plumbing --------------------------------------------------------------------------------------


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _id(request: Request) -> str:
    conversation_id: str = request.path_params["id"]
    return conversation_id


async def _json(request: Request) -> object:
    body = await request.body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise invalid(f"request body is not valid JSON ({exc})") from None


def _window(messages: Sequence[Message], order: str, skip: int, take: int) -> list[Message]:
    ordered = list(messages) if order == ORDER_ASC else list(reversed(messages))
    return ordered[skip : skip + take]


async def _on_sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        text = f"{request.method} is not supported on {request.url.path}"
        error = SandboxError(ErrorCode.METHOD_NOT_ALLOWED, text, headers=exc.headers)
    else:
        error = SandboxError(ErrorCode.ENDPOINT_NOT_FOUND, f"no endpoint at {request.method} {request.url.path}")
    return error_response(error, status=exc.status_code)


EXCEPTION_HANDLERS = {SandboxError: _on_sandbox_error, HTTPException: _on_http_error}


# -- vendor API ------------------------------------------------------------------------------------


async def issue_token(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = {"error": "invalid_request", "error_description": "send the form as application/x-www-form-urlencoded"}
        return JSONResponse(body, status_code=400, headers=NO_STORE)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    try:
        granted = _sandbox(request).tokens.grant(form)
    except OAuthError as exc:
        body = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(body, status_code=400, headers=NO_STORE)
    return JSONResponse(granted, headers=NO_STORE)


async def create_conversation(request: Request) -> Response:
    sandbox = _sandbox(request)
    conversation = sandbox.create(parse_conversation_draft(await _json(request)))
    return envelope(sandbox.to_json(conversation))


async def get_conversation(request: Request) -> Response:
    sandbox, params = _sandbox(request), request.query_params
    conversation = sandbox.get(_id(request))
    include = query_bool(params, "includeMessages")
    order = query_order(params, ("orderyBy", "orderBy"))  # the docs spell it "orderyBy" here
    messages = _window(conversation.messages, order, 0, MAX_MESSAGES_TAKE) if include else []
    return envelope(sandbox.to_json(conversation, messages))


async def add_messages(request: Request) -> Response:
    drafts = parse_message_drafts(await _json(request))
    messages = _sandbox(request).add_messages(_id(request), drafts, context=False)
    return envelope([message_json(item) for item in messages])


async def add_previous_messages(request: Request) -> Response:
    drafts = parse_message_drafts(await _json(request))
    messages = _sandbox(request).add_messages(_id(request), drafts, context=True)
    return envelope([message_json(item) for item in messages])


async def list_messages(request: Request) -> Response:
    params = request.query_params
    conversation = _sandbox(request).get(_id(request))
    order = query_order(params, ("orderBy",))
    skip = query_int(params, "skip", 0, 0, None)
    take = query_int(params, "take", MAX_MESSAGES_TAKE, 1, MAX_MESSAGES_TAKE)
    return envelope([message_json(item) for item in _window(conversation.messages, order, skip, take)])


async def get_queue(request: Request) -> Response:
    sandbox = _sandbox(request)
    return envelope(queue_json(sandbox.queue_info(sandbox.get(_id(request)))))


async def get_takeover(request: Request) -> Response:
    conversation = _sandbox(request).get(_id(request))
    return envelope({"isAssignedToBot": conversation.is_assigned_to_bot})


async def change_takeover(request: Request) -> Response:
    to_bot, assignee = parse_takeover(await _json(request))
    conversation = _sandbox(request).set_takeover(_id(request), to_bot, assignee)
    return envelope({"isAssignedToBot": conversation.is_assigned_to_bot})


async def update_feedback(request: Request) -> Response:
    positive, text = parse_feedback(await _json(request))
    return envelope(feedback_json(_sandbox(request).set_feedback(_id(request), positive, text)))


async def update_latest_url(request: Request) -> Response:
    sandbox = _sandbox(request)
    return envelope(sandbox.to_json(sandbox.set_latest_url(_id(request), parse_latest_url(await _json(request)))))


async def close_conversation(request: Request) -> Response:
    sandbox = _sandbox(request)
    return envelope(sandbox.to_json(sandbox.close(_id(request))))


async def list_tickets(request: Request) -> Response:
    tickets = _sandbox(request).tickets(parse_ticket_query(await _json(request)))
    return envelope([ticket_json(item) for item in tickets])


CONVERSATION = "/chat/conversations/{id}"
VENDOR_ROUTES = [
    Route("/chat/conversations", create_conversation, methods=["POST"]),
    Route(CONVERSATION, get_conversation, methods=["GET"]),
    Route(f"{CONVERSATION}/messages", add_messages, methods=["POST"]),
    Route(f"{CONVERSATION}/messages", list_messages, methods=["GET"]),
    Route(f"{CONVERSATION}/previousMessages", add_previous_messages, methods=["POST"]),
    Route(f"{CONVERSATION}/queue", get_queue, methods=["GET"]),
    Route(f"{CONVERSATION}/takeover", get_takeover, methods=["GET"]),
    Route(f"{CONVERSATION}/takeover", change_takeover, methods=["PATCH"]),
    Route(f"{CONVERSATION}/feedback", update_feedback, methods=["PATCH"]),
    Route(f"{CONVERSATION}/latestUrl", update_latest_url, methods=["PATCH"]),
    Route(f"{CONVERSATION}/close", close_conversation, methods=["PATCH"]),
    Route("/tickets/list", list_tickets, methods=["POST"]),
]


# -- sandbox-only controls -------------------------------------------------------------------------


async def agent_reply(request: Request) -> Response:
    """A team member answers now: takes the chat out of the queue, fires conversation_message_added."""
    sandbox, body = _sandbox(request), as_object(await _json(request), "body")
    text, name = req_str(body, "message", "body"), opt_str(body, "agentName", "body") or DEFAULT_AGENT_NAME
    message = sandbox.add_live_message(_id(request), lambda _: sandbox.directory.agent_named(name), text)
    return envelope(message_json(message))


async def customer_message(request: Request) -> Response:
    """The conversation's author writes now; fires conversation_message_added."""
    sandbox, body = _sandbox(request), as_object(await _json(request), "body")
    text = req_str(body, "message", "body")
    message = sandbox.add_live_message(_id(request), lambda conversation: conversation.author, text)
    return envelope(message_json(message))


SANDBOX_CONVERSATION = f"{SANDBOX_ROOT}/conversations/{{id}}"
SANDBOX_ROUTES = [
    Route(f"{SANDBOX_CONVERSATION}/agent-reply", agent_reply, methods=["POST"]),
    Route(f"{SANDBOX_CONVERSATION}/customer-message", customer_message, methods=["POST"]),
]
