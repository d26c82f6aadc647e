"""The runner of one migration job: walks the source page by page, oldest first (counting it alongside),
copying up to `CONCURRENCY` conversations at a time (`copy.py`), while a keeper renews the job's
lease, saves its progress and checkpoint, and hears a cancellation.

Memory stays flat: one page of conversations and, per conversation in flight, one page of messages;
the id map and the report's notes live in the store. The checkpoint is the source cursor after the
last conversation of the finished prefix, so a resumed job lists on from there; conversations it
already handled in this job are skipped by their progress rows.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from providers import Conversation, Provider, ProviderError
from providers.imports import import_target
from providers.models import ConversationFilter, SortOrder

from ..migration_settings import DEFAULT_CONCURRENCY as CONCURRENCY
from .copy import Copier, Outcome
from .filters import parse_filter
from .report import build_report
from .retry import VendorAway, retrying
from .records import CANCELLED, CANCELLING, COMPLETED, FAILED, RUNNING, Job
from .store import Store

logger = logging.getLogger("parley.migrate")

LIST_PAGE = 50
COUNT_PAGE = 100
PROGRESS_INTERVAL = 0.5  # seconds between progress saves (what watchers see)
# What a plan reads of a source conversation: everything but the latest message and message count, and
# the customer where it costs a read of its own (the copy takes it from the first page of messages).
PLAN_FIELDS = frozenset({
    "topic", "summary", "status", "vendor_status", "priority", "channel", "assignee", "queue", "bot_active",
    "tags", "feedback", "initial_page_url", "latest_page_url", "sentiment", "category_id", "custom_fields", "campaign",
})


class LeaseLost(Exception):
    """Another runner holds the job now: this one must not write."""


@dataclass
class Live:
    """What watchers see of a running job (saved as the job's `counts`)."""

    phase: str = "starting"
    total: int | None = None
    tally: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    done_here: int = 0  # conversations this run handled (for the rate)
    messages_here: int = 0

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.time() - self.started, 1e-6)
        done = sum(self.tally.get(k, 0) for k in ("CREATED", "UPDATED", "UNCHANGED", "FAILED"))
        rate = self.done_here / elapsed
        left = None if self.total is None or rate <= 0 else max(self.total - done, 0) / rate
        return {
            "phase": self.phase, "total": self.total, "done": done, "created": self.tally.get("CREATED", 0),
            "updated": self.tally.get("UPDATED", 0), "unchanged": self.tally.get("UNCHANGED", 0),
            "failed": self.tally.get("FAILED", 0), "messages": self.tally.get("messages", 0),
            "rate": round(rate, 2), "messageRate": round(self.messages_here / elapsed, 2),
            "eta": None if left is None else round(left, 1), "startedAt": self.started,
        }


class Runner:
    def __init__(
        self, store: Store, job: Job, source: Provider, target: Provider, *, owner: str, lease_seconds: float,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.store, self.job, self.source, self.target = store, job, source, target
        self.owner, self.lease_seconds, self.concurrency = owner, lease_seconds, concurrency
        self.live = Live()
        self.current: str | None = None
        self.checkpoint = job.checkpoint
        self.cancel_requested = False
        self.paused = False  # the process is stopping: the job stays RUNNING for another to take over
        self.lost = False
        self._renewed = time.monotonic()
        self._failure: str | None = None

    def cancel(self) -> None:
        self.cancel_requested = True

    def pause(self) -> None:
        """Stops at the next conversation boundary, leaving the job to be resumed or taken over."""
        self.paused = True

    def guard(self) -> None:
        """Refuses writes once the lease may have passed to another runner."""
        if self.lost or time.monotonic() - self._renewed > self.lease_seconds * 0.8:
            raise LeaseLost(f"job {self.job.id}: the lease was not renewed in time")

    async def run(self) -> Job:
        copier = Copier(self.store, self.source, import_target(self.target), self.target.name, dry_run=self.job.dry_run, guard=self.guard)
        filter = parse_filter(self.job.filter)
        self.live.tally = await self.store.tally(self.job.id)
        keeper = asyncio.create_task(self._keep())
        # The count runs beside the copy, not before it: at 20 ms a call, counting 10,000
        # conversations first kept the job from copying for a few seconds.
        counter = asyncio.create_task(self._count(filter))
        status = COMPLETED
        try:
            self.live.phase = "migrating"
            await self._walk(copier, filter)
            if not self._stopping():
                await counter
            status = FAILED if self._failure else CANCELLED if self.cancel_requested else RUNNING if self.paused else COMPLETED
        except (VendorAway, ProviderError) as exc:
            status, self._failure = FAILED, str(exc)
        finally:
            counter.cancel()
            keeper.cancel()
            await asyncio.gather(counter, keeper, return_exceptions=True)
        return await self._finish(status)

    async def _count(self, filter: ConversationFilter) -> None:
        """Conversations the job will handle (`live.total`): listed with ids only, none kept. A
        vendor that stays away stops the job, as it does for the copy."""
        try:
            self.live.total = await self._counted(filter)
        except (VendorAway, ProviderError) as exc:
            self._failure = self._failure or str(exc)

    async def _counted(self, filter: ConversationFilter) -> int:
        limit, total, after = self.job.limit, 0, None
        while limit is None or total < limit:
            page = await retrying(
                lambda: self.source.list_conversations(filter=filter, order=SortOrder.CREATED_ASC, first=COUNT_PAGE, after=after, fields=frozenset()),
                what="counting the source",
            )
            total += len(page.items)
            if page.next_cursor is None:
                break
            after = page.next_cursor
        return total if limit is None else min(total, limit)

    async def _walk(self, copier: Copier, filter: ConversationFilter) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        order: collections.deque[list[Any]] = collections.deque()  # [cursor, done] in listing order
        tasks: set[asyncio.Task[None]] = set()
        handled = sum(self.live.tally.get(k, 0) for k in ("CREATED", "UPDATED", "UNCHANGED", "FAILED"))
        after = self.checkpoint

        def advance() -> None:
            while order and order[0][1]:
                cursor = order.popleft()[0]
                if cursor is not None:
                    self.checkpoint = cursor

        async def one(conversation: Conversation, entry: list[Any]) -> None:
            try:
                self.current = conversation.remote_id
                await self._copy(copier, conversation)
            except (VendorAway, LeaseLost, ProviderError) as exc:
                self._failure = self._failure or str(exc)
            finally:
                entry[1] = not self._failure
                advance()
                slots.release()

        try:
            while not self._stopping():
                page = await retrying(
                    lambda: self.source.list_conversations(filter=filter, order=SortOrder.CREATED_ASC, first=LIST_PAGE, after=after, fields=PLAN_FIELDS),
                    what="listing the source",
                )
                done_before = await self.store.handled_among(self.job.id, [c.remote_id for c in page.items])
                for index, conversation in enumerate(page.items):
                    last = index == len(page.items) - 1
                    cursor = page.cursors[index] if index < len(page.cursors) else (page.next_cursor if last else None)
                    if self._stopping() or (self.job.limit is not None and handled >= self.job.limit):
                        break
                    entry: list[Any] = [cursor, False]
                    order.append(entry)
                    if conversation.remote_id in done_before:
                        entry[1] = True
                        advance()
                        continue
                    handled += 1
                    await slots.acquire()
                    task = asyncio.create_task(one(conversation, entry))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    if page.next_cursor is not None and not (self.job.limit is not None and handled >= self.job.limit):
                        after = page.next_cursor
                        continue
                break
        finally:
            await asyncio.gather(*tasks)  # a failed listing still lets the conversations in flight finish

    async def _copy(self, copier: Copier, conversation: Conversation) -> None:
        try:
            outcome = await copier.copy(conversation)
        except (VendorAway, LeaseLost):
            raise
        except ProviderError as exc:  # e.g. the target refused our credentials: the job cannot go on
            raise VendorAway(str(exc)) from exc
        except Exception as exc:  # a bug must not stop the whole job: the conversation is reported
            logger.exception("migration %s: conversation %s failed unexpectedly", self.job.id, conversation.remote_id)
            outcome = Outcome("FAILED", error=f"unexpected {type(exc).__name__}: {exc}")
        self.guard()
        await self.store.finish(
            self.job.id, self.source.name, conversation.remote_id, self.target.name, outcome=outcome.outcome,
            messages_written=outcome.messages, error=outcome.error, notes_seen=outcome.notes, state=outcome.state, fresh=True,
        )
        self.live.tally[outcome.outcome] = self.live.tally.get(outcome.outcome, 0) + 1
        self.live.tally["messages"] = self.live.tally.get("messages", 0) + outcome.messages
        self.live.done_here += 1
        self.live.messages_here += outcome.messages

    def _stopping(self) -> bool:
        return self.cancel_requested or self.paused or self.lost or self._failure is not None

    async def _keep(self) -> None:
        """Renews the lease and saves progress every PROGRESS_INTERVAL; hears a cancellation."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            try:
                status = await self.store.renew(self.job.id, self.owner, self.lease_seconds)
                if status is None:
                    self.lost = True
                    return
                self._renewed = time.monotonic()
                if status == CANCELLING:
                    self.cancel_requested = True
                await self.store.save_job(self.job.id, self.owner, counts=self.live.snapshot(), current=self.current, checkpoint=self.checkpoint)
            except Exception:  # the store away for a moment: the guard stops writes if it stays away
                logger.warning("migration %s: cannot renew the lease or save progress", self.job.id, exc_info=True)

    async def _finish(self, status: str) -> Job:
        self.live.tally = await self.store.tally(self.job.id)
        if status == RUNNING:  # paused: hand the lease back at once
            if not self.lost:
                await self.store.save_job(self.job.id, self.owner, counts=self.live.snapshot(), current=None,
                                          checkpoint=self.checkpoint, lease_expires=0.0)
            job = await self.store.get_job(self.job.id)
            assert job is not None
            return job
        self.live.phase = "done"
        report = await build_report(self.store, self.job, status=status, source_vendor=self.source.vendor, target_vendor=self.target.vendor)
        if not self.lost:
            await self.store.save_job(
                self.job.id, self.owner, status=status, counts=self.live.snapshot(), report=report, error=self._failure,
                current=None, checkpoint=self.checkpoint, lease_owner=None, lease_expires=None,
                finished_at=time.time(),
            )
        job = await self.store.get_job(self.job.id)
        assert job is not None
        return job
