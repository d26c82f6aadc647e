"""The migration store: jobs and their leases, per-conversation progress, the id map and pending
writes, on SQLite (a file, created on first use) or PostgreSQL (shared by instances), through
SQLAlchemy Core on asyncio. Tables and schema versions are in `tables.py`.

A job runs where it holds the lease (`lease_owner` until `lease_expires`); the runner renews it and
an instance takes over a job whose lease ran out. An owner names its host and process, so a process
on the same host can take over at once from one that is gone (the CLI resumed after a kill).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, create_engine, delete, event, func, insert, make_url, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import statements as sql
from .records import CANCELLED, CANCELLING, OUTCOMES, RUNNING, UNFINISHED, Job, Mapped, NoteRow
from .tables import conversations, ensure_schema, intents, jobs, notes, progress

SQLITE_BUSY_MS = 30_000
T = TypeVar("T")


class Store:
    """Every operation is one function of a sync SQLAlchemy `Connection`, run as one transaction
    (`write`) or one read (`read`). On PostgreSQL it runs in a greenlet over asyncpg
    (`AsyncConnection.run_sync`). On SQLite it runs whole on the store's own thread with the standard
    `sqlite3` driver: the async driver (aiosqlite) hops between threads four times per statement
    (cursor, execute, fetch, close) and twice more per transaction, and those hops, not SQLite,
    cost most of a migration's CPU; one hop per transaction costs a tenth of that."""

    def __init__(self, engine: AsyncEngine | None = None, sqlite: Engine | None = None) -> None:
        assert (engine is None) != (sqlite is None)
        self._async, self._sqlite = engine, sqlite
        # One thread and one connection: writers to one file wait on each other anyway.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="parley-store") if sqlite is not None else None

    @classmethod
    async def open(cls, url: str) -> Store:
        """Opens (creating the SQLite file on first use) and creates or upgrades the schema."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            sync = create_engine(parsed.set(drivername="sqlite"), pool_size=1, max_overflow=0)
            event.listen(sync, "connect", _sqlite_pragmas)
            store = cls(sqlite=sync)
        else:
            store = cls(create_async_engine(url, pool_pre_ping=True))
        try:
            await store.write(ensure_schema)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        elif self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)
            self._thread.shutdown(wait=False)

    async def write(self, work: Callable[[Connection], T], *, durable: bool = False) -> T:
        """`work` in one transaction, committed when it returns. `durable`: on disk before this
        returns, even through a power cut, as an intent must be before the vendor write it
        announces. Other commits survive a killed process but may be lost to a power cut; SQLite's
        log keeps commits in order, so a power cut leaves every commit up to one at or after the
        last durable one — a state a kill could have left — and every vendor write made since is
        announced by a durable intent in it, which a resumed job looks for before writing again."""
        return await self._run(work, begin=True, durable=durable)

    async def read(self, work: Callable[[Connection], T]) -> T:
        return await self._run(work, begin=False)

    async def _run(self, work: Callable[[Connection], T], *, begin: bool, durable: bool = False) -> T:
        if self._async is not None:  # PostgreSQL: every commit is durable
            async with self._async.begin() if begin else self._async.connect() as connection:
                return await connection.run_sync(work)
        assert self._thread is not None and self._sqlite is not None
        engine = self._sqlite

        def run() -> T:
            with engine.connect() as connection:
                if begin:
                    _synchronous(connection, "FULL" if durable else "NORMAL")
                    with connection.begin():
                        return work(connection)
                return work(connection)

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    # ---- jobs -----------------------------------------------------------------------------------

    async def create_job(
        self, *, source: str, target: str, filter: Mapping[str, Any], dry_run: bool, limit: int | None,
        owner: str | None, lease_seconds: float, counts: Mapping[str, Any],
    ) -> Job:
        now = time.time()
        values = {
            "id": "mig-" + secrets.token_hex(6), "source": source, "target": target, "filter": _dump(filter),
            "dry_run": dry_run, "limit": limit, "status": RUNNING, "counts": _dump(counts), "created_at": now,
            "updated_at": now, "lease_owner": owner, "lease_expires": now + lease_seconds if owner else None,
        }

        def work(connection: Connection) -> Job:
            connection.execute(insert(jobs).values(**values))
            return Job.from_row(connection.execute(select(jobs).where(jobs.c.id == values["id"])).one())

        return await self.write(work)

    async def get_job(self, job_id: str) -> Job | None:
        def work(connection: Connection) -> Job | None:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
            return Job.from_row(row) if row is not None else None

        return await self.read(work)

    async def list_jobs(self, *, first: int, after: tuple[float, str] | None = None) -> list[Job]:
        """Newest first; `after` is the (created_at, id) of the last job of the previous page."""
        query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(first)
        if after is not None:
            query = query.where(or_(jobs.c.created_at < after[0], and_(jobs.c.created_at == after[0], jobs.c.id < after[1])))
        return await self.read(lambda connection: [Job.from_row(row) for row in connection.execute(query)])

    async def unfinished_job(self, *, source: str, target: str, filter: Mapping[str, Any], dry_run: bool) -> Job | None:
        """The newest job with these parameters that did not complete (a start resumes it)."""
        query = (
            select(jobs)
            .where(jobs.c.source == source, jobs.c.target == target, jobs.c.filter == _dump(filter), jobs.c.dry_run == dry_run)
            .order_by(jobs.c.created_at.desc())
            .limit(1)
        )
        row = await self.read(lambda connection: connection.execute(query).first())
        job = Job.from_row(row) if row is not None else None
        return job if job is not None and job.status in UNFINISHED else None

    async def active_for_pair(self, source: str, target: str) -> Job | None:
        """A job between these providers whose runner holds its lease."""
        query = select(jobs).where(jobs.c.source == source, jobs.c.target == target, jobs.c.status.in_((RUNNING, CANCELLING)))
        found = await self.read(lambda connection: [Job.from_row(row) for row in connection.execute(query)])
        now = time.time()
        return next((job for job in found if not job.lease_lapsed(now)), None)

    async def claim(self, job: Job, owner: str, lease_seconds: float, *, status: str = RUNNING) -> bool:
        """Takes the lease of `job` if it is still as read (compare and set on the old owner)."""
        now = time.time()
        if not (job.lease_owner == owner or job.lease_lapsed(now)):
            return False
        same = jobs.c.lease_owner.is_(None) if job.lease_owner is None else jobs.c.lease_owner == job.lease_owner
        values = {"lease_owner": owner, "lease_expires": now + lease_seconds, "status": status, "updated_at": now, "finished_at": None}
        statement = update(jobs).where(jobs.c.id == job.id, same).values(**values)
        return await self.write(lambda connection: connection.execute(statement).rowcount == 1)

    async def renew(self, job_id: str, owner: str, lease_seconds: float) -> str | None:
        """Extends the lease; returns the job's status, or None when `owner` lost the lease."""
        statement = update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == owner).values(lease_expires=time.time() + lease_seconds)

        def work(connection: Connection) -> str | None:
            if connection.execute(statement).rowcount != 1:
                return None
            return str(connection.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one())

        return await self.write(work)

    async def save_job(self, job_id: str, owner: str | None, **values: Any) -> bool:
        """Updates the job where `owner` holds its lease (any holder when None)."""
        for key in ("counts", "report"):
            if key in values and values[key] is not None:
                values[key] = _dump(values[key])
        condition = jobs.c.id == job_id if owner is None else and_(jobs.c.id == job_id, jobs.c.lease_owner == owner)
        statement = update(jobs).where(condition).values(updated_at=time.time(), **values)
        return await self.write(lambda connection: connection.execute(statement).rowcount == 1)

    async def request_cancel(self, job_id: str) -> Job | None:
        """A running job is asked to stop at its next conversation; one whose runner is gone stops now."""
        job = await self.get_job(job_id)
        if job is None or job.status not in (RUNNING, CANCELLING):
            return job
        lapsed = job.lease_lapsed(time.time())
        values: dict[str, Any] = {"status": CANCELLED, "lease_owner": None, "finished_at": time.time()} if lapsed else {"status": CANCELLING}
        statement = update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_((RUNNING, CANCELLING))).values(**values)
        await self.write(lambda connection: connection.execute(statement))
        return await self.get_job(job_id)

    async def orphaned_jobs(self) -> list[Job]:
        """Running jobs whose lease has run out (their runner died): another instance may take them."""
        query = select(jobs).where(jobs.c.status.in_((RUNNING, CANCELLING)), jobs.c.lease_expires < time.time())
        return await self.read(lambda connection: [Job.from_row(row) for row in connection.execute(query)])

    # ---- the id map and pending writes ----------------------------------------------------------

    async def state(self, source: str, source_id: str, target: str) -> tuple[Mapped | None, dict[str, tuple[float, list[str]]]]:
        """A source conversation's target id (with the state last written) and its pending writes by
        kind, in one round trip."""
        key = {"s": source, "sid": source_id, "t": target}

        def work(connection: Connection) -> tuple[Any, Sequence[Any]]:
            return connection.execute(sql.MAPPED, key).first(), connection.execute(sql.PENDING, key).all()

        row, pending = await self.read(work)
        found = {str(k): (float(t), list(json.loads(i))) for k, t, i in pending}
        mapped = None if row is None else Mapped(row.target_id, row.status, None if row.tags is None else tuple(json.loads(row.tags)))
        return mapped, found

    async def handled_among(self, job_id: str, source_ids: Sequence[str]) -> set[str]:
        """Those of `source_ids` the job has handled (progress rows)."""
        if not source_ids:
            return set()
        key = {"job": job_id, "ids": list(source_ids)}
        return await self.read(lambda connection: {str(v) for v in connection.execute(sql.HANDLED, key).scalars()})

    async def mapped(self, source: str, source_id: str, target: str) -> Mapped | None:
        key = {"s": source, "sid": source_id, "t": target}
        row = await self.read(lambda connection: connection.execute(sql.MAPPED, key).first())
        if row is None:
            return None
        return Mapped(row.target_id, row.status, None if row.tags is None else tuple(json.loads(row.tags)))

    async def mapped_messages(self, source: str, conversation: str, ids: Sequence[str], target: str) -> set[str]:
        if not ids:
            return set()
        key = {"s": source, "sid": conversation, "t": target, "ids": list(ids)}
        return await self.read(lambda connection: {str(value) for value in connection.execute(sql.MAPPED_MESSAGES, key).scalars()})

    async def intent(self, source: str, source_id: str, target: str, kind: str) -> tuple[float, list[str]] | None:
        query = select(intents.c.started_at, intents.c["items"]).where(*_intent_key(source, source_id, target, kind))
        row = await self.read(lambda connection: connection.execute(query).first())
        return None if row is None else (float(row[0]), list(json.loads(row[1])))

    async def begin_intent(
        self, source: str, source_id: str, target: str, kind: str, items: Sequence[str] = (), *, replace: bool = True,
    ) -> float:
        """Records a write about to start (replacing an older record of the same kind unless the
        caller knows there is none); returns its time."""
        now = time.time()
        row = {"source_provider": source, "source_id": source_id, "target_provider": target, "kind": kind, "items": _dump(list(items)),
               "started_at": now}

        def work(connection: Connection) -> None:
            if replace:
                connection.execute(sql.END_INTENT, {"s": source, "sid": source_id, "t": target, "kind": kind})
            connection.execute(sql.ADD_INTENT, row)

        await self.write(work, durable=True)
        return now

    async def clear_intent(self, source: str, source_id: str, target: str, kind: str) -> None:
        statement = delete(intents).where(*_intent_key(source, source_id, target, kind))
        await self.write(lambda connection: connection.execute(statement))

    async def taken(self, target: str, target_ids: Sequence[str]) -> set[str]:
        """Those of `target_ids` the id map already gives to some source conversation."""
        if not target_ids:
            return set()
        query = select(conversations.c.target_id).where(conversations.c.target_provider == target, conversations.c.target_id.in_(list(target_ids)))
        return await self.read(lambda connection: {str(value) for value in connection.execute(query).scalars()})

    async def map_conversation(self, source: str, source_id: str, target: str, target_id: str, *, history: Sequence[str] = ()) -> None:
        """Records the conversation's target id and ends its pending creation, in one transaction,
        with the intent of the first history write (`history`: its keys) when one follows."""
        now = time.time()

        def work(connection: Connection) -> None:
            connection.execute(sql.ADD_CONVERSATION, {
                "source_provider": source, "source_id": source_id, "target_provider": target, "target_id": target_id, "created_at": now,
            })
            connection.execute(sql.END_INTENT, {"s": source, "sid": source_id, "t": target, "kind": "conversation"})
            if history:
                connection.execute(sql.ADD_INTENT, {
                    "source_provider": source, "source_id": source_id, "target_provider": target, "kind": "history",
                    "items": _dump(list(history)), "started_at": now,
                })

        await self.write(work, durable=bool(history))

    async def map_messages(self, source: str, conversation: str, target: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Records message ids (source -> target) and ends the conversation's pending history write."""
        rows = [
            {"source_provider": source, "source_conversation": conversation, "source_id": s, "target_provider": target, "target_id": t}
            for s, t in pairs
        ]

        def work(connection: Connection) -> None:
            if rows:
                connection.execute(sql.ADD_MESSAGES, rows)
            connection.execute(sql.END_INTENT, {"s": source, "sid": conversation, "t": target, "kind": "history"})

        await self.write(work)

    async def finish(
        self, job_id: str, source: str, source_id: str, target: str, *, outcome: str, messages_written: int,
        error: str | None = None, notes_seen: Mapping[tuple[str, str, str], int] | None = None,
        state: tuple[str | None, tuple[str, ...]] | None = None, fresh: bool = False,
    ) -> None:
        """Ends a conversation's part in a job: its outcome, what its writes lost, and (when the state
        was applied) the status and tags now at the target, in one transaction. `fresh`: the job has
        no row of this conversation yet (nothing to replace)."""
        row = {"job_id": job_id, "source_id": source_id, "outcome": outcome, "messages": messages_written, "error": error,
               "updated_at": time.time()}
        rows = [
            {"job_id": job_id, "source_id": source_id, "field": f, "change": c, "detail": d, "count": n}
            for (f, c, d), n in (notes_seen or {}).items()
        ]
        values = None if state is None else {"s": source, "sid": source_id, "t": target, "new_status": state[0], "new_tags": _dump(list(state[1]))}

        def work(connection: Connection) -> None:
            if not fresh:
                connection.execute(delete(progress).where(progress.c.job_id == job_id, progress.c.source_id == source_id))
                connection.execute(delete(notes).where(notes.c.job_id == job_id, notes.c.source_id == source_id))
            connection.execute(sql.ADD_PROGRESS, row)
            if rows:
                connection.execute(sql.ADD_NOTES, rows)
            if values is not None:
                connection.execute(sql.SET_STATE, values)

        await self.write(work)

    async def handled(self, job_id: str, source_id: str) -> bool:
        query = select(progress.c.outcome).where(progress.c.job_id == job_id, progress.c.source_id == source_id)
        return await self.read(lambda connection: connection.execute(query).first() is not None)

    async def tally(self, job_id: str) -> dict[str, int]:
        """Conversations by outcome and messages written, counted from the progress rows."""
        query = select(progress.c.outcome, func.count(), func.coalesce(func.sum(progress.c.messages), 0)).where(
            progress.c.job_id == job_id
        ).group_by(progress.c.outcome)
        counts = dict.fromkeys(OUTCOMES, 0) | {"messages": 0}
        for outcome, number, written in await self.read(lambda connection: connection.execute(query).all()):
            counts[str(outcome)] = int(number)
            counts["messages"] += int(written)
        return counts

    async def failures(self, job_id: str, *, first: int) -> list[tuple[str, str]]:
        query = select(progress.c.source_id, progress.c.error).where(
            progress.c.job_id == job_id, progress.c.outcome == "FAILED"
        ).order_by(progress.c.updated_at).limit(first)
        return await self.read(lambda connection: [(str(a), str(b)) for a, b in connection.execute(query)])

    async def note_totals(self, job_id: str) -> list[tuple[NoteRow, int, list[str]]]:
        """Per (field, change, detail): the items it applies to, the conversations, and a few example ids."""
        group = (notes.c.field, notes.c.change, notes.c.detail)
        query = select(*group, func.sum(notes.c["count"]), func.count()).where(notes.c.job_id == job_id).group_by(*group).order_by(*group)

        def work(connection: Connection) -> list[tuple[NoteRow, int, list[str]]]:
            found = []
            for field, change, detail, items, number in connection.execute(query).all():
                examples = connection.execute(
                    select(notes.c.source_id).where(notes.c.job_id == job_id, notes.c.field == field, notes.c.change == change,
                                                    notes.c.detail == detail).order_by(notes.c.source_id).limit(3)
                )
                found.append((NoteRow(field, change, detail, int(items)), int(number), [str(e) for e in examples.scalars()]))
            return found

        return await self.read(work)


def _intent_key(source: str, source_id: str, target: str, kind: str) -> tuple[Any, ...]:
    return (intents.c.source_provider == source, intents.c.source_id == source_id, intents.c.target_provider == target, intents.c.kind == kind)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """WAL lets `parley migrate status` read while a job writes; a busy writer is waited for.
    Commits are FULL (synced to disk, about 0.3 ms each here, more under load) where `Store.write`
    is told `durable`, else NORMAL: in WAL mode a NORMAL commit survives a killed process, and only a
    power cut can lose it."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def _synchronous(connection: Connection, level: str) -> None:
    """Sets the SQLite connection's commit level (outside a transaction, where SQLite heeds it)."""
    if connection.info.get("synchronous") != level:
        driver = connection.connection.driver_connection  # not through SQLAlchemy, which would begin a transaction
        assert driver is not None
        driver.execute(f"PRAGMA synchronous={level}")
        connection.info["synchronous"] = level
