"""`[migrations]`: where migration jobs, their progress and the id map are kept.

    [migrations]
    store_path = "./parley-migrations.sqlite"   # SQLite, created on first use (PARLEY_STORE_PATH)
    store_url = "postgresql://user@db/parley"   # instead: PostgreSQL shared by instances (PARLEY_STORE_URL)
    lease_seconds = 30                          # a job whose runner stops renewing is taken over after this
    concurrency = 64                            # conversations copied at once (PARLEY_MIGRATION_CONCURRENCY)

A relative `store_path` is relative to the configuration file's folder (the working directory
without one). `store_url` wins over `store_path`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .setting_values import SettingsError, seconds, whole

DEFAULT_STORE_PATH = "parley-migrations.sqlite"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_CONCURRENCY = 64  # conversations in flight, each making one vendor call at a time (at 20 ms a call, 32 left the job waiting on the vendors)
MAX_CONCURRENCY = 256
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


@dataclass(frozen=True)
class MigrationSettings:
    store_path: Path = Path(DEFAULT_STORE_PATH)
    store_url: str | None = None  # postgresql://…
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the store (asyncpg for PostgreSQL, Python's sqlite3 for the file)."""
        if self.store_url is not None:
            _, _, rest = self.store_url.partition("://")
            return f"postgresql+asyncpg://{rest}"
        return f"sqlite:///{self.store_path}"

    @property
    def shared(self) -> bool:
        """Several instances may share the store (PostgreSQL)."""
        return self.store_url is not None


def load_migration_settings(config: Mapping[str, Any], env: Mapping[str, str], base: Path) -> MigrationSettings:
    section = config.get("migrations", {})
    if not isinstance(section, dict):
        raise SettingsError("migrations: expected a table")
    known = ("store_path", "store_url", "lease_seconds", "concurrency")
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise SettingsError(f"migrations: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    path = _path("PARLEY_STORE_PATH / migrations.store_path", env.get("PARLEY_STORE_PATH") or section.get("store_path"), base)
    url = _url("PARLEY_STORE_URL / migrations.store_url", env.get("PARLEY_STORE_URL") or section.get("store_url"))
    lease = seconds(
        "PARLEY_LEASE_SECONDS / migrations.lease_seconds",
        env.get("PARLEY_LEASE_SECONDS") or section.get("lease_seconds") or DEFAULT_LEASE_SECONDS,
    )
    where = "PARLEY_MIGRATION_CONCURRENCY / migrations.concurrency"
    concurrency = whole(where, env.get("PARLEY_MIGRATION_CONCURRENCY") or section.get("concurrency") or DEFAULT_CONCURRENCY)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise SettingsError(f"{where}: expected 1 to {MAX_CONCURRENCY}, got {concurrency}")
    return MigrationSettings(store_path=path, store_url=url, lease_seconds=lease, concurrency=concurrency)


def _path(where: str, value: Any, base: Path) -> Path:
    if value is None or value == "":
        return base / DEFAULT_STORE_PATH
    if not isinstance(value, str):
        raise SettingsError(f"{where}: expected a file path, got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if path.exists() and path.is_dir():
        raise SettingsError(f"{where}: {str(path)!r} is a folder; name the SQLite file")
    if not path.parent.is_dir():
        raise SettingsError(f"{where}: the folder {str(path.parent)!r} does not exist")
    return path


def _url(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in POSTGRES_SCHEMES or not parts.hostname or not parts.path.strip("/"):
        shown = f"a {parts.scheme or 'schemeless'}:// URL" if parts is not None else repr(value)  # never the password
        raise SettingsError(f"{where}: expected postgresql://user[:password]@host[:port]/database, got {shown}")
    return value
