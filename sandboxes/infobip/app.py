"""Infobip sandbox: a local emulation of the Conversations API (``/ccaas/1``).

Implements, as documented in the vendor's Conversations API reference and decided in
docs/infobip.md where the reference is silent:

- ``conversations``: list (every documented filter), create, get, PUT (replace), PATCH, ``assignee``
  (PUT, DELETE), ``route`` (POST), ``simulate-routing`` (GET), ``tags`` (GET, POST, DELETE by name),
  ``messages`` (GET, POST), ``notes`` (GET, POST, GET by id; ``notes``);
- account ``tags`` (GET, POST, DELETE), ``agents`` (GET, POST, GET by id), ``queues`` (GET, POST, GET
  by id, POST ``agents``) and the ``routing`` set-up (GET, PUT);
- sandbox-only controls under ``/_sandbox`` (no auth): ``inbound`` (a customer writes in), fault
  injection, the request log and the clock.

Every call needs ``Authorization: App <api_key>``. Error bodies, webhooks and the rules the docs
leave open are described in the ``sandboxes/<vendor>/`` modules; the gate itself (request log, faults)
is ``sandboxes/gate.py``, the clock and the control routes ``sandboxes/kit.py``. State lives on ``app.state.sandbox`` and is built here, not in a
lifespan, because httpx's ASGITransport runs none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from . import input as body
from . import notes
from . import query as query
from .demo import seed_account, seed_demo
from .gate import RateLimit, TokenBucket, app_key_auth, render_fault
from .http import EXCEPTION_HANDLERS, json_body, page_response, path_param, resource, sandbox_of
from .model import (
    Conversation,
    agent_json,
    conversation_json,
    format_time,
    queue_json,
    rule_json,
    success,
    tag_json,
)
from .state import Sandbox
from ..kit import SANDBOX_ROOT
from ..webhooks import WebhookSender, closing
from .webhooks import WebhookFields, logger

__all__ = ["RateLimit", "Sandbox", "WebhookFields", "create_app"]

API_ROOT = "/ccaas/1"


def create_app(
    *,
    api_key: str = "sandbox-key",
    webhook_url: str | None = None,
    webhook_client: httpx.AsyncClient | None = None,
    demo_conversations: int = 0,
    seed: int = 0,
    clock: Callable[[], datetime] | None = None,
    plain_text_content: bool = False,
    rate_limit: RateLimit | None = None,
    webhook_fields: WebhookFields | None = None,
) -> Starlette:
    """A fresh sandbox app.

    ``clock`` returns aware UTC datetimes (default: the wall clock); ``plain_text_content`` writes TEXT
    message content as a bare string; ``rate_limit`` turns on a token bucket over all API calls;
    ``webhook_fields`` renames the webhook body's fields.
    """
    sandbox = Sandbox(
        clock=clock,
        webhooks=WebhookSender(webhook_url, webhook_client, logger=logger),
        webhook_fields=webhook_fields or WebhookFields(),
        seed=seed,
        plain_text_content=plain_text_content,
    )
    seed_account(sandbox)
    seed_demo(sandbox, demo_conversations)
    controls = sandbox.controls
    bucket = TokenBucket(rate_limit, sandbox.now) if rate_limit is not None else None
    gate = Middleware(
        controls.gate,
        render_error=render_fault,
        authenticate=app_key_auth(api_key, bucket),
        sandbox_root=SANDBOX_ROOT,
    )
    routes = [*SANDBOX_ROUTES, *controls.routes(SANDBOX_ROOT, format_time), Mount(API_ROOT, routes=VENDOR_ROUTES)]
    app = Starlette(routes=routes, middleware=[gate], exception_handlers=EXCEPTION_HANDLERS, lifespan=closing(sandbox.webhooks))
    app.state.sandbox = sandbox
    return app




def _conversation(conversation: Conversation) -> Response:
    return JSONResponse(conversation_json(conversation))


# -- conversations ---------------------------------------------------------------------------------


async def list_conversations(request: Request) -> Response:
    keep = query.conversation_filter(request.query_params)
    found = filter(keep, sandbox_of(request).conversations.values())
    return page_response(request, "conversations", found, query.CONVERSATION_ORDER, conversation_json)


async def create_conversation(request: Request) -> Response:
    fields = body.parse_conversation_fields(await json_body(request), "create")
    return _conversation(sandbox_of(request).create(fields))


async def get_conversation(request: Request) -> Response:
    return _conversation(sandbox_of(request).get(path_param(request, "id")))


async def replace_conversation(request: Request) -> Response:
    fields = body.parse_conversation_fields(await json_body(request), "replace")
    return _conversation(sandbox_of(request).update(path_param(request, "id"), fields))


async def patch_conversation(request: Request) -> Response:
    fields = body.parse_conversation_fields(await json_body(request), "patch")
    return _conversation(sandbox_of(request).update(path_param(request, "id"), fields))


async def assign(request: Request) -> Response:
    agent_id = body.parse_agent_id(await json_body(request))
    return _conversation(sandbox_of(request).assign(path_param(request, "id"), agent_id))


async def unassign(request: Request) -> Response:
    return _conversation(sandbox_of(request).unassign(path_param(request, "id")))


async def route(request: Request) -> Response:
    return _conversation(sandbox_of(request).route(path_param(request, "id")))


async def simulate_routing(request: Request) -> Response:
    return JSONResponse(sandbox_of(request).simulate_route(path_param(request, "id")))


async def list_conversation_tags(request: Request) -> Response:
    tags = sandbox_of(request).tags_of(path_param(request, "id"))
    return page_response(request, "tags", tags, query.TAG_ORDER, tag_json, "name")


async def link_tag(request: Request) -> Response:
    name = body.parse_tag_name(await json_body(request), "tagName")
    sandbox_of(request).link_tag(path_param(request, "id"), name)
    return success("Tag added to conversation successfully.")


async def unlink_tag(request: Request) -> Response:
    sandbox_of(request).unlink_tag(path_param(request, "id"), path_param(request, "tagName"))
    return success("Tag removed successfully.")


async def list_messages(request: Request) -> Response:
    sandbox = sandbox_of(request)
    conversation = sandbox.get(path_param(request, "id"))
    found = filter(query.message_filter(request.query_params), conversation.messages)
    return page_response(request, "messages", found, query.MESSAGE_ORDER, sandbox.message_json)


async def send_message(request: Request) -> Response:
    sandbox = sandbox_of(request)
    draft = body.parse_message(await json_body(request))
    return JSONResponse(sandbox.message_json(sandbox.send(path_param(request, "id"), draft)))


# -- account ---------------------------------------------------------------------------------------


async def list_tags(request: Request) -> Response:
    return page_response(request, "tags", sandbox_of(request).account.tags.values(), query.TAG_ORDER, tag_json, "name")


async def create_tag(request: Request) -> Response:
    name = body.parse_tag_name(await json_body(request), "name")
    return JSONResponse(tag_json(sandbox_of(request).account.add_tag(name)))


async def delete_tag(request: Request) -> Response:
    sandbox_of(request).delete_tag(path_param(request, "tagName"))
    return success("Tag deleted successfully.")


async def list_agents(request: Request) -> Response:
    account = sandbox_of(request).account
    found = filter(query.agent_filter(request.query_params, account.queues.values()), account.agents.values())
    return page_response(request, "agents", found, query.AGENT_ORDER, agent_json)


async def create_agent(request: Request) -> Response:
    draft = body.parse_agent(await json_body(request))
    return JSONResponse(agent_json(sandbox_of(request).account.add_agent(draft)))


async def get_agent(request: Request) -> Response:
    return JSONResponse(agent_json(sandbox_of(request).account.agent(path_param(request, "agentId"))))


async def list_queues(request: Request) -> Response:
    account = sandbox_of(request).account
    found = filter(query.queue_filter(request.query_params), account.queues.values())
    return page_response(request, "queues", found, query.QUEUE_ORDER, queue_json)


async def create_queue(request: Request) -> Response:
    name = body.parse_queue_name(await json_body(request))
    return JSONResponse(queue_json(sandbox_of(request).account.add_queue(name)))


async def get_queue(request: Request) -> Response:
    return JSONResponse(queue_json(sandbox_of(request).account.queue(path_param(request, "queueId"))))


async def add_queue_agent(request: Request) -> Response:
    agent_id = body.parse_agent_id(await json_body(request))
    sandbox_of(request).account.add_member(path_param(request, "queueId"), agent_id)
    return success("Agent added to queue successfully.")


async def get_routing(request: Request) -> Response:
    return JSONResponse([rule_json(rule) for rule in sandbox_of(request).account.rules])


async def set_routing(request: Request) -> Response:
    account = sandbox_of(request).account
    account.set_rules(body.parse_rules(await json_body(request)))
    return JSONResponse([rule_json(rule) for rule in account.rules])


CONVERSATION = "/conversations/{id}"
VENDOR_ROUTES = [
    resource("/conversations", GET=list_conversations, POST=create_conversation),
    resource(CONVERSATION, GET=get_conversation, PUT=replace_conversation, PATCH=patch_conversation),
    resource(f"{CONVERSATION}/assignee", PUT=assign, DELETE=unassign),
    resource(f"{CONVERSATION}/route", POST=route),
    resource(f"{CONVERSATION}/simulate-routing", GET=simulate_routing),
    resource(f"{CONVERSATION}/tags", GET=list_conversation_tags, POST=link_tag),
    resource(f"{CONVERSATION}/tags/{{tagName:path}}", DELETE=unlink_tag),
    resource(f"{CONVERSATION}/messages", GET=list_messages, POST=send_message),
    resource(f"{CONVERSATION}/notes", GET=notes.list_notes, POST=notes.create_note),
    resource(f"{CONVERSATION}/notes/{{noteId}}", GET=notes.get_note),
    resource("/tags", GET=list_tags, POST=create_tag),
    resource("/tags/{tagName:path}", DELETE=delete_tag),
    resource("/agents", GET=list_agents, POST=create_agent),
    resource("/agents/{agentId}", GET=get_agent),
    resource("/queues", GET=list_queues, POST=create_queue),
    resource("/queues/{queueId}", GET=get_queue),
    resource("/queues/{queueId}/agents", POST=add_queue_agent),
    resource("/routing", GET=get_routing, PUT=set_routing),
]


# -- sandbox-only controls -------------------------------------------------------------------------


async def inbound(request: Request) -> Response:
    """A customer writes in; threaded, or a new routed conversation. Answers the stored Message."""
    sandbox = sandbox_of(request)
    message = sandbox.receive(body.parse_inbound(await json_body(request)))
    return JSONResponse(sandbox.message_json(message))


SANDBOX_ROUTES = [Route(f"{SANDBOX_ROOT}/inbound", inbound, methods=["POST"])]
