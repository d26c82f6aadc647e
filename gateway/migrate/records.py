"""The migration store's records: jobs and their lease owners, a conversation's place in the id map,
and the report's note totals (`store.py` reads and writes them)."""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

RUNNING, CANCELLING, CANCELLED, COMPLETED, FAILED = "RUNNING", "CANCELLING", "CANCELLED", "COMPLETED", "FAILED"
UNFINISHED = (RUNNING, CANCELLING, CANCELLED, FAILED)  # a new start with the same parameters resumes these
OUTCOMES = ("CREATED", "UPDATED", "UNCHANGED", "FAILED")


def new_owner() -> str:
    """This process as a lease owner: host, pid and a token (a reused pid is not the same owner)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def owner_gone(owner: str | None) -> bool:
    """The owner ran on this host in a process that no longer exists."""
    host, _, rest = (owner or "").partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Job:
    id: str
    source: str
    target: str
    filter: dict[str, Any]
    dry_run: bool
    limit: int | None
    status: str
    counts: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    checkpoint: str | None
    current: str | None
    lease_owner: str | None
    lease_expires: float | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Job:
        values = dict(row._mapping)
        values["filter"] = json.loads(values["filter"])
        values["counts"] = json.loads(values["counts"])
        values["report"] = json.loads(values["report"]) if values["report"] else None
        return cls(**values)

    def lease_lapsed(self, now: float) -> bool:
        return self.lease_owner is None or (self.lease_expires or 0) < now or owner_gone(self.lease_owner)


@dataclass(frozen=True)
class Mapped:
    target_id: str
    status: str | None
    tags: tuple[str, ...] | None  # None: the state was never applied


@dataclass(frozen=True)
class NoteRow:
    field: str
    change: str
    detail: str
    count: int
