"""`[clients.<name>]`: who may call Parley, how they prove it, and what they may touch.

    [clients.console]
    api_key_env = "CONSOLE_KEY"        # the key itself only in the environment
    scopes = ["read", "write", "subscribe"]
    providers = ["support-ib"]         # all providers when omitted

    [clients.widget]
    jwt_secret_env = "WIDGET_JWT_SECRET"          # HS256; or jwt_public_key_file (RS256/ES256 PEM),
    issuer = "https://auth.example.com/"          # or jwks_file (a JSON Web Key Set)
    audience = "parley"
    leeway_seconds = 30
    scopes = ["read", "subscribe"]
    trusted_documents_only = true                 # only documents of [server] trusted_documents

A client has exactly one kind of credential. Every value is checked here, at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .setting_values import SettingsError, boolean, from_env, seconds

SCOPES = ("read", "write", "subscribe", "migrate")  # as gateway/auth.py
CREDENTIAL_KEYS = ("api_key_env", "jwt_secret_env", "jwt_public_key_file", "jwks_file")
CLIENT_KEYS = frozenset(
    {*CREDENTIAL_KEYS, "issuer", "audience", "leeway_seconds", "scopes", "providers", "trusted_documents_only"}
)
DEFAULT_LEEWAY_SECONDS = 30.0


@dataclass(frozen=True)
class ClientSettings:
    name: str
    scopes: frozenset[str]
    providers: frozenset[str] | None = None  # None: every provider
    api_key: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None  # PEM
    jwks: Mapping[str, Any] | None = None  # a JSON Web Key Set
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = DEFAULT_LEEWAY_SECONDS
    trusted_documents_only: bool = False

    @property
    def uses_jwt(self) -> bool:
        return self.api_key is None


def load_clients(config: Mapping[str, Any], env: Mapping[str, str], base: Path) -> tuple[ClientSettings, ...]:
    """Every `[clients.<name>]` table; relative file paths are read from `base` (the config's folder)."""
    clients = config.get("clients", {})
    if not isinstance(clients, dict):
        raise SettingsError("clients: expected a table of [clients.<name>] tables")
    loaded = tuple(_client(name, entry, env, base) for name, entry in clients.items())
    owners: dict[str, str] = {}
    for client in loaded:
        if client.api_key is not None:
            if client.api_key in owners:
                raise SettingsError(f"clients.{client.name}.api_key_env: the same API key as clients.{owners[client.api_key]}; give each client its own")
            owners[client.api_key] = client.name
    return loaded


def _client(name: str, entry: Any, env: Mapping[str, str], base: Path) -> ClientSettings:
    where = f"clients.{name}"
    if not isinstance(entry, dict):
        raise SettingsError(f"{where}: expected a table")
    unknown = sorted(set(entry) - CLIENT_KEYS)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(CLIENT_KEYS))}")
    given = [key for key in CREDENTIAL_KEYS if key in entry]
    if len(given) != 1:
        raise SettingsError(f"{where}: give exactly one of {', '.join(CREDENTIAL_KEYS)} (got {', '.join(given) or 'none'})")
    kind = given[0]
    credential: dict[str, Any] = {}
    if kind != "api_key_env":  # PyJWT and cryptography load only where a client signs in with a JWT
        from .jwt_keys import key_set, public_key, secret_key
    if kind == "api_key_env":
        credential["api_key"] = from_env(f"{where}.api_key_env", entry[kind], env)
    elif kind == "jwt_secret_env":
        credential["jwt_secret"] = from_env(f"{where}.jwt_secret_env", entry[kind], env)
        secret_key(f"{where}.jwt_secret_env", credential["jwt_secret"])
    elif kind == "jwt_public_key_file":
        credential["jwt_public_key"] = _read(f"{where}.jwt_public_key_file", entry[kind], base)
        public_key(f"{where}.jwt_public_key_file", credential["jwt_public_key"])
    else:
        try:
            jwks = json.loads(_read(f"{where}.jwks_file", entry[kind], base))
        except ValueError as exc:
            raise SettingsError(f"{where}.jwks_file: not JSON ({exc})") from None
        key_set(f"{where}.jwks_file", jwks)
        credential["jwks"] = jwks
    if kind == "api_key_env" and any(key in entry for key in ("issuer", "audience", "leeway_seconds")):
        raise SettingsError(f"{where}: issuer, audience and leeway_seconds are for JWT clients, not API keys")
    return ClientSettings(
        name=name,
        scopes=_scopes(f"{where}.scopes", entry.get("scopes")),
        providers=_names(f"{where}.providers", entry["providers"]) if "providers" in entry else None,
        issuer=_text(f"{where}.issuer", entry.get("issuer")),
        audience=_text(f"{where}.audience", entry.get("audience")),
        leeway_seconds=_leeway(f"{where}.leeway_seconds", entry.get("leeway_seconds", DEFAULT_LEEWAY_SECONDS)),
        trusted_documents_only=boolean(f"{where}.trusted_documents_only", entry.get("trusted_documents_only", False)),
        **credential,
    )


def _scopes(where: str, value: Any) -> frozenset[str]:
    if value is None:
        raise SettingsError(f"{where}: required, a list of {', '.join(SCOPES)}")
    names = _names(where, value)
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise SettingsError(f"{where}: unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(SCOPES)}")
    return names


def _names(where: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SettingsError(f"{where}: expected a list of names")
    return frozenset(value)


def _leeway(where: str, value: Any) -> float:
    return 0.0 if value == 0 else seconds(where, value)


def _text(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: expected a non-empty string")
    return value


def _read(where: str, value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: expected a file path")
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: cannot read {str(path)!r} ({exc.__class__.__name__})") from None
