"""Running an ASGI app under uvicorn, announcing it only once its address is bound: a port already in
use gets uvicorn's bind error and exit status 3, never a "listening on" line before it. On SIGINT or
SIGTERM the app's open subscriptions are ended first (`gateway.shutdown`), then uvicorn closes the
connections."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from .shutdown import DRAIN_SECONDS, ON_SHUTDOWN, SEND_SECONDS

STARTUP_FAILURE = 3  # what uvicorn exits with when it cannot bind
logger = logging.getLogger("parley.serving")


class AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._announce()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stops taking connections, lets the app end its subscriptions, then shuts down as uvicorn does."""
        end = getattr(getattr(self, "lifespan", None), "state", {}).get(ON_SHUTDOWN)
        if end is not None:
            for server in self.servers:
                server.close()
            try:
                await asyncio.wait_for(end(), DRAIN_SECONDS + SEND_SECONDS + 0.5)
            except Exception:  # shutting down goes on whatever happened here
                logger.exception("ending the open subscriptions failed")
        await super().shutdown(sockets=sockets)


def run(app: Any, *, announce: Callable[[], None], **options: Any) -> int:
    """`uvicorn.run` with `announce()` called after the bind (before the workers start, with
    `workers` > 1, where the parent binds). The exit status: 0 after a clean stop."""
    config = uvicorn.Config(app, **options)
    try:
        if config.workers > 1:
            sock = config.bind_socket()  # logs the error and exits on failure
            announce()
            Multiprocess(config, sockets=[sock]).run()
            return 0
        server = AnnouncingServer(config, announce)
        server.run()
    except KeyboardInterrupt:
        return 0
    return 0 if server.started else STARTUP_FAILURE


def announce_lines(*lines: str) -> Callable[[], None]:
    def announce() -> None:
        print("\n".join(lines), flush=True)
        sys.stdout.flush()

    return announce
