"""What the app's lifespan opens, reached by resolvers through the context and by the webhook
endpoint: the settings, the event bus, the providers, migrations and what must be closed with them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette

from providers import CircuitBreaker, Provider

from .auth import Authenticator
from .events import Bus
from .guard import Guard
from .pollers import Pollers
from .probes import ReadinessCheck
from .settings import Settings

if TYPE_CHECKING:
    from .migrate.handle import MigrationsHandle


@dataclass
class Runtime:
    """What the lifespan opens; resolvers reach it through the context."""

    settings: Settings
    bus: Bus
    providers: dict[str, Provider] = field(default_factory=dict)
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)  # each provider's, shared by all requests
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    sandboxes: dict[str, Starlette] = field(default_factory=dict)
    closables: list[httpx.AsyncClient] = field(default_factory=list)
    migrations: MigrationsHandle | None = None  # opened by the lifespan (gateway/migrate)
    guard: Guard | None = None  # the request limits (gateway/limits.py); None: none
    readiness_checks: list[ReadinessCheck] = field(default_factory=list)  # what /ready asks (gateway/probes.py)
    pollers: Pollers | None = None  # providers polled for changes (gateway/pollers.py), while the app runs
    authenticator: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.authenticator = Authenticator(self.settings.clients)
