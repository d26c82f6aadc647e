"""The gateway's handle on migrations. It imports the migration service (SQLAlchemy, the engine) only
when a store is first used, so a gateway that never migrates does not carry them: about 30 MiB of
a `parley serve` process's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from providers import Provider

from ..migration_settings import MigrationSettings

if TYPE_CHECKING:
    from .service import MigrationService


class MigrationsHandle:
    """The gateway's migration service, opened when first needed: a SQLite store is created on first
    use, not by every start. With a shared store (PostgreSQL), or a SQLite file from an earlier run,
    `start` opens it at once to take over jobs whose runner died."""

    def __init__(self, settings: MigrationSettings, providers: Mapping[str, Provider]) -> None:
        self.settings, self.providers = settings, providers
        self._service: MigrationService | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self.settings.shared or self.settings.store_path.exists():
            await self.service()

    async def service(self) -> MigrationService:
        async with self._lock:
            if self._service is None:
                from .service import MigrationService  # SQLAlchemy and the engine: loaded only once a store is used

                self._service = await MigrationService.open(self.settings, self.providers, takeover=True)
            return self._service

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
            self._service = None
