"""Probes: /health is liveness and says nothing of providers to an anonymous caller; /ready is 200 while
every readiness check passes and 503 otherwise, with reasons only for a loopback peer or an
authenticated client (and then none about providers it may not use)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

import gateway.probes
from gateway.app import create_app
from gateway.probes import Unready
from gateway.settings import Settings

from .auth_kit import api_client, bearer
from .helpers import stoppable_redis

OUTSIDE = ("203.0.113.7", 40000)  # a peer that is not loopback (TEST-NET-3)
KEY, IB_KEY = "console-key-0123456789", "infobip-key-0123456789"
CLIENTS = (api_client("console", KEY), api_client("widget", IB_KEY, providers=frozenset({"infobip"})))


@pytest.fixture
async def app() -> AsyncIterator[Starlette]:
    gateway = create_app(Settings(demo_conversations=1, clients=CLIENTS))
    async with gateway.router.lifespan_context(gateway):
        yield gateway


def client(app: Starlette, peer: tuple[str, int] = ("127.0.0.1", 40000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://parley.test")


async def test_ready_is_200_while_every_check_passes(app: Starlette) -> None:
    async with client(app, OUTSIDE) as outside:
        response = await outside.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
    assert response.headers["cache-control"] == "no-store"


async def test_unready_reasons_go_to_loopback_and_authenticated_callers_only(app: Starlette) -> None:
    async def breaker_open() -> Unready:
        return Unready("provider socialboards: circuit open after 5 failures", provider="socialboards")

    async def store_down() -> str:
        return "migration store: cannot connect"

    app.state.runtime.readiness_checks.extend([breaker_open, store_down])
    async with client(app) as local, client(app, OUTSIDE) as outside:
        answers = [
            await local.get("/ready"),
            await outside.get("/ready"),
            await outside.get("/ready", headers=bearer("wrong-key-0123456789")),
            await outside.get("/ready", headers=bearer(KEY)),
            await outside.get("/ready", headers=bearer(IB_KEY)),
        ]
    assert {a.status_code for a in answers} == {503}
    both = ["provider socialboards: circuit open after 5 failures", "migration store: cannot connect"]
    assert [a.json() for a in answers] == [
        {"status": "unready", "reasons": both},
        {"status": "unready"},
        {"status": "unready"},
        {"status": "unready", "reasons": both},
        {"status": "unready", "reasons": ["migration store: cannot connect"]},  # socialboards is not the widget's
    ]


async def test_a_check_that_hangs_makes_the_instance_unready_within_its_time(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.probes, "CHECK_SECONDS", 0.1)

    async def stuck() -> None:
        await asyncio.sleep(30)

    app.state.runtime.readiness_checks.append(stuck)
    async with client(app) as local:
        response = await asyncio.wait_for(local.get("/ready"), timeout=2)
    assert response.status_code == 503
    assert response.json()["reasons"] == [f"{stuck.__qualname__} did not answer within 0.1 s"]


async def test_health_is_liveness_only(app: Starlette) -> None:
    async with client(app, OUTSIDE) as outside:
        app.state.runtime.readiness_checks.append(lambda: asyncio.sleep(0, result="down"))
        assert (await outside.get("/health")).json() == {"status": "ok"}  # unready, yet alive; no provider named


async def test_ready_follows_the_redis_bus_and_never_shows_its_address() -> None:
    with stoppable_redis() as (url, redis):
        app = create_app(Settings(demo_conversations=1, bus_url=url))
        async with app.router.lifespan_context(app), client(app) as local:
            assert (await local.get("/ready")).status_code == 200
            redis.terminate()
            await asyncio.to_thread(redis.wait, 10)
            down = await local.get("/ready")
    assert down.status_code == 503
    (reason,) = down.json()["reasons"]
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert reason.startswith("event bus: Redis does not answer (") and port not in reason and "127.0.0.1" not in reason
