"""The `Principal` a request acts as and what makes one, apart from `auth.Authenticator`: so that
`jwt_auth` (imported by `auth` only when a client signs in with a JWT) needs nothing from `auth`, and
the two import no circle. `auth` re-exports every name here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCOPES = frozenset({"read", "write", "subscribe", "migrate"})


@dataclass(frozen=True)
class Principal:
    """`client` is the `[clients.<name>]` name, None for an anonymous caller (no clients configured);
    `providers` None means every provider."""

    client: str | None
    scopes: frozenset[str]
    providers: frozenset[str] | None = None

    def may_touch(self, provider: str) -> bool:
        return self.providers is None or provider in self.providers


ANONYMOUS = Principal(client=None, scopes=SCOPES)
NOBODY = Principal(client=None, scopes=frozenset(), providers=frozenset())
"""A WebSocket's principal until its `connection_init` has been authenticated: nothing at all."""


class AuthenticationError(Exception):
    """Missing or refused credentials. The message says what was wrong with them, never which client
    or key came closest."""

    def __init__(self, message: str, *, given: bool = True) -> None:
        super().__init__(message)
        self.given = given  # False: no credentials were sent at all


def granted_scopes(configured: frozenset[str], claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if scope is None:
        return configured
    if not isinstance(scope, str):
        raise AuthenticationError("invalid token: the scope claim must be a space-separated string")
    return configured & frozenset(scope.split())
