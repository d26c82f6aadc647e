"""Who is calling: the `Principal` a request acts as, with its scopes and the providers it may touch."""

from __future__ import annotations

from dataclasses import dataclass

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
