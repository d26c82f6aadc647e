"""The two-step cursor workflow over snapshots.

Step 1 fixes which ids a listing returns and in what order (a snapshot) and hands out a cursor for
its first batch. Each step-2 read of a cursor returns that batch's ids plus the cursor of the next
batch, none after the last. Reading a cursor again gives the same ids and the same next cursor, so a
client may retry a page. A cursor expires when it was last handed out or read more than an hour ago
on the sandbox clock; an unknown or expired cursor, or one from another kind of listing, is a 400.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .model import invalid

CURSOR_TTL_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Snapshot:
    serial: int
    kind: str
    ids: tuple[str, ...]
    batch_size: int


@dataclass(slots=True)
class _Issued:
    snapshot: Snapshot
    offset: int
    handed_out: int


class CursorBook:
    """Every live cursor of one sandbox; ``now`` returns epoch seconds on the sandbox clock."""

    def __init__(self, now: Callable[[], int], ttl_seconds: int = CURSOR_TTL_SECONDS) -> None:
        self._now = now
        self._ttl = ttl_seconds
        self._serial = 0
        self._cursors: dict[str, _Issued] = {}
        self._tokens: dict[tuple[int, int], str] = {}

    def start(self, kind: str, ids: Sequence[str], batch_size: int) -> str:
        """Snapshot ``ids`` in their order; the cursor of the first batch."""
        self._purge()
        self._serial += 1
        return self._issue(Snapshot(self._serial, kind, tuple(ids), batch_size), 0)

    def page(self, kind: str, token: str, restart: str) -> tuple[tuple[str, ...], str | None]:
        """The ids of the batch ``token`` points at and the next batch's cursor (None after the last)."""
        issued = self._cursors.get(token)
        if issued is None or issued.snapshot.kind != kind or self._expired(issued):
            hours = self._ttl // 3600
            raise invalid(f"cursor is unknown or has expired (a cursor lives {hours} hour); start again with {restart}")
        snapshot, end = issued.snapshot, issued.offset + issued.snapshot.batch_size
        issued.handed_out = self._now()
        next_token = self._issue(snapshot, end) if end < len(snapshot.ids) else None
        return snapshot.ids[issued.offset : end], next_token

    def _issue(self, snapshot: Snapshot, offset: int) -> str:
        key = (snapshot.serial, offset)
        token = self._tokens.get(key)
        if token is None or token not in self._cursors:
            token = secrets.token_urlsafe(24)
            self._tokens[key] = token
            self._cursors[token] = _Issued(snapshot, offset, self._now())
        else:
            self._cursors[token].handed_out = self._now()
        return token

    def _expired(self, issued: _Issued) -> bool:
        return self._now() - issued.handed_out > self._ttl

    def _purge(self) -> None:
        for token in [token for token, issued in self._cursors.items() if self._expired(issued)]:
            issued = self._cursors.pop(token)
            self._tokens.pop((issued.snapshot.serial, issued.offset), None)
