"""Conversation events, POSTed as JSON to a configured URL (a Parley convention: CleverTap documents
no conversation webhooks).

Body: ``{"event": <name>, "ts": <epoch seconds>, "record": <Conversation>, "message"?: <Message>}``
(``message`` only on ``conversation.user_replied``), header ``X-CleverTap-Account-Id``.
Deliveries are chained so they arrive in the order the changes happened, and none ever delays or
fails the API call that caused it: failures are logged and dropped (no retries).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from ._sandbox_model import JsonDict

USER_REPLIED = "conversation.user_replied"
TICKET_STATUS_CHANGED = "conversation.ticket_status_changed"
CLAIMED = "conversation.claimed"
ACCOUNT_HEADER = "X-CleverTap-Account-Id"
DELIVERY_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("providers.clevertap.sandbox")


def event_body(event: str, ts: int, record: JsonDict, message: JsonDict | None = None) -> JsonDict:
    body: JsonDict = {"event": event, "ts": ts, "record": record}
    if message is not None:
        body["message"] = message
    return body


class EventSender:
    """Posts event bodies to ``url`` for ``account_id``; a no-op when no URL is configured."""

    def __init__(self, url: str | None, client: httpx.AsyncClient | None, account_id: str) -> None:
        self._url = url
        self._client = client
        self._owns_client = False
        self._headers = {ACCOUNT_HEADER: account_id}
        self._tail: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, body: JsonDict) -> None:
        if self._url is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver_after(self._tail, body))
        self._tail = task
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        """Wait for deliveries in flight, then close the HTTP client if the sender created it."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    async def _deliver_after(self, previous: asyncio.Task[None] | None, body: JsonDict) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self._url is not None
        try:
            response = await self._http().post(self._url, json=body, headers=self._headers)
        except Exception as exc:  # nothing the receiver does may reach the API call
            logger.warning("event %s to %s failed: %r", body["event"], self._url, exc)
            return
        if response.is_error:
            logger.warning("event %s to %s answered %d", body["event"], self._url, response.status_code)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
            self._owns_client = True
        return self._client
