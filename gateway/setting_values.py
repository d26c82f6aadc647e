"""Readers for single setting values: each returns the typed value or raises `SettingsError` naming
the setting and what it expected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    pass


def from_env(setting: str, variable: Any, env: Mapping[str, str]) -> str:
    if not isinstance(variable, str) or not variable:
        raise SettingsError(f"{setting}: expected the name of an environment variable")
    value = env.get(variable)
    if not value:
        raise SettingsError(f"{setting}: environment variable {variable} is not set")
    return value


def url(setting: str, value: Any) -> str:
    parts = urlsplit(str(value or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{setting}: expected an http(s) URL, got {value!r}")
    return str(value) if str(value).endswith("/") else f"{value}/"


def table(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{key}: expected a table")
    return value


def whole(setting: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{setting}: expected a whole number, got {value!r}") from None
    if number < 0:
        raise SettingsError(f"{setting}: must not be negative")
    return number


def port(setting: str, value: Any) -> int:
    number = whole(setting, value)
    if number > 65535:
        raise SettingsError(f"{setting}: expected a port number up to 65535, got {number}")
    return number


def seconds(setting: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{setting}: expected seconds, got {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{setting}: must be more than 0")
    return number


def boolean(setting: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{setting}: expected true or false, got {value!r}")
