"""`POST /webhooks/{provider}`: vendor pushes, verified with the provider's secret, normalised by the
provider, published on the bus (the bus drops a message already published by a mutation).

Socialboards documents no webhook signature, so the secret travels in the URL configured at the
vendor (`?secret=`) or in an `X-Parley-Webhook-Secret` header.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from providers import Provider, ProviderError, VendorEvent, cut, echo
from providers.echo import VENDOR_TEXT_LIMIT

from .events import BusUnavailable, Event, EventKind
from .runtime import Runtime

logger = logging.getLogger("parley.webhooks")


def webhook_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        name = request.path_params["provider"]
        provider = runtime.providers.get(name)
        secret = runtime.webhook_secrets.get(name)
        if provider is None or secret is None:
            return _error(404, "NOT_FOUND", f"no webhook endpoint for provider {echo(name)}")
        given = request.query_params.get("secret") or request.headers.get("x-parley-webhook-secret") or ""
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return _error(401, "UNAUTHENTICATED", "missing or wrong webhook secret")
        try:
            events = provider.parse_webhook(orjson.loads(await request.body()))
        except (orjson.JSONDecodeError, ProviderError) as exc:
            return _error(400, "INVALID_INPUT", f"webhook body not understood: {cut(str(exc), VENDOR_TEXT_LIMIT)}")
        try:
            published = await _publish(runtime, provider, name, events)
        except BusUnavailable as exc:  # the vendor delivers again later; messages already published are skipped then
            logger.warning("webhook from %s not published: %s", name, exc)
            return _error(503, "UNAVAILABLE", "events cannot be published right now; deliver again later")
        return JSONResponse({"received": len(events), "published": published})

    return endpoint


async def _publish(runtime: Runtime, provider: Provider, name: str, events: list[VendorEvent]) -> int:
    published = 0
    for item in events:
        if item.message is not None:
            event = Event(EventKind.MESSAGE_ADDED, name, item.conversation_remote_id, message=item.message)
            published += await runtime.bus.publish(event) is not None
        conversation = item.conversation
        if conversation is not None and item.partial:
            try:
                conversation = await provider.get_conversation(item.conversation_remote_id)
            except ProviderError as exc:  # the vendor will not say more now: publish nothing half-true
                logger.warning("webhook from %s: cannot read conversation %s: %s", name, echo(item.conversation_remote_id), exc)
                conversation = None
        if conversation is not None:
            event = Event(EventKind.CONVERSATION_CHANGED, name, item.conversation_remote_id, conversation=conversation)
            published += await runtime.bus.publish(event) is not None
    return published


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
