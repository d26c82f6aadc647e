"""Leases: which instance does a job that only one may do at a time (polling a provider), and where
it records how far it got, so the next holder goes on from there.

A lease is taken with `SET NX PX` and renewed by its holder before it expires; an instance that dies
stops renewing, and another takes the lease over once the TTL has run out. An instance that stops
cleanly gives the lease back at once. A mark is written only while its writer still holds the lease,
so a holder that lost its lease (paused too long) cannot overwrite its successor's progress.

`LocalLeases` is the single process's (the in-memory bus): it always holds every lease.
`gateway.redis_leases.RedisLeases` is the shared bus's, on the same Redis.
"""

from __future__ import annotations

from typing import Protocol


class LeaseUnavailable(RuntimeError):
    """Where leases are kept cannot be reached; nobody can be sure to hold one."""


class Leases(Protocol):
    async def take(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Takes the lease `name` for `holder`, or renews it if `holder` has it; False while another has it."""
        ...

    async def give_back(self, name: str, holder: str) -> None: ...

    async def read_mark(self, name: str) -> str | None:
        """What the last holder recorded, None if nothing."""
        ...

    async def write_mark(self, name: str, holder: str, mark: str) -> bool:
        """Records `mark` if `holder` still holds the lease; False (and nothing written) otherwise."""
        ...


class LocalLeases:
    def __init__(self) -> None:
        self._marks: dict[str, str] = {}

    async def take(self, name: str, holder: str, ttl_seconds: float) -> bool:
        return True

    async def give_back(self, name: str, holder: str) -> None:
        return None

    async def read_mark(self, name: str) -> str | None:
        return self._marks.get(name)

    async def write_mark(self, name: str, holder: str, mark: str) -> bool:
        self._marks[name] = mark
        return True
