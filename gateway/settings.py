"""Typed settings from `PARLEY_*` environment variables and an optional `parley.toml`.

This is the only module that reads the environment. A bad setting fails at start with a
`SettingsError` naming it.

    [server]            host, port, graphiql, upstream_timeout, bus_url (redis://…: the event bus
                        shared by every instance and worker; without it, each process has its own)
    [providers.<name>]  vendor, base_url, webhook_secret_env, and the vendor's own options;
                        an option `<x>_env = "VAR"` reads option `<x>` from environment variable VAR
    [embedded]          demo_conversations (used when no provider is configured)

Environment: PARLEY_CONFIG (path, default ./parley.toml when present), PARLEY_HOST, PARLEY_PORT,
PARLEY_GRAPHIQL, PARLEY_DEMO_CONVERSATIONS, PARLEY_UPSTREAM_TIMEOUT, PARLEY_BUS_URL, and for one account per vendor without
a file: PARLEY_<VENDOR>_BASE_URL plus PARLEY_<VENDOR>_<OPTION> for the vendor's options (e.g.
PARLEY_INFOBIP_API_KEY, PARLEY_CLEVERTAP_ACCOUNT_ID) and PARLEY_<VENDOR>_WEBHOOK_SECRET; the provider is
named after the vendor. Infobip's `senders` in the environment is `CHANNEL=address,CHANNEL=address`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from providers.registry import OPTION_TYPES, VENDOR_OPTIONS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DEMO_CONVERSATIONS = 36
DEFAULT_UPSTREAM_TIMEOUT = 10.0
BUS_SCHEMES = ("redis", "rediss", "unix")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    vendor: str
    base_url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    webhook_secret: str | None = None


@dataclass(frozen=True)
class Settings:
    providers: tuple[ProviderSettings, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    graphiql: bool = True
    demo_conversations: int = DEFAULT_DEMO_CONVERSATIONS
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    bus_url: str | None = None

    @property
    def embedded(self) -> bool:
        """No provider configured: run each vendor's sandbox in-process, seeded with demo data."""
        return not self.providers


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    config = _read_toml(env)
    server = _table(config, "server")
    providers = [_provider(name, table, env) for name, table in _table(config, "providers").items()]
    providers.extend(_from_environment(vendor, env) for vendor in VENDOR_OPTIONS if env.get(_var(vendor, "base_url")))
    names = [p.name for p in providers]
    if len(names) != len(set(names)):
        raise SettingsError(f"providers: duplicate provider names in {names}")
    return Settings(
        providers=tuple(providers),
        host=str(env.get("PARLEY_HOST") or server.get("host") or DEFAULT_HOST),
        port=_port("PARLEY_PORT / server.port", env.get("PARLEY_PORT") or server.get("port") or DEFAULT_PORT),
        graphiql=_bool("PARLEY_GRAPHIQL / server.graphiql", env.get("PARLEY_GRAPHIQL", server.get("graphiql", True))),
        upstream_timeout=_seconds(
            "PARLEY_UPSTREAM_TIMEOUT / server.upstream_timeout",
            env.get("PARLEY_UPSTREAM_TIMEOUT") or server.get("upstream_timeout") or DEFAULT_UPSTREAM_TIMEOUT,
        ),
        bus_url=_bus_url("PARLEY_BUS_URL / server.bus_url", env.get("PARLEY_BUS_URL") or server.get("bus_url")),
        demo_conversations=_int(
            "PARLEY_DEMO_CONVERSATIONS / embedded.demo_conversations",
            env.get("PARLEY_DEMO_CONVERSATIONS")
            or _table(config, "embedded").get("demo_conversations", DEFAULT_DEMO_CONVERSATIONS),
        ),
    )


def _bus_url(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in BUS_SCHEMES:
        raise SettingsError(f"{where}: expected a Redis URL ({', '.join(s + '://' for s in BUS_SCHEMES)}), got {value!r}")
    return value


def _read_toml(env: Mapping[str, str]) -> dict[str, Any]:
    path = Path(env["PARLEY_CONFIG"]) if env.get("PARLEY_CONFIG") else Path("parley.toml")
    if not path.exists():
        if env.get("PARLEY_CONFIG"):
            raise SettingsError(f"PARLEY_CONFIG: no such file {str(path)!r}")
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the configuration ({exc})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc


def _provider(name: str, table: Any, env: Mapping[str, str]) -> ProviderSettings:
    where = f"providers.{name}"
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: expected a table")
    if not NAME_PATTERN.match(name):
        raise SettingsError(f"{where}: provider names are lowercase letters, digits, '-' and '_'")
    vendor = table.get("vendor")
    if vendor not in VENDOR_OPTIONS:
        raise SettingsError(f"{where}.vendor: expected one of {', '.join(VENDOR_OPTIONS)}, got {vendor!r}")
    base_url = _url(f"{where}.base_url", table.get("base_url"))
    options: dict[str, Any] = {}
    secret: str | None = None
    for key, value in table.items():
        if key in ("vendor", "base_url"):
            continue
        if key.endswith("_env"):
            value = _from_env(f"{where}.{key}", value, env)
            key = key.removesuffix("_env")
        if key == "webhook_secret":
            secret = str(value)
        else:
            options[key] = value
    return ProviderSettings(name, vendor, base_url, _check_options(where, vendor, options), secret)


def _var(vendor: str, option: str) -> str:
    return f"PARLEY_{vendor.upper()}_{option.upper()}"


def _from_environment(vendor: str, env: Mapping[str, str]) -> ProviderSettings:
    required, optional = VENDOR_OPTIONS[vendor]
    options: dict[str, Any] = {}
    for key in required:
        if not env.get(_var(vendor, key)):
            raise SettingsError(f"{_var(vendor, key)}: required when {_var(vendor, 'base_url')} is set")
        options[key] = env[_var(vendor, key)]
    for key in optional:
        if env.get(_var(vendor, key)):
            options[key] = _from_text(_var(vendor, key), key, env[_var(vendor, key)])
    base_url = _url(_var(vendor, "base_url"), env[_var(vendor, "base_url")])
    where = f"environment PARLEY_{vendor.upper()}_*"
    return ProviderSettings(vendor, vendor, base_url, _check_options(where, vendor, options),
                            env.get(_var(vendor, "webhook_secret")) or None)


def _from_text(setting: str, key: str, text: str) -> Any:
    kind = OPTION_TYPES.get(key, str)
    if kind is bool:
        return _bool(setting, text)
    if kind is int:
        return _int(setting, text)
    if kind is dict:
        pairs = [item.partition("=") for item in text.split(",") if item.strip()]
        if any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
            raise SettingsError(f"{setting}: expected KEY=value pairs separated by commas, got {text!r}")
        return {k.strip(): v.strip() for k, _, v in pairs}
    return text


def _check_options(where: str, vendor: str, options: dict[str, Any]) -> dict[str, Any]:
    required, optional = VENDOR_OPTIONS[vendor]
    missing = [k for k in required if not options.get(k)]
    if missing:
        raise SettingsError(f"{where}: missing {', '.join(missing)} (or {missing[0]}_env naming an environment variable)")
    unknown = sorted(set(options) - set(required) - set(optional))
    if unknown:
        raise SettingsError(f"{where}: unknown option(s) {', '.join(unknown)} for vendor {vendor}")
    for key, value in options.items():
        kind = OPTION_TYPES.get(key, str)
        wrong = isinstance(value, bool) and kind is not bool
        if wrong or not isinstance(value, kind):
            raise SettingsError(f"{where}.{key}: expected {_KIND_NAMES[kind]}, got {type(value).__name__}")
        if isinstance(value, dict) and not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
            raise SettingsError(f"{where}.{key}: expected a table of names to non-empty strings")
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise SettingsError(f"{where}.{key}: must be at least 1")
    return options


_KIND_NAMES = {str: "a string", bool: "true or false", int: "a whole number", dict: "a table"}


def _from_env(setting: str, variable: Any, env: Mapping[str, str]) -> str:
    if not isinstance(variable, str) or not variable:
        raise SettingsError(f"{setting}: expected the name of an environment variable")
    value = env.get(variable)
    if not value:
        raise SettingsError(f"{setting}: environment variable {variable} is not set")
    return value


def _url(setting: str, value: Any) -> str:
    parts = urlsplit(str(value or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{setting}: expected an http(s) URL, got {value!r}")
    return str(value) if str(value).endswith("/") else f"{value}/"


def _table(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{key}: expected a table")
    return value


def _int(setting: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{setting}: expected a whole number, got {value!r}") from None
    if number < 0:
        raise SettingsError(f"{setting}: must not be negative")
    return number


def _port(setting: str, value: Any) -> int:
    number = _int(setting, value)
    if number > 65535:
        raise SettingsError(f"{setting}: expected a port number up to 65535, got {number}")
    return number


def _seconds(setting: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{setting}: expected seconds, got {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{setting}: must be more than 0")
    return number


def _bool(setting: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{setting}: expected true or false, got {value!r}")
