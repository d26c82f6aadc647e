"""`[server]` settings of each provider's circuit breaker and retry budget, and their defaults.

    [server]
    breaker_failures = 5        # failures (connection errors, timeouts, 5xx) within the window that open
                                # a provider's breaker, when they are also at least half of its calls
    breaker_window = 10         # seconds over which the breaker counts calls and failures
    breaker_cooldown = 5        # seconds an open breaker refuses calls before one probe call goes through
    retry_budget = 0.2          # retries to a provider as a share of the calls asked of it (10 s window)
    retry_min_per_second = 3    # retries to a provider allowed whatever the share (0: none beyond it)

Each has a PARLEY_<KEY> environment variable too (PARLEY_BREAKER_FAILURES, …). What each number does
is in `providers/_breaker.py` and `providers/_retry.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from providers.resilience import ResiliencePolicy

from .setting_values import SettingsError, seconds, whole


def load_resilience(server: Mapping[str, Any], env: Mapping[str, str]) -> ResiliencePolicy:
    defaults = ResiliencePolicy()

    def value(key: str) -> tuple[str, Any]:
        variable = f"PARLEY_{key.upper()}"
        return f"{variable} / server.{key}", env.get(variable, server.get(key, getattr(defaults, key)))

    failures = whole(*value("breaker_failures"))
    if failures < 1:
        raise SettingsError(f"{value('breaker_failures')[0]}: must be at least 1")
    return ResiliencePolicy(
        breaker_failures=failures,
        breaker_window=seconds(*value("breaker_window")),
        breaker_cooldown=seconds(*value("breaker_cooldown")),
        retry_budget=_share(*value("retry_budget")),
        retry_min_per_second=_rate(*value("retry_min_per_second")),
    )


def _share(where: str, raw: Any) -> float:
    number = _number(where, raw)
    if not 0 <= number <= 1:
        raise SettingsError(f"{where}: expected a share between 0 and 1 (0.2: retries add at most 20 %), got {raw!r}")
    return number


def _rate(where: str, raw: Any) -> float:
    number = _number(where, raw)
    if number < 0:
        raise SettingsError(f"{where}: must not be negative")
    return number


def _number(where: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise SettingsError(f"{where}: expected a number, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: expected a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise SettingsError(f"{where}: expected a finite number, got {raw!r}")
    return number
