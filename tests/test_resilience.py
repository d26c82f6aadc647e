"""Each provider's circuit breaker and retry budget, seen from a client of the gateway: refusals at once
with PROVIDER_UNAVAILABLE and retryAfter, `providers { healthy }` from the breaker, the breaker closing
by itself, retries within their budget; and their settings. (The state machine alone: test_breaker.py;
a real sandbox process killed: test_resilience_outage.py; the request deadline: test_resilience_deadline.py.)"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.limit_settings import Limits
from gateway.resilience_settings import load_resilience
from gateway.settings import ProviderSettings, Settings, load_settings
from gateway.setting_values import SettingsError
from providers import BreakerState, ResiliencePolicy, signals

from .helpers import (
    IB_API_KEY,
    IB_BASE,
    SB_BASE,
    SB_PROVIDER,
    STATUS,
    Gateway,
    asgi_client,
    clear_faults,
    create_conversation,
    global_id,
    infobip_app,
    inject_fault,
    sandbox_requests,
    socialboards_app,
)

HEALTH = "{ providers { name healthy } }"
IB_CONVERSATION = "query C($id: ID!) { conversation(id: $id) { topic } }"
CONVERSATION_READS = {"pathContains": "chat/conversations", "times": None}  # every Socialboards read, until cleared
IB = ProviderSettings("ib", "infobip", IB_BASE, {"api_key": IB_API_KEY})


@contextlib.asynccontextmanager
async def resilient(vendor: tuple[ProviderSettings, Starlette], policy: ResiliencePolicy, *, timeout: float = 0.5) -> AsyncIterator[Gateway]:
    """The gateway over one provider wired in-process to its sandbox, with `policy` and no per-client rates."""
    settings = Settings(providers=(vendor[0],), upstream_timeout=timeout, graphiql=False, resilience=policy,
                        limits=Limits(rate_limit=None, cost_rate_limit=None))
    app = create_app(settings, transports={vendor[0].name: httpx.ASGITransport(app=vendor[1])})
    async with app.router.lifespan_context(app), asgi_client(app, "http://parley.test") as client:
        yield Gateway(app, client)


def breaker_state(gateway: Gateway, provider: str) -> BreakerState:
    state: BreakerState = gateway.app.state.runtime.breakers[provider].state
    return state


@contextlib.contextmanager
def breaker_changes() -> Iterator[list[str]]:
    seen: list[str] = []
    unsubscribe = signals.subscribe(signals.BREAKER_STATE, lambda provider, state: seen.append(f"{provider}:{state}"))
    try:
        yield seen
    finally:
        unsubscribe()


async def open_breaker(gateway: Gateway, conversation: str) -> dict[str, Any]:
    """Reads `conversation` (whose reads fail) until the breaker refuses; the first refusal."""
    for _ in range(10):
        [error] = (await gateway.execute(STATUS, {"id": conversation}))["errors"]
        if "circuit breaker" in error["message"]:
            return error
    raise AssertionError("the breaker did not open")


@pytest.fixture
def sb() -> Starlette:
    return socialboards_app()


@pytest.fixture
async def sb_hooks(sb: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(sb, SB_BASE) as client:
        yield client


async def test_an_open_breaker_answers_at_once_with_provider_unavailable_and_retry_after_and_calls_nobody(
    sb: Starlette, sb_hooks: httpx.AsyncClient
) -> None:
    async with resilient((SB_PROVIDER, sb), ResiliencePolicy(breaker_failures=3, breaker_cooldown=30)) as gateway:
        conversation = await create_conversation(gateway)
        await inject_fault(sb_hooks, **CONVERSATION_READS, status=503)
        with breaker_changes() as changes:
            first = await open_breaker(gateway, conversation)
        assert changes == ["sb:open"] and breaker_state(gateway, "sb") is BreakerState.OPEN
        assert first["extensions"] | {"requestId": None} == {"requestId": None, "code": "PROVIDER_UNAVAILABLE", "provider": "sb", "retryAfter": 30}
        assert first["message"] == "sb: calls to the vendor are paused after repeated failures (circuit breaker); next try in 30 s"
        calls = len(await sandbox_requests(sb_hooks))
        latencies = []
        for _ in range(20):
            started = time.perf_counter()
            body = await gateway.execute(STATUS, {"id": conversation})
            latencies.append(time.perf_counter() - started)
            [error] = body["errors"]
            assert error["extensions"]["code"] == "PROVIDER_UNAVAILABLE" and error["path"] == ["conversation"]
            assert 1 <= error["extensions"]["retryAfter"] <= 30
        assert sorted(latencies)[18] < 0.1, latencies  # 19 of 20 (one may meet a busy machine's pause)
        started = time.perf_counter()
        assert await gateway.data(HEALTH) == {"providers": [{"name": "sb", "healthy": False}]}
        assert time.perf_counter() - started < 0.25  # no call (counted below), so no wait beyond a busy machine's
        assert len(await sandbox_requests(sb_hooks)) == calls  # neither the reads nor the health probe called


async def test_after_its_cooldown_the_breaker_probes_and_closes_by_itself_once_the_vendor_is_back(
    sb: Starlette, sb_hooks: httpx.AsyncClient
) -> None:
    async with resilient((SB_PROVIDER, sb), ResiliencePolicy(breaker_failures=3, breaker_cooldown=0.3)) as gateway:
        conversation = await create_conversation(gateway)
        await inject_fault(sb_hooks, **CONVERSATION_READS, status=500)
        with breaker_changes() as changes:
            await open_breaker(gateway, conversation)
            await clear_faults(sb_hooks)
            time.sleep(0.3)
            assert (await gateway.data(STATUS, {"id": conversation}))["conversation"]["status"] == "NEW"
        assert changes == ["sb:open", "sb:half_open", "sb:closed"]
        assert breaker_state(gateway, "sb") is BreakerState.CLOSED


async def test_a_probe_that_fails_opens_the_breaker_again_for_another_cooldown(sb: Starlette, sb_hooks: httpx.AsyncClient) -> None:
    async with resilient((SB_PROVIDER, sb), ResiliencePolicy(breaker_failures=3, breaker_cooldown=0.3)) as gateway:
        conversation = await create_conversation(gateway)
        await inject_fault(sb_hooks, **CONVERSATION_READS, status=503)
        await open_breaker(gateway, conversation)
        time.sleep(0.3)
        calls = len(await sandbox_requests(sb_hooks))
        with breaker_changes() as changes:
            [error] = (await gateway.execute(STATUS, {"id": conversation}))["errors"]  # the probe: one call, no retry
            assert len(await sandbox_requests(sb_hooks)) == calls + 1
            assert error["extensions"]["code"] == "PROVIDER_UNAVAILABLE" and "circuit breaker" not in error["message"]
            [error] = (await gateway.execute(STATUS, {"id": conversation}))["errors"]
        assert "circuit breaker" in error["message"] and len(await sandbox_requests(sb_hooks)) == calls + 1
        assert changes == ["sb:half_open", "sb:open"]


async def test_client_mistakes_and_refusals_by_the_vendor_never_open_the_breaker(sb: Starlette) -> None:
    async with resilient((SB_PROVIDER, sb), ResiliencePolicy(breaker_failures=2)) as gateway:
        for number in range(6):
            body = await gateway.execute(STATUS, {"id": global_id("Conversation", "sb", str(900000 + number))})
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert breaker_state(gateway, "sb") is BreakerState.CLOSED
        conversation = await create_conversation(gateway)
        assert (await gateway.data(STATUS, {"id": conversation}))["conversation"]["status"] == "NEW"


async def test_healthy_answers_within_a_second_from_a_slow_vendor_without_counting_it_a_failure(
    sb: Starlette, sb_hooks: httpx.AsyncClient
) -> None:
    async with resilient((SB_PROVIDER, sb), ResiliencePolicy(breaker_failures=1), timeout=10) as gateway:
        assert await gateway.data(HEALTH) == {"providers": [{"name": "sb", "healthy": True}]}
        await inject_fault(sb_hooks, latencyMs=3000)
        calls: list[str] = []
        unsubscribe = signals.subscribe(signals.VENDOR_CALL, lambda provider, method, result, _: calls.append(result))
        try:
            started = time.perf_counter()
            assert await gateway.data(HEALTH) == {"providers": [{"name": "sb", "healthy": False}]}
            assert 0.9 < time.perf_counter() - started < 1.5  # not the 10 s upstream timeout, nor the 3 s latency
        finally:
            unsubscribe()
        assert calls == ["deadline"]
        assert breaker_state(gateway, "sb") is BreakerState.CLOSED  # cut short by its own deadline: no verdict


async def test_with_every_call_failing_retries_stay_within_the_retry_budget() -> None:
    ib = infobip_app(demo_conversations=1)
    policy = ResiliencePolicy(breaker_failures=10**6, retry_budget=0.2, retry_min_per_second=0.5)  # 5 retries per 10 s beyond 20 %
    retries: list[tuple[str, bool]] = []
    calls: list[tuple[str, str, str]] = []
    unsubscribe = signals.subscribe(signals.RETRY, lambda provider, reason, made: retries.append((reason, made)))
    unsubscribe_calls = signals.subscribe(signals.VENDOR_CALL, lambda provider, method, result, _: calls.append((provider, method, result)))
    try:
        async with resilient((IB, ib), policy) as gateway, asgi_client(ib, IB_BASE) as hooks:
            conversation = global_id("Conversation", "ib", "no-such-conversation")
            await inject_fault(hooks, status=503, times=None)
            for _ in range(40):
                [error] = (await gateway.execute(IB_CONVERSATION, {"id": conversation}))["errors"]
                assert error["extensions"]["code"] == "PROVIDER_UNAVAILABLE"
            attempts = len(await sandbox_requests(hooks, "GET"))
    finally:
        unsubscribe()
        unsubscribe_calls()
    # 40 calls asked for: 3 attempts each would be 120; the budget allows 40 × 0.2 + 5 = 13 retries.
    assert attempts == 40 + 13
    assert retries.count(("status_5xx", True)) == 13
    assert set(retries) == {("status_5xx", True), ("status_5xx", False)}  # the others were left out, and reported
    assert calls[-attempts:] == [("ib", "GET", "503")] * attempts  # what the sandbox counted, each reported


# -- settings -------------------------------------------------------------------------------------


def test_the_defaults_are_those_documented() -> None:
    assert load_resilience({}, {}) == ResiliencePolicy(
        breaker_failures=5, breaker_window=10.0, breaker_cooldown=5.0, retry_budget=0.2, retry_min_per_second=3.0)


def test_settings_come_from_the_server_table_and_the_environment_wins(tmp_path) -> None:
    config = tmp_path / "parley.toml"
    config.write_text("[server]\nbreaker_failures = 8\nbreaker_window = 30\nbreaker_cooldown = 2.5\nretry_budget = 0.1\n")
    settings = load_settings({"PARLEY_CONFIG": str(config), "PARLEY_RETRY_MIN_PER_SECOND": "0", "PARLEY_BREAKER_FAILURES": "4"})
    assert settings.resilience == ResiliencePolicy(
        breaker_failures=4, breaker_window=30.0, breaker_cooldown=2.5, retry_budget=0.1, retry_min_per_second=0.0)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"breaker_failures": 0}, "PARLEY_BREAKER_FAILURES / server.breaker_failures: must be at least 1"),
        ({"breaker_failures": "many"}, "server.breaker_failures: expected a whole number, got 'many'"),
        ({"breaker_window": 0}, "server.breaker_window: must be more than 0"),
        ({"breaker_cooldown": "soon"}, "server.breaker_cooldown: expected seconds, got 'soon'"),
        ({"retry_budget": 1.5}, "server.retry_budget: expected a share between 0 and 1"),
        ({"retry_budget": True}, "server.retry_budget: expected a number, got True"),
        ({"retry_min_per_second": -1}, "server.retry_min_per_second: must not be negative"),
        ({"retry_min_per_second": "inf"}, "server.retry_min_per_second: expected a finite number, got 'inf'"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(server: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_resilience(server, {})
