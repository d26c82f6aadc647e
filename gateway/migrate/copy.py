"""One source conversation copied to the target exactly once: created with what the target can hold,
then its messages oldest first as history, then its status and tags, closing last.

Every write is preceded by an intent in the store and followed by its id-map rows, so a write whose
outcome is unknown (a crash, a lost answer) is looked for at the target (`find_import`,
`find_history`) before it is made again. Writes the target refuses (4xx) fail the conversation,
with the vendor's message; transient failures are retried (`retry.py`).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from providers import Conversation, Message, Page, Provider
from providers.base import Hydrates, implements
from providers.errors import ConflictError, InvalidRequestError, NotFoundError, UnsupportedOperationError
from providers.imports import FieldNote, HistoryDraft, ImportDraft, Imports, StateChange
from providers.models import ConversationStatus, Direction, Participant, Role

from .retry import ATTEMPTS, TRANSIENT, VendorAway, retrying, wait_for
from .records import Mapped
from .store import Store

REFUSED = (InvalidRequestError, NotFoundError, ConflictError, UnsupportedOperationError)
MESSAGE_PAGE = 100
CREATE_LOCKS = 64  # creations with the same look are serialised, so a lost one is found unambiguously
NoteKey = tuple[str, str, str]


@dataclass
class Outcome:
    outcome: str  # CREATED UPDATED UNCHANGED FAILED
    messages: int = 0
    notes: Counter[NoteKey] = field(default_factory=Counter)
    state: tuple[str | None, tuple[str, ...]] | None = None
    error: str | None = None


class Copier:
    """Copies conversations from `source` to `target` (named `target_name` in the id map). `guard()`
    runs before every write and raises when this runner may no longer write (its lease is gone)."""

    def __init__(
        self, store: Store, source: Provider, target: Imports, target_name: str, *, dry_run: bool,
        guard: Callable[[], None] = lambda: None,
    ) -> None:
        self.store, self.source, self.target, self.target_name = store, source, target, target_name
        self.dry_run, self.guard = dry_run, guard
        self._locks = [asyncio.Lock() for _ in range(CREATE_LOCKS)]

    async def copy(self, conversation: Conversation) -> Outcome:
        mapped, pending = await self.store.state(self.source.name, conversation.remote_id, self.target_name)
        first_page = await self._page(conversation.remote_id, None)
        conversation = await self._with_customer(conversation, first_page)
        draft = self.target.plan_conversation(conversation)
        if self.dry_run:
            return await self._rehearse(conversation, draft, mapped, first_page)
        written = Counter[NoteKey]()
        try:
            extra: tuple[FieldNote, ...] = ()
            if mapped is None:
                target_id, extra = await self._create(draft, pending.get("conversation"), self._planned(conversation, first_page.items))
            else:
                target_id = mapped.target_id
            count = await self._history(conversation, target_id, written, pending.get("history"), fresh=mapped is None, first_page=first_page)
            first = mapped is None or mapped.tags is None
            previous = draft.initial_status if first or mapped is None else _status(mapped.status)
            before = () if first or mapped is None or mapped.tags is None else mapped.tags
            add = [t for t in draft.tags if t not in before]
            remove = [t for t in before if t not in draft.tags]
            moved = draft.status is not None and draft.status is not previous
            if first or add or remove or moved:
                self.guard()
                extra += await retrying(
                    lambda: self.target.apply_state(target_id, draft, StateChange(previous, first, tuple(add), tuple(remove))),
                    what="applying status and tags",
                )
        except REFUSED as exc:
            return Outcome("FAILED", sum(written.values()), error=_refusal(exc))
        outcome = "CREATED" if mapped is None else "UPDATED" if count or first or add or remove or moved else "UNCHANGED"
        if outcome != "UNCHANGED":
            written.update(_keys(draft.notes + extra))
        state = (draft.status.value if draft.status else None, draft.tags)
        return Outcome(outcome, count, written, state)

    # ---- creation -------------------------------------------------------------------------------

    async def _create(
        self, draft: ImportDraft, pending: tuple[float, list[str]] | None, first: list[tuple[Message, HistoryDraft]],
    ) -> tuple[str, tuple[FieldNote, ...]]:
        """Finds a creation of this draft whose answer was lost (`pending`: the intent of an earlier
        run), else creates it. The id map's row and the intent of the first history write (`first`,
        which follows at once) are one transaction."""
        history = [d.key for _, d in first]
        source, sid, target = draft.source_provider, draft.source_id, self.target_name
        started = pending[0] if pending is not None else None
        async with self._locks[_look(draft) % CREATE_LOCKS]:
            for attempt in range(1, ATTEMPTS + 1):
                if started is not None:  # a creation may have happened: look before creating again
                    since = datetime.fromtimestamp(started, UTC)
                    candidates = await retrying(
                        lambda: self.target.find_import(draft, created_after=since, known=lambda ids: self.store.taken(target, ids)),
                        what="looking for a lost creation",
                    )
                    taken = await self.store.taken(target, candidates)
                    free = [c for c in candidates if c not in taken]
                    if free:
                        await self.store.map_conversation(source, sid, target, free[0], history=history)
                        return free[0], ()
                else:
                    started = await self.store.begin_intent(source, sid, target, "conversation", replace=False)
                self.guard()
                try:
                    target_id, extra = await self.target.import_conversation(draft)
                except TRANSIENT as exc:  # maybe created: the next round looks for it first
                    if attempt == ATTEMPTS:
                        raise VendorAway(f"creating a conversation: {exc} (after {ATTEMPTS} attempts)") from exc
                    await asyncio.sleep(wait_for(exc, attempt))
                    continue
                except REFUSED:
                    await self.store.clear_intent(source, sid, target, "conversation")
                    raise
                await self.store.map_conversation(source, sid, target, target_id, history=history)
                return target_id, extra
        raise AssertionError("unreachable")

    # ---- history --------------------------------------------------------------------------------

    async def _history(
        self, conversation: Conversation, target_id: str, notes: Counter[NoteKey], pending: tuple[float, list[str]] | None, *,
        fresh: bool, first_page: Page[Message],
    ) -> int:
        """Writes the messages the id map lacks, oldest first, page by page; returns how many.
        `pending`: an earlier run's history write of unknown outcome; `fresh`: the conversation was
        created just now, so the id map holds none of its messages, and the intent of the first
        page's write was recorded with it."""
        source, sid, target = self.source.name, conversation.remote_id, self.target_name
        suspects = set(pending[1]) if pending else set()
        written, after, page = 0, None, first_page
        recorded = fresh
        while True:
            if after is not None:
                page = await self._page(sid, after)
            todo = self._planned(conversation, page.items) if fresh else await self._unmapped(conversation, page.items)
            check = [(m, d) for m, d in todo if d.key in suspects]
            if check:  # a write of these may have happened before a crash: look before writing again
                found = await retrying(lambda: self.target.find_history(target_id, [d for _, d in check]), what="looking for lost history")
                pairs = [(m.remote_id, f) for (m, _), f in zip(check, found, strict=True) if f is not None]
                await self.store.map_messages(source, sid, target, pairs)
                suspects.clear()
                got = {p[0] for p in pairs}
                _count(notes, [d for m, d in check if m.remote_id in got])
                written += len(got)
                todo = [(m, d) for m, d in todo if m.remote_id not in got]
            if todo:
                done = await self._write(sid, target_id, todo, replace=not fresh, recorded=recorded)
                _count(notes, [d for m, d in todo if m.remote_id in done])
                written += len(done)
            recorded = False
            if page.next_cursor is None:
                break
            after = page.next_cursor
        if suspects:
            await self.store.clear_intent(source, sid, target, "history")
        return written

    async def _page(self, remote_id: str, after: str | None) -> Page[Message]:
        return await retrying(lambda: self.source.list_messages(remote_id, first=MESSAGE_PAGE, after=after), what="reading messages")

    async def _with_customer(self, conversation: Conversation, first_page: Page[Message]) -> Conversation:
        """A conversation listed without its customer (a vendor that reads it separately, from the
        earliest inbound message) gets the author of the earliest inbound message of its first page,
        or, when that page has none, the provider's own read."""
        if "customer" not in conversation.missing:
            return conversation
        found = next((m.author for m in first_page.items if m.direction is Direction.INBOUND and m.author is not None), None)
        if found is not None:
            customer = Participant(id=found.id, name=found.name, role=Role.CUSTOMER, email=found.email,
                                   external_id=found.external_id, avatar_url=found.avatar_url)
            return replace(conversation, customer=customer, missing=conversation.missing - {"customer"})
        if implements(self.source, Hydrates):
            reader: Hydrates = self.source  # type: ignore[assignment]
            [whole] = await retrying(lambda: reader.hydrate([conversation], frozenset({"customer"})), what="reading the customer")
            return whole or conversation
        return conversation

    async def _unmapped(self, conversation: Conversation, items: Sequence[Message]) -> list[tuple[Message, HistoryDraft]]:
        done = await self.store.mapped_messages(self.source.name, conversation.remote_id, [m.remote_id for m in items], self.target_name)
        return self._planned(conversation, [m for m in items if m.remote_id not in done])

    def _planned(self, conversation: Conversation, items: Sequence[Message]) -> list[tuple[Message, HistoryDraft]]:
        return [(m, self.target.plan_message(m, customer=conversation.customer)) for m in items]

    async def _write(
        self, sid: str, target_id: str, todo: list[tuple[Message, HistoryDraft]], *, replace: bool, recorded: bool = False,
    ) -> set[str]:
        """Writes entries in the target's batches under one intent; returns the source ids written.
        `replace`: an older history intent of this conversation may still be recorded; `recorded`:
        the intent of exactly these entries is recorded already."""
        source, target = self.source.name, self.target_name
        batch = max(1, self.target.history_batch())
        remaining, done = todo, set[str]()
        for attempt in range(1, ATTEMPTS + 1):
            if not (recorded and attempt == 1):
                await self.store.begin_intent(source, sid, target, "history", [d.key for _, d in remaining], replace=replace or attempt > 1)
            replace = True  # map_messages ended this intent, but only once it ran
            pairs: list[tuple[str, str]] = []
            try:
                for start in range(0, len(remaining), batch):
                    chunk = remaining[start : start + batch]
                    self.guard()
                    ids = await self.target.import_history(target_id, [d for _, d in chunk])
                    pairs.extend((m.remote_id, i) for (m, _), i in zip(chunk, ids, strict=True))
            except TRANSIENT as exc:
                if attempt == ATTEMPTS:
                    raise VendorAway(f"writing history: {exc} (after {ATTEMPTS} attempts)") from exc
                await asyncio.sleep(wait_for(exc, attempt))
                known = {p[0] for p in pairs}
                rest = [(m, d) for m, d in remaining if m.remote_id not in known]
                found = await retrying(lambda: self.target.find_history(target_id, [d for _, d in rest]), what="looking for lost history")
                pairs.extend((m.remote_id, f) for (m, _), f in zip(rest, found, strict=True) if f is not None)
                await self.store.map_messages(source, sid, target, pairs)
                done |= {p[0] for p in pairs}
                remaining = [(m, d) for m, d in remaining if m.remote_id not in done]
                if not remaining:
                    return done
                continue
            except REFUSED:
                await self.store.map_messages(source, sid, target, pairs)  # the refused batch wrote nothing
                raise
            await self.store.map_messages(source, sid, target, pairs)
            return done | {p[0] for p in pairs}
        raise AssertionError("unreachable")

    # ---- dry run --------------------------------------------------------------------------------

    async def _rehearse(self, conversation: Conversation, draft: ImportDraft, mapped: Mapped | None, first_page: Page[Message]) -> Outcome:
        """What a real run would write, from reads only: the notes of what it would lose."""
        notes = Counter[NoteKey]()
        count, after, page = 0, None, first_page
        while True:
            if after is not None:
                page = await self._page(conversation.remote_id, after)
            todo = await self._unmapped(conversation, page.items) if mapped is not None else self._planned(conversation, page.items)
            _count(notes, [d for _, d in todo])
            count += len(todo)
            if page.next_cursor is None:
                break
            after = page.next_cursor
        first = mapped is None or mapped.tags is None
        changed = first or (mapped is not None and (_status(mapped.status) is not draft.status or mapped.tags != draft.tags))
        outcome = "CREATED" if mapped is None else "UPDATED" if count or changed else "UNCHANGED"
        if outcome != "UNCHANGED":
            notes.update(_keys(draft.notes))
        return Outcome(outcome, count, notes)


def _keys(notes: Sequence[FieldNote]) -> list[NoteKey]:
    return [(n.field, n.change.value, n.detail) for n in notes]


def _count(counter: Counter[NoteKey], drafts: Sequence[HistoryDraft]) -> None:
    for draft in drafts:
        counter.update(_keys(draft.notes))


def _status(value: str | None) -> ConversationStatus | None:
    return None if value is None else ConversationStatus(value)


def _look(draft: ImportDraft) -> int:
    """Drafts that look alike to the target share a lock: the same topic, summary (where a target
    writes its marker), customer and page URL."""
    person, new = draft.new.customer, draft.new
    parts = (new.topic, new.summary, person.email, person.external_id, person.name, new.url)
    return zlib.crc32("\x1f".join(str(v) for v in parts).encode())


def _refusal(exc: Exception) -> str:
    """What the report says of a refused conversation: Parley's words, then the vendor's own."""
    text = str(getattr(exc, "message", None) or exc)
    vendor = getattr(exc, "vendor_message", None)
    return f"{text} ({vendor})" if vendor else text
