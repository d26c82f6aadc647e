"""Migrations as a service of one process: start (or resume), cancel, read and watch jobs, run them
in the background under a lease, and (in `parley serve`) take over jobs whose runner died. The CLI
and the GraphQL face both go through it.

Starting a migration with the same from, to, filter and dry-run flag as one that did not complete
resumes that job instead of beginning another; one job at a time runs between two providers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from providers import Provider
from providers._budget import background_context
from providers.errors import ConflictError, InvalidRequestError, NotFoundError
from providers.imports import import_target

from ..migration_settings import MigrationSettings
from .engine import Runner
from .filters import FilterError, parse_filter
from .records import CANCELLED, COMPLETED, FAILED, RUNNING, Job, new_owner
from .store import Store

logger = logging.getLogger("parley.migrate")
FINAL = (CANCELLED, COMPLETED, FAILED)
WATCH_INTERVAL = 0.25
STOP_WAIT = 10.0  # seconds a stopping process waits for its runners to reach a conversation boundary
MAX_LIMIT = 10_000_000


class MigrationService:
    def __init__(self, store: Store, providers: Mapping[str, Provider], settings: MigrationSettings, *, takeover: bool = False) -> None:
        self.store, self.providers, self.settings = store, providers, settings
        self.owner = new_owner()
        self.takeover = takeover
        self.runners: dict[str, Runner] = {}
        self._tasks: dict[str, asyncio.Task[Job]] = {}
        self._scanner: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: MigrationSettings, providers: Mapping[str, Provider], *, takeover: bool = False) -> MigrationService:
        service = cls(await Store.open(settings.database_url), providers, settings, takeover=takeover)
        if takeover:
            service._scanner = asyncio.create_task(service._take_over_loop())
        return service

    async def close(self) -> None:
        """Stops runners at their next conversation boundary (cancelling those that take longer than
        STOP_WAIT; their intents cover any write in flight) and hands their leases back, so another
        instance may take over at once."""
        if self._scanner is not None:
            self._scanner.cancel()
            await asyncio.gather(self._scanner, return_exceptions=True)
        for runner in self.runners.values():
            runner.pause()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_WAIT)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for job_id in list(self._tasks):
            with contextlib.suppress(Exception):
                await self.store.save_job(job_id, self.owner, lease_expires=0.0)
        await self.store.close()

    # ---- starting -------------------------------------------------------------------------------

    async def prepare(self, *, source: str, target: str, filter: Any = None, dry_run: bool = False, limit: int | None = None) -> Job:
        """Checks the request and creates (or takes back for resuming) its job, leased to this
        process; `run` or `launch` then runs it. Raises InvalidRequestError, NotFoundError,
        UnsupportedOperationError (a target that cannot be one, with the reason) or ConflictError."""
        source_provider, target_provider = self._provider(source, "from"), self._provider(target, "to")
        if source == target:
            raise InvalidRequestError("from and to name the same provider; migrate between two providers", provider=source, field="to")
        import_target(target_provider)
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequestError(f"limit must be between 1 and {MAX_LIMIT:,}, got {limit}", provider=source, field="limit")
        try:
            canonical = _canonical(filter)
            parse_filter(canonical)
        except FilterError as exc:
            raise InvalidRequestError(str(exc), provider=source, field="filter") from None
        running = await self.store.active_for_pair(source, target)
        if running is not None:
            raise ConflictError(f"migration {running.id} from {source} to {target} is running; watch it or cancel it first", provider=target)
        job = await self.store.unfinished_job(source=source, target=target, filter=canonical, dry_run=dry_run)
        if job is not None and job.limit == limit and await self.store.claim(job, self.owner, self.settings.lease_seconds):
            return await self._get(job.id)
        counts = {"phase": "starting", "total": None, "done": 0}
        return await self.store.create_job(
            source=source, target=target, filter=canonical, dry_run=dry_run, limit=limit, owner=self.owner,
            lease_seconds=self.settings.lease_seconds, counts=counts,
        )

    async def run(self, job: Job) -> Job:
        """Runs a job this process holds, to its end (the CLI's foreground run)."""
        runner = Runner(self.store, job, self.providers[job.source], self.providers[job.target], owner=self.owner,
                        lease_seconds=self.settings.lease_seconds, concurrency=self.settings.concurrency)
        self.runners[job.id] = runner
        try:
            return await runner.run()
        finally:
            self.runners.pop(job.id, None)

    def launch(self, job: Job) -> None:
        """Runs a job this process holds in the background."""
        task = asyncio.create_task(self.run(job), context=background_context())  # not the starting request's budget
        self._tasks[job.id] = task
        task.add_done_callback(lambda done: self._ended(job.id, done))

    def _ended(self, job_id: str, task: asyncio.Task[Job]) -> None:
        self._tasks.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("migration %s stopped unexpectedly", job_id, exc_info=task.exception())

    async def start(self, **request: Any) -> Job:
        job = await self.prepare(**request)
        self.launch(job)
        return job

    # ---- reading and cancelling -----------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        return await self.store.get_job(job_id)

    async def list_jobs(self, *, first: int, after: tuple[float, str] | None = None) -> list[Job]:
        return await self.store.list_jobs(first=first, after=after)

    async def cancel(self, job_id: str) -> Job:
        """Asks the job to stop at its next conversation boundary (at once if its runner is gone)."""
        runner = self.runners.get(job_id)
        if runner is not None:
            runner.cancel()
        job = await self.store.request_cancel(job_id)
        if job is None:
            raise NotFoundError(f"no migration {job_id!r}", provider="migrations")
        return job

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The job each time it changes (read from the store, so it works across instances), ending
        with its final state."""
        seen: float | None = None
        while True:
            job = await self._get(job_id)
            if job.updated_at != seen:
                seen = job.updated_at
                yield job
            if job.status in FINAL:
                return
            await asyncio.sleep(WATCH_INTERVAL)

    # ---- taking over ----------------------------------------------------------------------------

    async def _take_over_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self.take_over()
            except Exception:
                logger.warning("could not look for migrations to take over", exc_info=True)

    async def take_over(self) -> list[str]:
        """Claims running jobs whose lease ran out, between providers this process has, and runs them."""
        taken = []
        for job in await self.store.orphaned_jobs():
            if job.id in self._tasks or job.source not in self.providers or job.target not in self.providers:
                continue
            if await self.store.claim(job, self.owner, self.settings.lease_seconds, status=RUNNING):
                logger.info("migration %s: taken over from %s", job.id, job.lease_owner)
                self.launch(await self._get(job.id))
                taken.append(job.id)
        return taken

    def _provider(self, name: str, field: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers))
            raise InvalidRequestError(f"no provider named {name!r}; providers: {known}", provider=name, field=field)
        return provider

    async def _get(self, job_id: str) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise NotFoundError(f"no migration {job_id!r}", provider="migrations")
        return job


def _canonical(filter: Any) -> dict[str, Any]:
    """The filter as stored: a JSON object without unset keys (so equal filters compare equal)."""
    if filter is None:
        return {}
    if not isinstance(filter, dict):
        raise FilterError("filter: expected a JSON object")
    return {key: value for key, value in filter.items() if value is not None}


def elapsed(job: Job) -> float:
    return (job.finished_at or time.time()) - job.created_at
