"""Typed settings from `PARLEY_*` environment variables and an optional `parley.toml`.

This is the only module that reads the environment. A bad setting fails at start with a
`SettingsError` naming it.

    [server]            host, port, graphiql, upstream_timeout, bus_url (redis://…: the event bus
                        shared by every instance and worker; without it, each process has its own);
                        log_level, metrics_token_env, metrics_port (operation_settings.py)
    [providers.<name>]  vendor, base_url, webhook_secret_env, poll_interval (gateway.pollers), and the
                        vendor's own options; an option `<x>_env = "VAR"` reads option `<x>` from
                        environment variable VAR
    [embedded]          demo_conversations (used when no provider is configured)
    limits and resilience are `[server]` keys too: see limit_settings.py and resilience_settings.py
    [migrations]        store_path, store_url, lease_seconds (see migration_settings.py)

Environment: PARLEY_CONFIG (path, default ./parley.toml when present), PARLEY_HOST, PARLEY_PORT,
PARLEY_GRAPHIQL, PARLEY_DEMO_CONVERSATIONS, PARLEY_UPSTREAM_TIMEOUT, PARLEY_BUS_URL, and for one account per vendor without
a file: PARLEY_<VENDOR>_BASE_URL plus PARLEY_<VENDOR>_<OPTION> for the vendor's options (e.g.
PARLEY_INFOBIP_API_KEY, PARLEY_CLEVERTAP_ACCOUNT_ID), PARLEY_<VENDOR>_WEBHOOK_SECRET and
PARLEY_<VENDOR>_POLL_INTERVAL; the provider is named after the vendor. Infobip's `senders` in the
environment is `CHANNEL=address,CHANNEL=address`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strawberry.http.websocket_origin import normalize_origin

from providers.registry import OPTION_TYPES, VENDOR_OPTIONS
from providers.resilience import ResiliencePolicy
from sandboxes import sandbox_names

from .client_settings import ClientSettings, load_clients
from .limit_settings import Limits, load_limits
from .resilience_settings import load_resilience
from .logs import redact
from .operation_settings import Operations, load_operations
from .migration_settings import MigrationSettings, load_migration_settings
from .pollers import read_poll_interval
from .setting_values import SettingsError, boolean, from_env, port, seconds, table, url, whole

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DEMO_CONVERSATIONS = 36
DEFAULT_UPSTREAM_TIMEOUT = 10.0
BUS_SCHEMES = ("redis", "rediss", "unix")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    vendor: str
    base_url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    webhook_secret: str | None = None
    poll_interval: float | None = None  # seconds between polls (gateway.pollers); None: not polled


@dataclass(frozen=True)
class Settings:
    providers: tuple[ProviderSettings, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    graphiql: bool | None = None  # None: on in the embedded default only
    introspection: bool | None = None  # None: on in the embedded default only
    demo_conversations: int = DEFAULT_DEMO_CONVERSATIONS
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    bus_url: str | None = None
    clients: tuple[ClientSettings, ...] = ()
    allow_anonymous: bool = False
    cors_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    resilience: ResiliencePolicy = field(default_factory=ResiliencePolicy)  # breakers and retry budgets
    trusted_documents: Mapping[str, str] | None = None  # sha256 hex -> document
    operations: Operations = field(default_factory=Operations)  # log level, who may read the metrics
    migrations: MigrationSettings = field(default_factory=MigrationSettings)  # the jobs' store

    @property
    def embedded(self) -> bool:
        """No provider configured: run each vendor's sandbox in-process, seeded with demo data."""
        return not self.providers

    @property
    def graphiql_on(self) -> bool:
        return self.embedded if self.graphiql is None else self.graphiql

    @property
    def introspection_on(self) -> bool:
        return self.embedded if self.introspection is None else self.introspection

    @property
    def anonymous(self) -> bool:
        """Requests without credentials are served (no clients configured)."""
        return not self.clients


def check_exposure(settings: Settings, host: str) -> None:
    """Refuses to serve anonymously on an address other machines can reach, unless asked to."""
    if settings.clients or settings.allow_anonymous or is_loopback(host):
        return
    raise SettingsError(
        f"server.host {host!r} is reachable from other machines and no [clients.<name>] is configured: "
        "configure clients, bind 127.0.0.1, or set server.allow_anonymous = true (PARLEY_ALLOW_ANONYMOUS=1) on purpose"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    config = _read_toml(env)
    server = table(config, "server")
    providers = [_provider(name, entry, env) for name, entry in table(config, "providers").items()]
    providers.extend(_from_environment(vendor, env) for vendor in VENDOR_OPTIONS if env.get(_var(vendor, "base_url")))
    names = [p.name for p in providers]
    if len(names) != len(set(names)):
        raise SettingsError(f"providers: duplicate provider names in {names}")
    config_dir = _config_path(env).parent
    clients = load_clients(config, env, config_dir)
    _check_client_providers(clients, [p.name for p in providers] or list(sandbox_names()))
    main_port = port("PARLEY_PORT / server.port", env.get("PARLEY_PORT") or server.get("port") or DEFAULT_PORT)
    settings = Settings(
        providers=tuple(providers),
        host=str(env.get("PARLEY_HOST") or server.get("host") or DEFAULT_HOST),
        port=main_port,
        graphiql=_optional_bool("PARLEY_GRAPHIQL / server.graphiql", env.get("PARLEY_GRAPHIQL", server.get("graphiql"))),
        introspection=_optional_bool(
            "PARLEY_INTROSPECTION / server.introspection", env.get("PARLEY_INTROSPECTION", server.get("introspection"))
        ),
        upstream_timeout=seconds(
            "PARLEY_UPSTREAM_TIMEOUT / server.upstream_timeout",
            env.get("PARLEY_UPSTREAM_TIMEOUT") or server.get("upstream_timeout") or DEFAULT_UPSTREAM_TIMEOUT,
        ),
        bus_url=_bus_url("PARLEY_BUS_URL / server.bus_url", env.get("PARLEY_BUS_URL") or server.get("bus_url")),
        demo_conversations=whole(
            "PARLEY_DEMO_CONVERSATIONS / embedded.demo_conversations",
            env.get("PARLEY_DEMO_CONVERSATIONS")
            or table(config, "embedded").get("demo_conversations", DEFAULT_DEMO_CONVERSATIONS),
        ),
        clients=clients,
        allow_anonymous=boolean(
            "PARLEY_ALLOW_ANONYMOUS / server.allow_anonymous", env.get("PARLEY_ALLOW_ANONYMOUS", server.get("allow_anonymous", False))
        ),
        cors_origins=_origins("server.cors_origins", server.get("cors_origins", []), clients),
        limits=load_limits(server, env),
        resilience=load_resilience(server, env),
        trusted_documents=_manifest("server.trusted_documents", server.get("trusted_documents"), config_dir),
        operations=load_operations(server, env, main_port=main_port),
        migrations=load_migration_settings(config, env, config_dir),
    )
    check_exposure(settings, settings.host)
    _check_trusted_only(settings)
    return settings


def _check_trusted_only(settings: Settings) -> None:
    """A client limited to trusted documents needs a manifest to take them from."""
    limited = [c.name for c in settings.clients if c.trusted_documents_only]
    if limited and not settings.trusted_documents:
        raise SettingsError(
            f"clients.{limited[0]}.trusted_documents_only: server.trusted_documents names no manifest, so this client could run nothing"
        )


def _check_client_providers(clients: tuple[ClientSettings, ...], known: list[str]) -> None:
    for client in clients:
        unknown = sorted((client.providers or frozenset()) - set(known))
        if unknown:
            raise SettingsError(f"clients.{client.name}.providers: unknown provider(s) {', '.join(unknown)}; providers: {', '.join(known)}")


def _optional_bool(where: str, value: Any) -> bool | None:
    return None if value is None or value == "" else boolean(where, value)


def _origins(where: str, value: Any, clients: tuple[ClientSettings, ...]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SettingsError(f"{where}: expected a list of origins like \"https://console.example.com\" or [\"*\"]")
    origins = [origin if origin == "*" else _origin(where, origin) for origin in value]
    if "*" in origins and clients:
        raise SettingsError(f"{where}: \"*\" is only for a gateway without clients; browsers send credentials, list their origins")
    return tuple(dict.fromkeys(origins))


def _origin(where: str, origin: str) -> str:
    """`origin` as browsers send it in `Origin` (lowercase, no default port), which is what CORS compares."""
    parts = urlsplit(origin)
    normal = normalize_origin(origin)
    if parts.scheme not in ("http", "https") or normal is None or parts.path or parts.query or parts.fragment or parts.username:
        raise SettingsError(f"{where}: {origin!r} is not an origin (scheme://host[:port], no path)")
    return normal


def _manifest(where: str, value: Any, base: Path) -> Mapping[str, str] | None:
    """A trusted-documents manifest: a JSON object of sha256 hex digest -> document."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: expected the path of a JSON manifest")
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SettingsError(f"{where}: cannot read {str(path)!r} as JSON ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()):
        raise SettingsError(f"{where}: expected a JSON object of sha256 hex digests to documents")
    for digest, document in manifest.items():
        if hashlib.sha256(document.encode()).hexdigest() != digest.lower():
            raise SettingsError(f"{where}: the document under {digest[:16]}… does not hash to its key")
    return {k.lower(): v for k, v in manifest.items()}


def _bus_url(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in BUS_SCHEMES:
        raise SettingsError(f"{where}: expected a Redis URL ({', '.join(s + '://' for s in BUS_SCHEMES)}), got {redact(repr(value))}")
    return value


def _config_path(env: Mapping[str, str]) -> Path:
    return Path(env["PARLEY_CONFIG"]) if env.get("PARLEY_CONFIG") else Path("parley.toml")


def _read_toml(env: Mapping[str, str]) -> dict[str, Any]:
    path = _config_path(env)
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
    base_url = url(f"{where}.base_url", table.get("base_url"))
    options: dict[str, Any] = {}
    secret: str | None = None
    for key, value in table.items():
        if key in ("vendor", "base_url"):
            continue
        if key.endswith("_env"):
            value = from_env(f"{where}.{key}", value, env)
            key = key.removesuffix("_env")
        if key == "webhook_secret":
            secret = str(value)
        else:
            options[key] = value
    interval = read_poll_interval(f"{where}.poll_interval", options.pop("poll_interval", None), webhooks=secret is not None)
    return ProviderSettings(name, vendor, base_url, _check_options(where, vendor, options), secret, interval)


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
    base_url = url(_var(vendor, "base_url"), env[_var(vendor, "base_url")])
    where = f"environment PARLEY_{vendor.upper()}_*"
    secret = env.get(_var(vendor, "webhook_secret")) or None
    interval = read_poll_interval(_var(vendor, "poll_interval"), env.get(_var(vendor, "poll_interval")), webhooks=secret is not None)
    return ProviderSettings(vendor, vendor, base_url, _check_options(where, vendor, options), secret, interval)


def _from_text(setting: str, key: str, text: str) -> Any:
    kind = OPTION_TYPES.get(key, str)
    if kind is bool:
        return boolean(setting, text)
    if kind is int:
        return whole(setting, text)
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
