"""Shutting down with subscriptions open: every stream is ended before the server closes connections,
so each client gets its protocol's end (graphql-transport-ws and graphql-ws a `complete` for each
operation, then the close; SSE a `complete` event and the end of the response) instead of a cut
connection, and no task is left to be cancelled mid-send.

The app hands `end_subscriptions` to the server in its lifespan state under `ON_SHUTDOWN`;
`gateway.serving` calls it as shutdown begins (uvicorn runs the lifespan's own shutdown only after
every connection has closed, too late for this)."""

from __future__ import annotations

import asyncio

from .events import Bus

ON_SHUTDOWN = "parley.on_shutdown"
DRAIN_SECONDS = 1.0  # for the streams to take what their bus holds for them and end
SEND_SECONDS = 0.1  # for each protocol to send its `complete` once its stream has ended
POLL_SECONDS = 0.01


async def end_subscriptions(bus: Bus, *, timeout: float = DRAIN_SECONDS) -> None:
    """Ends every subscription on `bus` and waits (at most `timeout`) until they have ended."""
    bus.end_subscriptions()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bus.subscriber_count and loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    await asyncio.sleep(SEND_SECONDS)
