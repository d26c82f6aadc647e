"""A provider's protection against a failing vendor: its circuit breaker and its retry budget, carried by
the transport its adapter sends through (`Resilient`), so every vendor's calls get them from
`_http.send` without the adapters knowing.

Whoever builds providers (the gateway's lifespan) wraps each provider's client once, so all requests
of an instance share one breaker and one budget per provider; `breaker` is there for whoever reports
on it (readiness, metrics). A provider built on a bare client has neither (the adapters' own tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ._breaker import CircuitBreaker
from ._retry import RetryBudget
from ._wire import Client, Response, WireRequest, transport

DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_WINDOW = 10.0
DEFAULT_BREAKER_COOLDOWN = 5.0
DEFAULT_RETRY_BUDGET = 0.2
DEFAULT_RETRY_MIN_PER_SECOND = 3.0


@dataclass(frozen=True)
class ResiliencePolicy:
    """The numbers of `_breaker` and `_retry` (their module docstrings say what each does)."""

    breaker_failures: int = DEFAULT_BREAKER_FAILURES  # failures within the window that open the breaker
    breaker_window: float = DEFAULT_BREAKER_WINDOW  # seconds over which failures are counted
    breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN  # seconds open before one probe call goes through
    retry_budget: float = DEFAULT_RETRY_BUDGET  # retries as a share of the calls asked for
    retry_min_per_second: float = DEFAULT_RETRY_MIN_PER_SECOND  # retries allowed whatever the share


class Resilient:
    """`http` as a `Transport` that carries `provider`'s breaker and retry budget."""

    def __init__(
        self, http: Client, *, provider: str, policy: ResiliencePolicy, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wire = transport(http)
        self.breaker = CircuitBreaker(
            provider, failures=policy.breaker_failures, window=policy.breaker_window, cooldown=policy.breaker_cooldown, clock=clock,
        )
        self.retries = RetryBudget(ratio=policy.retry_budget, min_per_second=policy.retry_min_per_second, clock=clock)

    @property
    def base_url(self) -> str:
        return self._wire.base_url

    @property
    def timeout(self) -> httpx.Timeout:
        return self._wire.timeout

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> WireRequest:
        return self._wire.build_request(method, url, params=params, json=json, headers=headers, data=data)

    async def send(self, request: WireRequest) -> Response:
        return await self._wire.send(request)

    def may_retry(self) -> bool:
        """A retry now: not while the breaker refuses calls, and only within the budget (which it spends)."""
        return not self.breaker.refusing() and self.retries.withdraw()
