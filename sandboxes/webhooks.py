"""Webhook delivery for the sandboxes: a vendor's sandbox builds the bodies, ``WebhookSender`` posts them.

Deliveries are chained so they arrive in the order the changes happened, and none ever delays or
fails the API call that caused it (failures are logged and dropped, no retries).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

DELIVERY_TIMEOUT_SECONDS = 5.0

JsonDict = dict[str, Any]


class WebhookSender:
    """Posts JSON bodies to ``url`` in order; a no-op when no URL is configured. The client is made
    on first use unless one is injected, and closed by ``aclose`` only if the sender made it."""

    def __init__(
        self,
        url: str | None,
        client: httpx.AsyncClient | None,
        *,
        logger: logging.Logger,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._url = url
        self._client = client
        self._owns_client = False
        self._logger = logger
        self._headers = headers or {}
        self._tail: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, body: JsonDict, *, label: str) -> None:
        """Queues a delivery; ``label`` names it in the log (e.g. the event type)."""
        if self._url is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver_after(self._tail, body, label))
        self._tail = task
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        """Waits for deliveries in flight, then closes the HTTP client if the sender made it."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    async def _deliver_after(self, previous: asyncio.Task[None] | None, body: JsonDict, label: str) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self._url is not None
        try:
            response = await self._http().post(self._url, json=body, headers=self._headers)
        except Exception as exc:  # nothing the receiver does may reach the API call
            self._logger.warning("webhook %s to %s failed: %r", label, self._url, exc)
            return
        if response.is_error:
            self._logger.warning("webhook %s to %s answered %d", label, self._url, response.status_code)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
            self._owns_client = True
        return self._client


def closing(sender: WebhookSender) -> Callable[[Any], Any]:
    """A Starlette lifespan that waits for the sandbox's deliveries and closes its sender on shutdown."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        await sender.aclose()

    return lifespan
