"""The issue's acceptance for the circuit breaker: a vendor killed for a while gets at most one attempt
per probe interval while it is down, clients are answered at once with PROVIDER_UNAVAILABLE, and once
it is back the breaker closes by itself.

The vendor is a real `parley sandbox socialboards` process, stopped and started again on the same port.
While it is down the port answers as a crashed vendor behind a load balancer does: it accepts each
connection and hangs up at once, so every attempt the gateway makes is counted. Scaled down from 30 s
to 3 s with a 0.5 s cooldown (the same number of probe intervals as 30 s with a 5 s cooldown, x 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.limit_settings import Limits
from gateway.settings import ProviderSettings, Settings
from providers import BreakerState, ResiliencePolicy

from .helpers import no_collector_pauses, Gateway, asgi_client, free_port, listening

ROOT = Path(__file__).resolve().parents[1]  # so the sandbox process runs this checkout's code
OUTAGE = 3.0
COOLDOWN = 0.5
FAILURES = 3
LIST = "{ conversations(first: 1) { edges { node { id } } } }"


def sandbox_process(port: int) -> contextlib.AbstractContextManager[None]:
    return listening([sys.executable, "-m", "gateway.cli", "sandbox", "socialboards", "--port", str(port), "--demo", "3"], port, ROOT)


@contextlib.asynccontextmanager
async def hanging_up(port: int) -> AsyncIterator[list[float]]:
    """The port of a dead vendor: each connection accepted (its time kept) and closed at once."""
    accepted: list[float] = []

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(time.monotonic())
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", port)
    try:
        yield accepted
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def gateway_over(url: str) -> AsyncIterator[Gateway]:
    provider = ProviderSettings("sb", "socialboards", url, {"client_id": "sandbox-client", "refresh_token": "sandbox-refresh"})
    policy = ResiliencePolicy(breaker_failures=FAILURES, breaker_cooldown=COOLDOWN)
    settings = Settings(providers=(provider,), upstream_timeout=2, graphiql=False, resilience=policy,
                        limits=Limits(rate_limit=None, cost_rate_limit=None))
    app = create_app(settings)  # no transports: the network, as in production
    async with app.router.lifespan_context(app), asgi_client(app, "http://parley.test") as client:
        yield Gateway(app, client)


async def test_a_vendor_down_for_a_while_gets_one_attempt_per_probe_interval_and_clients_are_answered_at_once() -> None:
    port = free_port()
    async with gateway_over(f"http://127.0.0.1:{port}/") as gateway:
        breaker = gateway.app.state.runtime.breakers["sb"]
        with sandbox_process(port):
            assert (await gateway.data(LIST))["conversations"]["edges"]
        async with hanging_up(port) as attempts:
            refused: list[float] = []
            started = time.monotonic()
            made: list[float] = []  # when each client request was sent
            while time.monotonic() - started < OUTAGE:
                made.append(time.monotonic())
                begun = time.perf_counter()
                [error] = (await gateway.execute(LIST))["errors"]
                assert error["extensions"]["code"] == "PROVIDER_UNAVAILABLE" and error["extensions"]["provider"] == "sb"
                if "circuit breaker" in error["message"]:
                    refused.append(time.perf_counter() - begun)
                    assert error["extensions"]["retryAfter"] == 1  # up to 0.5 s, in whole seconds
                await asyncio.sleep(0.01)
            assert breaker.state is not BreakerState.CLOSED
        probes = math.ceil(OUTAGE / COOLDOWN)
        assert len(attempts) <= FAILURES + probes, attempts  # 3 failures opened it; then one probe per 0.5 s at most
        # It did probe, each cooldown: every request sent once a cooldown had passed since the last failed
        # attempt was a probe. Counted from the requests the loop really sent, so a loop that a busy
        # machine stalls (no request for a second) is not taken for a breaker that stopped probing.
        due, ready_at = 0, attempts[FAILURES - 1] + COOLDOWN
        for sent in made:
            if sent >= ready_at + 0.05:
                due, ready_at = due + 1, sent + COOLDOWN
        assert due >= 2 and len(attempts) - FAILURES >= due - 1, (attempts, due, made[::20])
        gaps = [b - a for a, b in zip(attempts[FAILURES:], attempts[FAILURES + 1:])]
        assert all(gap >= COOLDOWN * 0.9 for gap in gaps), gaps
        assert len(refused) > 50 and sorted(refused)[int(len(refused) * 0.95)] < 0.1, refused  # 95 % (a busy machine pauses)
        assert max(refused) < 1.0, refused  # and none waited for anything like the 2 s upstream timeout
        with sandbox_process(port):
            back = time.monotonic()
            while "errors" in (body := await gateway.execute(LIST)):
                assert time.monotonic() - back < COOLDOWN + 2, body
                await asyncio.sleep(0.05)
            assert breaker.state is BreakerState.CLOSED
            assert (await gateway.data(LIST))["conversations"]["edges"]


pytestmark = pytest.mark.usefixtures(no_collector_pauses.__name__)
