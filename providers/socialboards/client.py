"""HTTP for the Socialboards External Chat API and Ticket API listing.

Implements (developers.socialboards.com/docs/apis/):
- external-chat-api/reference/endpoints/: create-conversation, add-messages-to-conversation,
  add-message-context-to-conversation, get-conversation-by-id, list-conversation-messages,
  get-conversation-queue-information, get-takeover-state, change-takeover-state,
  update-conversation-feedback, update-conversation-latest-url, close-conversation
- tickets/authorization-headers/access-tokens-v2 (Bearer tokens from the refresh grant)
- tickets/reference/endpoints/list-tickets-add-example (listing, and tickets by id with `ticketIds`;
  the rest of the body decided in docs/socialboards.md)

Every response is the envelope `{"data", "errorCode", "errorText"}`; `errorCode != -1` is a failure
whatever the HTTP status. Paths the public docs do not show are the constants below.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


from .._http import decode_json, error_for_status, retry_after_seconds, send
from .._observe import Routes
from .._wire import Client, Response, transport
from ..echo import VENDOR_TEXT_LIMIT, cut
from ..errors import MalformedResponseError, NotFoundError, ProviderAuthError

CONVERSATIONS = "chat/conversations"
QUEUE_PATH = "chat/conversations/{id}/queue"
LATEST_URL_PATH = "chat/conversations/{id}/latestUrl"
CLOSE_PATH = "chat/conversations/{id}/close"
TICKET_LIST_PATH = "tickets/list"
ROUTES = Routes(
    CONVERSATIONS, f"{CONVERSATIONS}/{{id}}", f"{CONVERSATIONS}/{{id}}/messages", f"{CONVERSATIONS}/{{id}}/previousMessages",
    f"{CONVERSATIONS}/{{id}}/takeover", f"{CONVERSATIONS}/{{id}}/feedback", QUEUE_PATH, LATEST_URL_PATH, CLOSE_PATH, TICKET_LIST_PATH,
)
MAX_MESSAGES_TAKE = 100
MAX_TICKETS_TAKE = 50
ORDER_ASC = "creation_time_asc"
ORDER_DESC = "creation_time_desc"
TOKEN_REFRESH_MARGIN = 60.0


def default_token_url(api_root: str) -> str:
    parts = urlsplit(api_root)
    return f"{parts.scheme}://{parts.netloc}/token"


class SocialboardsClient:
    """Authenticated calls; returns the envelope's `data` or raises a `ProviderError`."""

    def __init__(
        self,
        http: Client,
        *,
        provider: str,
        client_id: str,
        refresh_token: str,
        token_url: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = transport(http)
        self._provider = provider
        self._client_id = client_id
        self._refresh_token = refresh_token
        self._token_url = token_url or default_token_url(self._http.base_url)
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        token = await self._access_token()
        response = await self._send(method, path, token, params=params, json=json, idempotent=idempotent)
        if response.status_code == 401:
            await response.aclose()
            token = await self._access_token(stale=token)
            response = await self._send(method, path, token, params=params, json=json, idempotent=idempotent)
        return self._unwrap(response)

    async def _send(
        self, method: str, path: str, token: str, *, params: Any, json: Any, idempotent: bool
    ) -> Response:
        request = self._http.build_request(
            method, path, params=params, json=json, headers={"authorization": f"Bearer {token}"}
        )
        return await send(self._http, request, provider=self._provider, idempotent=idempotent, operation=ROUTES.name(method, path))

    def _unwrap(self, response: Response) -> Any:
        status = response.status_code
        body = decode_json(response, provider=self._provider) if response.content else None
        envelope = body if isinstance(body, dict) and "errorCode" in body else None
        if envelope is not None and envelope.get("errorCode") == -1 and status < 400:
            return envelope.get("data")
        if envelope is None and status < 400:
            raise MalformedResponseError(
                f"HTTP {status} without the Socialboards envelope", provider=self._provider, status_code=status
            )
        message, code = _error_text(envelope, status)
        raise error_for_status(
            status if status >= 400 else 400,
            message,
            provider=self._provider,
            vendor_code=code,
            retry_after=retry_after_seconds(response),
        )

    async def _access_token(self, *, stale: str | None = None) -> str:
        """A cached token; refreshed when near expiry, or once when the vendor refused `stale`."""
        async with self._token_lock:
            token = self._token
            if token is not None and self._monotonic() < self._expires_at and token != stale:
                return token
            token, self._expires_at = await self._fetch_token()
            self._token = token
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        form = {"grant_type": "refresh_token", "client_id": self._client_id, "refresh_token": self._refresh_token}
        request = self._http.build_request("POST", self._token_url, data=form)
        response = await send(self._http, request, provider=self._provider, idempotent=True, operation="POST token")
        if response.status_code >= 400:
            if response.status_code in (400, 401, 403):
                raise ProviderAuthError(
                    "the token endpoint refused the client id / refresh token", provider=self._provider,
                    status_code=response.status_code,
                )
            raise error_for_status(
                response.status_code, None, provider=self._provider, message=f"the token endpoint failed (HTTP {response.status_code})"
            )
        body = decode_json(response, provider=self._provider)
        body = body.get("data", body) if isinstance(body, dict) and "errorCode" in body else body
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise MalformedResponseError("token response has no access_token", provider=self._provider)
        ttl = body.get("expires_in")
        ttl = float(ttl) if isinstance(ttl, (int, float)) else 3600.0
        return token, self._monotonic() + max(0.0, ttl - TOKEN_REFRESH_MARGIN)

    # ---- operations -----------------------------------------------------------------------------

    async def create_conversation(self, body: dict[str, Any]) -> Any:
        return await self.call("POST", CONVERSATIONS, json=body)

    async def get_conversation(self, conversation_id: str, *, include_messages: bool = False) -> Any:
        params: dict[str, Any] = {"includeMessages": "true" if include_messages else "false"}
        if include_messages:
            params["orderyBy"] = ORDER_DESC  # sic: the documented spelling on this endpoint
        return await self.call("GET", f"{CONVERSATIONS}/{conversation_id}", params=params)

    async def add_messages(self, conversation_id: str, items: list[dict[str, Any]], *, as_context: bool) -> list[Any]:
        leaf = "previousMessages" if as_context else "messages"
        return self._list(await self.call("POST", f"{CONVERSATIONS}/{conversation_id}/{leaf}", json=items))

    async def list_messages(self, conversation_id: str, *, skip: int, take: int, newest_first: bool) -> list[Any]:
        params = {"skip": skip, "take": min(take, MAX_MESSAGES_TAKE), "orderBy": ORDER_DESC if newest_first else ORDER_ASC}
        return self._list(await self.call("GET", f"{CONVERSATIONS}/{conversation_id}/messages", params=params))

    async def get_queue(self, conversation_id: str) -> Any:
        return await self.call("GET", QUEUE_PATH.format(id=conversation_id))

    async def get_takeover(self, conversation_id: str) -> Any:
        return await self.call("GET", f"{CONVERSATIONS}/{conversation_id}/takeover")

    async def set_takeover(self, conversation_id: str, *, bot: bool, assignee_id: str | None) -> Any:
        body = {"isAssignedToBot": bot, "assigneeId": assignee_id}
        return await self.call("PATCH", f"{CONVERSATIONS}/{conversation_id}/takeover", json=body)

    async def set_feedback(self, conversation_id: str, *, positive: bool, text: str | None) -> Any:
        body = {"isPositive": positive, "text": text}
        return await self.call("PATCH", f"{CONVERSATIONS}/{conversation_id}/feedback", json=body)

    async def set_latest_url(self, conversation_id: str, url: str) -> Any:
        return await self.call("PATCH", LATEST_URL_PATH.format(id=conversation_id), json={"url": url})

    async def close(self, conversation_id: str) -> Any:
        return await self.call("PATCH", CLOSE_PATH.format(id=conversation_id))

    async def list_tickets(self, body: dict[str, Any], *, skip: int, take: int) -> list[Any]:
        """One page of tickets: `body` is the filter and order (`mapping.build_ticket_filter`)."""
        page = {**body, "skip": skip, "take": take}
        return self._list(await self.call("POST", TICKET_LIST_PATH, json=page, idempotent=True))  # a read

    async def get_ticket(self, conversation_id: str) -> dict[str, Any]:
        """The ticket of a conversation (same id), by `ticketIds` on the list: the Ticket API's way to
        fetch tickets by id. Raises NotFoundError when there is none."""
        rows = await self.list_tickets({"ticketIds": [int(conversation_id)]}, skip=0, take=1)
        if not rows or not isinstance(rows[0], dict):
            raise NotFoundError(f"no ticket {conversation_id}", provider=self._provider, status_code=404)
        return rows[0]

    async def probe(self) -> None:
        """One cheap authenticated read (a one-ticket page); raises ProviderError when it fails."""
        await self.list_tickets({}, skip=0, take=1)

    def _list(self, data: Any) -> list[Any]:
        if not isinstance(data, list):
            raise MalformedResponseError("expected a list in the envelope's data", provider=self._provider)
        return data


def _error_text(envelope: dict[str, Any] | None, status: int) -> tuple[str | None, str | None]:
    """The vendor's own text (None: it gave none) and code, from the envelope."""
    if envelope is None:
        return None, None
    code, text = envelope.get("errorCode"), envelope.get("errorText")
    return (cut(str(text), VENDOR_TEXT_LIMIT) if text else None), None if code is None else str(code)
