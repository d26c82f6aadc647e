"""`[server]` settings for running Parley in production: its log level and who may read its metrics.

    [server]
    log_level = "info"                    # debug, info, warning, error (PARLEY_LOG_LEVEL; `--log-level` wins)
    metrics_token_env = "METRICS_TOKEN"   # /metrics needs `Authorization: Bearer <token>` (PARLEY_METRICS_TOKEN)
    metrics_port = 9100                   # or: metrics on their own port, not on the main one (PARLEY_METRICS_PORT)

With neither metrics setting, `/metrics` answers loopback peers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .logs import DEFAULT_LEVEL, LEVELS
from .setting_values import SettingsError, from_env, port

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Operations:
    log_level: str = DEFAULT_LEVEL
    metrics_token: str | None = None  # a scrape must send it as a Bearer token
    metrics_port: int | None = None  # `parley serve` serves the metrics there instead of at /metrics


def load_operations(server: Mapping[str, Any], env: Mapping[str, str], *, main_port: int) -> Operations:
    return Operations(
        log_level=log_level("PARLEY_LOG_LEVEL / server.log_level", env.get("PARLEY_LOG_LEVEL") or server.get("log_level") or DEFAULT_LEVEL),
        **_metrics_access(server, env, main_port),
    )


def log_level(where: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LEVELS:
        raise SettingsError(f"{where}: expected one of {', '.join(LEVELS)}, got {value!r}")
    return value.lower()


def _metrics_access(server: Mapping[str, Any], env: Mapping[str, str], main_port: int) -> dict[str, Any]:
    token = env.get("PARLEY_METRICS_TOKEN") or None
    if token is None and server.get("metrics_token_env") is not None:
        token = from_env("server.metrics_token_env", server["metrics_token_env"], env)
    if "metrics_token" in server:
        raise SettingsError("server.metrics_token: keep the token in the environment and name it with metrics_token_env")
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(f"PARLEY_METRICS_TOKEN / server.metrics_token_env: the token must be at least {MIN_TOKEN_LENGTH} characters")
    raw_port = env.get("PARLEY_METRICS_PORT") or server.get("metrics_port")
    metrics_port = None if raw_port in (None, "") else port("PARLEY_METRICS_PORT / server.metrics_port", raw_port)
    if metrics_port == 0 or (metrics_port is not None and metrics_port == main_port):
        raise SettingsError(f"PARLEY_METRICS_PORT / server.metrics_port: {metrics_port} is not a port of its own (the main port is {main_port})")
    if token is not None and metrics_port is not None:
        raise SettingsError(
            "server.metrics_port and server.metrics_token_env: choose one; the metrics port is guarded by who can reach it, "
            "the token guards /metrics on the main port"
        )
    return {"metrics_token": token, "metrics_port": metrics_port}
