"""The circuit breaker's state machine, the retry budget, full-jitter back-off and the call deadline, on
a clock the tests move by hand (the gateway-level behaviour is in test_resilience.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from providers import BreakerState, CircuitBreaker, CircuitOpenError, ResiliencePolicy, Resilient, deadline, signals
from providers._breaker import Outcome, outcome_of_status
from providers._deadline import remaining
from providers._http import send
from providers._retry import BACKOFF_BASE, MAX_BACKOFF, RetryBudget, backoff
from providers._window import Window

SUCCESS, FAILURE, NEUTRAL = Outcome.SUCCESS, Outcome.FAILURE, Outcome.NEUTRAL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> Iterator[list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []
    unsubscribe = signals.subscribe(signals.BREAKER_STATE, lambda provider, state: seen.append((provider, state)))
    yield seen
    unsubscribe()


def breaker(clock: Clock, failures: int = 3, window: float = 10, cooldown: float = 5) -> CircuitBreaker:
    return CircuitBreaker("acme", failures=failures, window=window, cooldown=cooldown, clock=clock)


def call(b: CircuitBreaker, outcome: Outcome) -> None:
    b.record(b.admit(), outcome)


def test_it_opens_after_the_failures_in_its_window_and_then_refuses_at_once_saying_when_to_retry(clock, changes) -> None:
    b = breaker(clock)
    call(b, FAILURE)
    call(b, FAILURE)
    assert b.state is BreakerState.CLOSED
    call(b, FAILURE)
    assert b.state is BreakerState.OPEN and changes == [("acme", "open")]
    clock.now += 1.2
    with pytest.raises(CircuitOpenError, match="paused after repeated failures") as refused:
        b.admit()
    assert refused.value.retry_after == 4 and refused.value.provider == "acme"  # 3.8 s left, rounded up
    assert b.refusing() and b.retry_after() == pytest.approx(3.8)


def test_failures_that_are_fewer_than_half_of_the_calls_do_not_open_it(clock) -> None:
    b = breaker(clock)
    for _ in range(4):
        call(b, SUCCESS)
    for _ in range(3):
        call(b, FAILURE)
    assert b.state is BreakerState.CLOSED  # 3 of 7
    call(b, FAILURE)
    assert b.state is BreakerState.OPEN  # 4 of 8


def test_failures_older_than_the_window_are_forgotten(clock) -> None:
    b = breaker(clock)
    call(b, FAILURE)
    call(b, FAILURE)
    clock.now += 11
    call(b, FAILURE)
    call(b, FAILURE)
    assert b.state is BreakerState.CLOSED
    call(b, FAILURE)
    assert b.state is BreakerState.OPEN


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_it(clock, changes) -> None:
    b = breaker(clock, failures=1)
    call(b, FAILURE)
    clock.now += 5
    assert b.admit() is True  # the probe
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError) as refused:
        b.admit()  # one probe at a time
    assert refused.value.retry_after == 5
    b.record(True, SUCCESS)
    assert b.state is BreakerState.CLOSED and not b.refusing()
    assert b.admit() is False
    assert [state for _, state in changes] == ["open", "half_open", "closed"]


def test_a_failed_probe_opens_it_for_another_cooldown(clock) -> None:
    b = breaker(clock, failures=1)
    call(b, FAILURE)
    clock.now += 6
    b.record(b.admit(), FAILURE)
    assert b.state is BreakerState.OPEN and b.retry_after() == 5
    clock.now += 4.9
    with pytest.raises(CircuitOpenError):
        b.admit()
    clock.now += 0.1
    assert b.admit() is True


def test_a_probe_that_says_nothing_of_the_vendor_lets_the_next_call_probe(clock) -> None:
    b = breaker(clock, failures=1)
    call(b, FAILURE)
    clock.now += 5
    b.record(b.admit(), NEUTRAL)  # cut by its request's deadline, or cancelled
    assert b.state is BreakerState.HALF_OPEN and not b.refusing()
    assert b.admit() is True


def test_a_closed_breaker_forgets_the_failures_that_opened_it(clock) -> None:
    b = breaker(clock, failures=2)
    call(b, FAILURE)
    call(b, FAILURE)
    clock.now += 5
    call(b, SUCCESS)
    call(b, FAILURE)
    assert b.state is BreakerState.CLOSED


def test_calls_admitted_before_it_opened_and_ending_after_change_nothing(clock) -> None:
    b = breaker(clock, failures=1)
    late = b.admit()
    call(b, FAILURE)
    b.record(late, SUCCESS)
    assert b.state is BreakerState.OPEN


def test_what_counts_as_a_failure() -> None:
    assert [outcome_of_status(s) for s in (200, 204, 400, 401, 404, 409, 429, 500, 501, 502, 503, 504)] == [
        SUCCESS, SUCCESS, SUCCESS, SUCCESS, SUCCESS, SUCCESS, NEUTRAL, FAILURE, SUCCESS, FAILURE, FAILURE, FAILURE]


def test_a_listener_that_raises_is_logged_and_the_breaker_goes_on(clock, caplog) -> None:
    def broken(provider: str, state: str) -> None:
        raise RuntimeError("metrics are down")

    unsubscribe = signals.subscribe(signals.BREAKER_STATE, broken)
    try:
        b = breaker(clock, failures=1)
        call(b, FAILURE)
    finally:
        unsubscribe()
    assert b.state is BreakerState.OPEN
    assert "a listener of a provider signal failed" in caplog.text
    assert broken not in signals.BREAKER_STATE


# -- the retry budget -------------------------------------------------------------------------------


def test_retries_are_a_share_of_the_calls_plus_a_minimum(clock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0.3, clock=clock)  # 3 per 10 s whatever the calls
    for _ in range(50):
        budget.deposit()
    made = sum(budget.withdraw() for _ in range(100))
    assert made == 10 + 3


def test_the_retry_budget_refills_as_its_window_slides(clock) -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.2, clock=clock)
    assert [budget.withdraw() for _ in range(3)] == [True, True, False]
    clock.now += 10
    assert budget.withdraw() is True


def test_a_window_counts_only_its_last_seconds(clock) -> None:
    window = Window(10, clock=clock)
    window.add(calls=2, marked=1)
    clock.now += 5
    window.add(calls=1)
    assert window.totals() == (3, 1)
    clock.now += 5.5
    assert window.totals() == (1, 0)


# -- back-off ---------------------------------------------------------------------------------------


def test_back_off_is_full_jitter_under_an_exponential_cap() -> None:
    for attempt, cap in ((1, 2 * BACKOFF_BASE), (2, 4 * BACKOFF_BASE), (10, MAX_BACKOFF)):
        waits = [backoff(attempt) for _ in range(400)]
        assert all(0 <= w <= cap for w in waits)
        assert min(waits) < cap / 10 and max(waits) > cap * 0.9  # spread over the whole range, not around a fixed wait


# -- the deadline -----------------------------------------------------------------------------------


async def test_a_deadline_reaches_the_tasks_a_request_starts_and_an_inner_one_only_shortens_it() -> None:
    assert remaining() is None
    with deadline(2.0):
        with deadline(5.0):
            left = await asyncio.create_task(asyncio.sleep(0, result=remaining()))
            assert left is not None and 1.9 < left <= 2.0
        with deadline(0.5):
            left = remaining()
            assert left is not None and left <= 0.5
    assert remaining() is None


def test_the_time_left_goes_below_zero_once_it_passed() -> None:
    with deadline(0.01):
        time.sleep(0.02)
        left = remaining()
        assert left is not None and left < 0


# -- through _http.send ---------------------------------------------------------------------------


async def test_calls_an_open_breaker_refuses_earn_no_retries(clock) -> None:
    answers = iter([200] + [503] * 10)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(next(answers))), base_url="http://v/") as http:
        policy = ResiliencePolicy(breaker_failures=1, breaker_cooldown=60, retry_budget=0.5, retry_min_per_second=0)
        wire = Resilient(http, provider="acme", policy=policy, clock=clock)
        assert (await send(wire, wire.build_request("GET", "a"), provider="acme", idempotent=True)).status_code == 200
        assert (await send(wire, wire.build_request("GET", "a"), provider="acme", idempotent=True)).status_code == 503
        assert wire.breaker.state is BreakerState.OPEN  # and so the 503 was not retried
        for _ in range(20):
            with pytest.raises(CircuitOpenError):
                await send(wire, wire.build_request("GET", "a"), provider="acme", idempotent=True)
    assert [wire.retries.withdraw() for _ in range(3)] == [True, False, False]  # half of the 2 calls made


async def test_a_retry_that_would_end_past_the_request_s_deadline_is_not_made() -> None:
    seen: list[int] = []
    statuses = iter([429, 429, 200])

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(status := next(statuses))
        return httpx.Response(status, headers={"Retry-After": "0.6"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor), base_url="http://v/") as http:
        wire = Resilient(http, provider="acme", policy=ResiliencePolicy())
        with deadline(0.5):
            started = time.perf_counter()
            response = await send(wire, wire.build_request("GET", "a"), provider="acme", idempotent=True)
            assert response.status_code == 429 and len(seen) == 1 and time.perf_counter() - started < 0.1
        response = await send(wire, wire.build_request("GET", "a"), provider="acme", idempotent=True)  # no deadline: waited out
        assert response.status_code == 200 and len(seen) == 3
