"""Pollers (DESIGN §5): a provider that sends Parley no webhooks is asked for its changes every
`poll_interval` seconds, and what changed is published on the bus, as a webhook would have been.

One poll, bounded in vendor calls whatever the account's size:
- one listing of the conversations changed since the mark (the newest vendor update time handled),
  ids and times only: oldest change first where the vendor filters by update time itself
  (Socialboards, Infobip), else newest first, read down to the mark (CleverTap; at most
  `SCAN_LIMIT` rows);
- for at most `PAGE` of them, oldest first: the conversation as it is now, and its messages newer than
  the mark, newest first, at most `MESSAGE_PAGES` pages; published as `messageAdded` (oldest first)
  and then one `conversationChanged`.
If more changed than one poll handles, the next poll follows at once from the last one handled.

Nothing is announced twice: the listing reaches `OVERLAP` back before the mark (vendor clocks tick in
milliseconds or, CleverTap, whole seconds, and a change may land just behind a listing), and what that
finds again is skipped here or, after a restart or a switch of poller, de-duplicated by the bus, like a
webhook of the same message or state. Nothing from before the first poll of a provider is announced
(with a vendor that writes whole seconds, nothing from before that second): the first poller records
the provider's newest change as the floor, which the overlap never reaches below. The mark never
passes this host's clock, since a vendor may move a busy conversation's time ahead of it. A vendor
failure ends the poll where it got to; the next one starts from there.

With several instances only one polls each provider: the holder of the lease `poll:<provider>`
(gateway.leases) renews it while it polls; when it dies, another takes over once the lease's TTL
(`LEASE_FACTOR` × the interval, at least `MIN_LEASE_SECONDS`) has run out, from the mark its
predecessor recorded. A poller that stops cleanly gives its lease back, so another takes over at its
next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from providers import Capability, ConversationFilter, Message, Provider, ProviderError, SortOrder
from providers.errors import NotFoundError

from .events import Bus, BusUnavailable, Event, EventKind
from .leases import Leases, LeaseUnavailable
from .setting_values import SettingsError

logger = logging.getLogger("parley.pollers")

DEFAULT_POLL_INTERVAL = 10.0  # seconds, for a provider without webhooks
MIN_POLL_INTERVAL, MAX_POLL_INTERVAL = 0.1, 86_400.0
OVERLAP = timedelta(seconds=2)
WHOLE_SECOND, ZERO = timedelta(seconds=1), timedelta(0)
TIE = timedelta(microseconds=1)
PAGE = 50
SCAN_LIMIT = 500
SCAN_PAGE = 100
MESSAGE_PAGE = 50
MESSAGE_PAGES = 2
LEASE_FACTOR = 3
MIN_LEASE_SECONDS = 1.0
IDS_ONLY: frozenset[str] = frozenset()


def read_poll_interval(where: str, value: Any, *, webhooks: bool) -> float | None:
    """`poll_interval` of a provider's settings: seconds between polls, or None for no poller. Unset,
    a provider without webhooks is polled every `DEFAULT_POLL_INTERVAL` and one with webhooks is
    not; 0 turns polling off."""
    if value is None or value == "":
        return None if webhooks else DEFAULT_POLL_INTERVAL
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if number == 0:
        return None
    if not MIN_POLL_INTERVAL <= number <= MAX_POLL_INTERVAL:
        raise SettingsError(f"{where}: expected seconds between {MIN_POLL_INTERVAL} and {MAX_POLL_INTERVAL:.0f}, "
                            f"or 0 for no polling; got {value!r}")
    return number


@dataclass
class Row:
    remote_id: str
    updated_at: datetime


class Poller:
    """Polls one provider while it holds that provider's lease."""

    def __init__(self, provider: Provider, bus: Bus, leases: Leases, *, interval: float, holder: str) -> None:
        self.provider, self.bus, self.leases, self.interval, self.holder = provider, bus, leases, interval, holder
        self.lease = f"poll:{provider.name}"
        self.lease_seconds = max(MIN_LEASE_SECONDS, LEASE_FACTOR * interval)
        self.leading = False
        self.mark: datetime | None = None
        self.floor: datetime | None = None  # the provider's newest change when it was first polled
        self._catching_up = False  # the last poll stopped short: go on from the last one handled, no overlap
        self._messages_after: datetime | None = None  # where the pass being caught up began: messages after it are new
        self._seen: dict[str, datetime] = {}  # conversation -> the update time last announced
        self._failing = False
        self.polls = 0  # polls completed (for metrics, and for tests to wait for one)

    async def run(self) -> None:
        while True:
            more = False
            try:
                more = await self._turn()
                self._recovered()
            except (ProviderError, BusUnavailable, LeaseUnavailable) as exc:
                self._failed(exc)
            except Exception:  # a bug: logged with its traceback, and the poller lives on
                logger.exception("poller for %s failed", self.provider.name)
            if not more:
                await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.leading:
            self.leading = False
            with contextlib.suppress(LeaseUnavailable):
                await self.leases.give_back(self.lease, self.holder)

    async def _turn(self) -> bool:
        """One poll if this instance holds (or takes) the lease; whether more changes wait."""
        if not await self.leases.take(self.lease, self.holder, self.lease_seconds):
            if self.leading:
                logger.info("poller for %s: another instance polls now", self.provider.name)
            self.leading = False
            return False
        if not self.leading:
            await self._load_mark()
            self.leading = True
            logger.info("poller for %s: this instance polls every %.1f s", self.provider.name, self.interval)
        poll = asyncio.create_task(self.poll())
        try:
            while not poll.done():
                await asyncio.wait({poll}, timeout=self.lease_seconds / 3)
                if not poll.done() and not await self.leases.take(self.lease, self.holder, self.lease_seconds):
                    self.leading = False  # paused past the TTL: the new holder goes on from the last mark written
                    return False
            return poll.result()
        finally:
            if not poll.done():
                poll.cancel()
                await asyncio.gather(poll, return_exceptions=True)
            if self.leading and not await self.leases.write_mark(self.lease, self.holder, self._stored()):
                self.leading = False

    async def poll(self) -> bool:
        """Announces the changes since the mark (at most `PAGE` conversations); True when more wait."""
        since = None if self.mark is None else self.mark - (TIE if self._catching_up else OVERLAP)
        if since is not None and self.floor is not None:
            since = max(since, self.floor)
        if not self._catching_up:
            # A conversation read later in a pass may hold a message older than the conversations read
            # before it in that pass: its messages count as new from where the pass began.
            self._messages_after = since
        listed_at = datetime.now(UTC)
        rows, listed_all = await self._changed(since)
        fresh = [row for row in rows if row.remote_id not in self._seen or self._seen[row.remote_id] < row.updated_at]
        batch = fresh[:PAGE]
        more = len(fresh) > PAGE or not listed_all
        ascending = self._ascending()
        handled = None
        try:
            for row in batch:
                announced = await self._announce(row.remote_id, self._messages_after)
                self._seen[row.remote_id] = max(row.updated_at, announced or row.updated_at)
                handled = row.updated_at
        except ProviderError:
            if ascending and handled is not None:
                self._advance(handled, catching_up=True)
            raise
        self.polls += 1
        if not more:
            # Never past this host's clock: a vendor that moves a busy conversation's update time a
            # second ahead per change (CleverTap) must not lift the mark over other conversations' changes.
            newest = max([r.updated_at for r in rows] + ([self.mark] if self.mark else []), default=None)
            self._advance(None if newest is None else min(newest, listed_at), catching_up=False)
        elif ascending:  # oldest first: go on after the last one handled
            self._advance(self._next(handled, rows), catching_up=True)
        # Newest first with more than a page: the mark stays, and the next poll skips what this one handled.
        return more

    def _next(self, handled: datetime | None, rows: list[Row]) -> datetime | None:
        """Where an oldest-first poll that stopped short goes on: after the last conversation handled,
        or past a page of conversations it had announced already."""
        if handled is not None:
            return handled
        last = rows[-1].updated_at if rows else self.mark
        if self.mark is not None and last is not None and last <= self.mark:
            if not self._catching_up:
                return self.mark  # the overlap alone filled the page: from the mark on, no overlap
            logger.warning("poller for %s: more than %d conversations changed at %s; skipping past them",
                           self.provider.name, len(rows), self.mark.isoformat())
            return self.mark + TIE
        return last

    def _ascending(self) -> bool:
        """Whether the vendor filters by update time itself, so changes are read oldest first."""
        return Capability.FILTER_UPDATED_AFTER in self.provider.capabilities

    def _advance(self, mark: datetime | None, *, catching_up: bool) -> None:
        self.mark, self._catching_up = mark, catching_up
        if mark is not None:
            horizon = mark - 2 * OVERLAP
            self._seen = {key: moment for key, moment in self._seen.items() if moment >= horizon}

    async def _changed(self, since: datetime | None) -> tuple[list[Row], bool]:
        """Conversations changed after `since`, oldest change first, and whether that is all of them."""
        changed = ConversationFilter(updated_after=since)
        if self._ascending():
            page = await self.provider.list_conversations(
                filter=changed, order=SortOrder.UPDATED_ASC, first=PAGE, after=None, fields=IDS_ONLY)
            return _rows(page.items), page.next_cursor is None
        rows: list[Row] = []
        after = None
        while True:
            page = await self.provider.list_conversations(
                filter=changed, order=SortOrder.UPDATED_DESC, first=SCAN_PAGE, after=after, fields=IDS_ONLY)
            rows += _rows(page.items)
            after = page.next_cursor
            if after is None:
                break
            if len(rows) >= SCAN_LIMIT:
                logger.warning("poller for %s: more than %d conversations changed since %s; the oldest changes are not "
                               "announced", self.provider.name, SCAN_LIMIT, since.isoformat() if since else "the start")
                break
        return sorted(rows, key=lambda row: row.updated_at), True

    async def _announce(self, remote_id: str, since: datetime | None) -> datetime | None:
        """Publishes the conversation's new messages and its state now; its update time (None: gone)."""
        try:
            conversation = await self.provider.get_conversation(remote_id)
        except NotFoundError:
            return None
        name = self.provider.name
        for message in await self._messages(remote_id, since):
            await self.bus.publish(Event(EventKind.MESSAGE_ADDED, name, remote_id, message=message))
        await self.bus.publish(Event(EventKind.CONVERSATION_CHANGED, name, remote_id, conversation=conversation))
        return conversation.updated_at

    async def _messages(self, remote_id: str, since: datetime | None) -> list[Message]:
        """Messages created after `since`, oldest first (at most `MESSAGE_PAGES` pages)."""
        found: list[Message] = []
        after = None
        for _ in range(MESSAGE_PAGES):
            page = await self.provider.list_messages(remote_id, first=MESSAGE_PAGE, after=after, newest_first=True)
            newer = [m for m in page.items if since is None or m.created_at is None or m.created_at > since]
            found += newer
            if len(newer) < len(page.items) or page.next_cursor is None:
                break
            after = page.next_cursor
        else:
            logger.warning("poller for %s: more than %d new messages in conversation %s; the oldest are not announced",
                           self.provider.name, len(found), remote_id)
        return sorted(found, key=_creation)

    async def _load_mark(self) -> None:
        """Where the last holder got to; the first poller of a provider starts from its newest change."""
        self._seen.clear()
        self._catching_up, self._messages_after = False, None
        stored = await self.leases.read_mark(self.lease)
        if stored is not None:
            try:
                self.mark, self.floor = (_moment(text) for text in stored.split(" ", 1))
                return
            except ValueError:
                logger.warning("poller for %s: the recorded mark %r is unreadable; starting afresh", self.provider.name, stored[:80])
        page = await self.provider.list_conversations(
            filter=ConversationFilter(), order=SortOrder.UPDATED_DESC, first=1, after=None, fields=IDS_ONLY)
        newest = page.items[0].updated_at if page.items else None
        self.mark = None if newest is None else min(newest, datetime.now(UTC))
        # A vendor writing whole seconds (CleverTap) may add a change after this within the same second.
        self.floor = None if self.mark is None else self.mark - (WHOLE_SECOND if self.mark.microsecond == 0 else ZERO)
        await self.leases.write_mark(self.lease, self.holder, self._stored())

    def _stored(self) -> str:
        """The mark and the floor as the lease keeps them: two ISO times (`-`: none)."""
        return " ".join("-" if moment is None else moment.isoformat() for moment in (self.mark, self.floor))

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.warning("poller for %s: %s; trying again every %.1f s", self.provider.name, exc, self.interval)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("poller for %s: polling again", self.provider.name)


class Pollers:
    """The app's pollers: started once the bus runs, stopped before it stops."""

    def __init__(self, providers: Iterable[tuple[Provider, float]], bus: Bus) -> None:
        plans = list(providers)
        self.pollers: list[Poller] = []
        if plans:  # a bus without leases (a test's stand-in) is fine where nothing polls
            leases, holder = bus.leases(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
            self.pollers = [Poller(p, bus, leases, interval=i, holder=holder) for p, i in plans]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(p.run(), name=f"parley-poller-{p.provider.name}") for p in self.pollers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(p.stop() for p in self.pollers), return_exceptions=True)


def _rows(items: Sequence[Any]) -> list[Row]:
    return [Row(c.remote_id, c.updated_at) for c in items if c.updated_at is not None]


def _creation(message: Message) -> tuple[datetime, int, str]:
    """Oldest first. Vendors that write whole seconds (CleverTap) order messages of one second by id,
    and ids that sort by creation (ULIDs, increasing numbers) do so by length, then text."""
    moment = message.created_at or datetime.max.replace(tzinfo=UTC)  # a message without a time: last
    return moment, len(message.remote_id), message.remote_id


def _moment(text: str) -> datetime | None:
    return None if text == "-" else datetime.fromisoformat(text)
