"""Socialboards as a migration target (`providers.imports.Imports`).

Creation is one call; history goes in batches of up to 100 as message context with the original
`creationTime`; then the takeover (an agent of the same account), the feedback and closing.

A migration leaves nothing extra on Socialboards: its create body has no free field for a marker
that every account has. A conversation whose creation answer was lost is found by what it was
created with: among conversations created since (newest first from the ticket list), one with the
draft's title, page URL and customer (by email or customIdentifier). History entries are found by
their original time and text among the conversation's messages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .._time import parse_datetime
from ..errors import InvalidRequestError, MalformedResponseError, NotFoundError
from ..imports import FIND_MARGIN, Change, FieldNote, HistoryDraft, ImportDraft, Known, StateChange
from ..models import Conversation, ConversationStatus, Message, Participant, ParticipantInput
from . import mapping, plans
from .client import MAX_MESSAGES_TAKE, MAX_TICKETS_TAKE, SocialboardsClient

NEWEST_FIRST = {"orderBy": "creation_time_desc"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SocialboardsImports:
    """Mixed into `SocialboardsProvider`: the `Imports` methods."""

    name: str
    _client: SocialboardsClient
    def history_batch(self) -> int:
        return MAX_MESSAGES_TAKE  # the most one message-context call takes (as a list takes)

    def plan_conversation(self, source: Conversation) -> ImportDraft:
        return plans.plan_conversation(source)

    def plan_message(self, source: Message, *, customer: Participant | None) -> HistoryDraft:
        return plans.plan_message(source, customer=customer)

    async def import_conversation(self, draft: ImportDraft) -> tuple[str, tuple[FieldNote, ...]]:
        raw = await self._client.create_conversation(mapping.build_conversation_payload(draft.new))
        if not mapping.has_id(raw):
            raise MalformedResponseError("the vendor's conversation is not in the documented shape", provider=self.name)
        return str(raw["id"]), ()

    async def find_import(self, draft: ImportDraft, *, created_after: datetime, known: Known | None = None) -> list[str]:
        """Reads, newest first, the tickets created since (less a margin for clock skew) and, of those
        with the draft's title that no other source conversation owns, each conversation."""
        since = created_after - FIND_MARGIN
        found: list[str] = []
        skip = 0
        while True:
            tickets = [t for t in await self._client.list_tickets(NEWEST_FIRST, skip=skip, take=MAX_TICKETS_TAKE) if isinstance(t, dict)]
            recent = [t for t in tickets if (parse_datetime(t.get("creationTime")) or since) >= since]
            alike = [str(t.get("id")) for t in recent if t.get("title") == draft.new.topic]
            owned = await known(alike) if known is not None and alike else set()
            found.extend([i for i in alike if i not in owned and await self._made_by(i, draft)])
            if len(recent) < len(tickets) or len(tickets) < MAX_TICKETS_TAKE:
                return found[::-1]
            skip += len(tickets)

    async def _made_by(self, remote_id: str, draft: ImportDraft) -> bool:
        try:
            raw = await self._client.get_conversation(remote_id)
        except NotFoundError:
            return False
        if not isinstance(raw, dict):
            return False
        found = raw.get("author")
        author: dict[str, Any] = found if isinstance(found, dict) else {}
        wanted = draft.new.customer
        same_person = (wanted.email is not None and _fold(author.get("email")) == _fold(wanted.email)) or (
            wanted.external_id is not None and _fold(author.get("customIdentifier")) == _fold(wanted.external_id.strip())
        )
        return same_person and raw.get("initialPageUrl") == draft.new.url

    async def import_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str]:
        # history is written as its source author wrote it (no stand-in for an unnamed writer)
        items = [mapping.build_message_payload(entry.message, entry.message.author or ParticipantInput(role=entry.message.role))
                 for entry in entries]
        written = await self._client.add_messages(remote_id, items, as_context=True)
        if len(written) != len(entries) or not all(mapping.has_id(w) for w in written):
            raise MalformedResponseError("the vendor did not answer one message per message sent", provider=self.name)
        return [str(w["id"]) for w in written]

    async def find_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str | None]:
        """Matches entries to the conversation's messages by original time (to the millisecond) and
        text; an entry without a time by its text alone."""
        timed: dict[tuple[int | None, str], list[str]] = defaultdict(list)
        by_text: dict[str, list[str]] = defaultdict(list)
        skip = 0
        while True:
            rows = await self._client.list_messages(remote_id, skip=skip, take=MAX_MESSAGES_TAKE, newest_first=False)
            for row in rows:
                if isinstance(row, dict) and "id" in row:
                    text = str(row.get("message"))
                    timed[(_ms(parse_datetime(row.get("creationTime"))), text)].append(str(row["id"]))
                    by_text[text].append(str(row["id"]))
            if len(rows) < MAX_MESSAGES_TAKE:
                break
            skip += len(rows)
        taken: set[str] = set()
        found: list[str | None] = []
        for entry in entries:
            pool = timed[(_ms(entry.message.created_at), entry.message.text)] if entry.message.created_at else by_text[entry.message.text]
            match = next((i for i in pool if i not in taken), None)
            if match is not None:
                taken.add(match)
            found.append(match)
        return found

    async def apply_state(self, remote_id: str, draft: ImportDraft, change: StateChange) -> tuple[FieldNote, ...]:
        if change.add_tags or change.remove_tags:
            raise InvalidRequestError("Socialboards chat conversations have no tags", provider=self.name, field="tags")
        refused: list[FieldNote] = []
        if change.first and draft.assignee_id is not None:
            try:
                await self._client.set_takeover(remote_id, bot=False, assignee_id=draft.assignee_id)
            except InvalidRequestError:
                refused.append(FieldNote("assignee", Change.DROPPED, "unknown in the target account"))
        if change.first and draft.feedback is not None and draft.feedback.positive is not None:
            await self._client.set_feedback(remote_id, positive=draft.feedback.positive, text=draft.feedback.comment)
        if change.reopens(draft.status) and draft.status is not None:
            raise InvalidRequestError(
                f"the conversation is closed on Socialboards and cannot become {draft.status.value} again",
                provider=self.name, field="status",
            )
        if draft.status is ConversationStatus.CLOSED and change.previous is not ConversationStatus.CLOSED:
            await self._client.close(remote_id)
        return tuple(refused)


def _fold(value: Any) -> str | None:
    return value.strip().casefold() if isinstance(value, str) else None


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // timedelta(milliseconds=1)

