"""Infobip as a migration target (`providers.imports.Imports`), and history as notes.

History (`add_messages(as_context=True)` and migrated messages) becomes INTERNAL notes, one per
message, never `POST …/messages`, which would deliver it to the customer. What a migration leaves
on Infobip for finding its own writes again: a line at the end of each conversation's summary
naming the source conversation and its marker (`plans.provenance`), and a reference line at the end
of each note (`notes.note_content`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import InvalidRequestError, MalformedResponseError
from ..imports import FIND_MARGIN, Change, FieldNote, HistoryDraft, ImportDraft, Known, StateChange
from ..models import Conversation, ConversationStatus, Message, NewMessage, Participant, Role
from . import mapping, notes, plans
from .client import MAX_LIMIT, InfobipClient, unknown_tag

# Create-body fields a target account may not know, and the report's name for each.
ACCOUNT_REFERENCES = {"agentId": "assignee", "queueId": "queue"}


class InfobipImports:
    """Mixed into `InfobipProvider`: the `Imports` methods and the notes behind history."""

    name: str
    _client: InfobipClient
    def history_batch(self) -> int:
        return 1  # one note per call: the notes API takes one at a time

    async def _link(self, conversation_id: str, tag: str) -> None: ...  # InfobipProvider's

    def plan_conversation(self, source: Conversation) -> ImportDraft:
        return plans.plan_conversation(source)

    def plan_message(self, source: Message, *, customer: Participant | None) -> HistoryDraft:
        return plans.plan_message(source, customer=customer)

    async def import_conversation(self, draft: ImportDraft) -> tuple[str, tuple[FieldNote, ...]]:
        """One create call with the status, agent and queue in its body; an agent or queue the
        account does not know is left out (and said so) rather than refusing the conversation."""
        body = mapping.build_conversation_payload(draft.new)
        if draft.initial_status is not None:
            body["status"] = mapping.STATUS_TO_VENDOR[draft.initial_status]
        if draft.assignee_id:
            body["agentId"] = draft.assignee_id
        if draft.queue_id:
            body["queueId"] = draft.queue_id
        refused: list[FieldNote] = []
        while True:
            try:
                raw = await self._client.create_conversation(body)
                break
            except InvalidRequestError as exc:
                if exc.field not in ACCOUNT_REFERENCES or exc.field not in body:
                    raise
                body.pop(exc.field)
                refused.append(FieldNote(ACCOUNT_REFERENCES[exc.field], Change.DROPPED, "unknown in the target account"))
        if not mapping.has_id(raw):
            raise MalformedResponseError("the vendor's conversation is not in the documented shape", provider=self.name)
        return mapping.row_id(raw), tuple(refused)

    async def find_import(self, draft: ImportDraft, *, created_after: datetime, known: Known | None = None) -> list[str]:
        """Conversations created since (less a margin for clock skew) whose summary carries the marker."""
        query: dict[str, Any] = {"createdAfter": created_after - FIND_MARGIN, **mapping.order_params("createdAt", False)}
        found: list[str] = []
        page = 0
        while True:
            rows = await self._client.list_conversations({**query, "limit": MAX_LIMIT, "page": page})
            found.extend(mapping.row_id(r) for r in rows if isinstance(r, dict) and draft.marker in str(r.get("summary") or ""))
            if len(rows) < MAX_LIMIT:
                return found
            page += 1

    async def import_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str]:
        ids = []
        for entry in entries:
            content, _ = notes.note_content(entry.message, reference=entry.key, cut=True)
            raw = await self._client.create_note(remote_id, notes.build_note_payload(content))
            ids.append(self._note_id(raw))
        return ids

    async def find_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str | None]:
        """Reads the conversation's notes and matches their reference lines."""
        written: dict[str, str] = {}
        page = 0
        while True:
            rows = await self._client.list_notes(remote_id, page=page)
            for row in rows:
                reference = notes.note_reference(row) if isinstance(row, dict) else None
                if reference is not None:
                    written.setdefault(reference, self._note_id(row))
            if len(rows) < MAX_LIMIT:
                return [written.get(entry.key) for entry in entries]
            page += 1

    async def apply_state(self, remote_id: str, draft: ImportDraft, change: StateChange) -> tuple[FieldNote, ...]:
        """Tags, then the status (a PATCH; closing is final on Infobip, so it comes last)."""
        for tag in change.add_tags:
            await self._link(remote_id, tag)
        for tag in change.remove_tags:
            try:
                await self._client.unlink_tag(remote_id, tag)
            except InvalidRequestError as exc:
                if not unknown_tag(exc):
                    raise
        status = draft.status
        if status is not None and status is not change.previous:
            if change.reopens(status):
                raise InvalidRequestError(
                    f"the conversation is CLOSED on Infobip and cannot become {status.value} again",
                    provider=self.name, field="status",
                )
            await self._client.patch_conversation(remote_id, {"status": mapping.STATUS_TO_VENDOR[status]})
        return ()

    async def _add_history(self, remote_id: str, messages: Sequence[NewMessage]) -> list[Message]:
        """Each message as an INTERNAL note naming its author and original time (all checked first).
        An agent author's id is the note's `agentId`: the caller names an agent of this account."""
        contents = []
        for index, message in enumerate(messages, start=1):
            if not message.text or not message.text.strip():
                raise InvalidRequestError(f"message {index} has no text", provider=self.name, field="text")
            try:
                contents.append(notes.note_content(message)[0])
            except notes.NoteTooLongError as exc:
                raise InvalidRequestError(f"message {index}: {exc}", provider=self.name, field="text") from exc
        written = []
        for message, content in zip(messages, contents, strict=True):
            agent = message.author.id if message.author is not None and message.author.role is Role.AGENT else None
            raw = await self._client.create_note(remote_id, notes.build_note_payload(content, agent_id=agent))
            self._note_id(raw)
            written.append(notes.parse_note(raw, provider=self.name, conversation_id=remote_id))
        return written

    def _note_id(self, raw: Any) -> str:
        if not isinstance(raw, dict) or raw.get("id") is None:
            raise MalformedResponseError("the vendor's note is not in the documented shape", provider=self.name)
        return str(raw["id"])
