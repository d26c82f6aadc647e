"""What Infobip keeps of a conversation migrated from elsewhere. Pure functions: no I/O.

Infobip creates a conversation with topic (≤ 255), summary (≤ 4,000), status, priority, channel,
queue and agent; tags are linked after; history becomes internal notes (`notes.py`), never messages.
The summary ends with a line naming the source conversation and its migration marker, which is how
a resumed migration finds a conversation whose creation answer was lost (it lists conversations
created since, and reads their summaries).
"""

from __future__ import annotations

from dataclasses import replace

from ..imports import Change, FieldNote, HistoryDraft, ImportDraft, history_author, marker_of, present
from ..models import Channel, Conversation, ConversationStatus, Message, NewConversation, NewMessage, Participant, ParticipantInput
from . import mapping
from .notes import note_content

MAX_TOPIC = 255
MAX_SUMMARY = 4000
NO_TEXT = "(a message without text)"
NOT_ON_INFOBIP = {
    "initial_page_url": "Infobip conversations have no page URLs",
    "sentiment": "Infobip conversations have no sentiment",
    "category_id": "Infobip conversations have no category",
    "custom_fields": "Infobip conversations have no custom fields",
    "bot_active": "Infobip conversations have no bot flag",
    "feedback": "Infobip conversations have no feedback",
    "campaign": "Infobip conversations belong to no campaign",
    "customer": "Infobip takes the customer from inbound messages; each history note names its author",
}
# Unified statuses Infobip has no word for, and what a migrated conversation gets instead.
STATUS_INSTEAD = {ConversationStatus.NEW: ConversationStatus.OPEN, ConversationStatus.UNKNOWN: ConversationStatus.OPEN}


def provenance(source: Conversation, marker: str) -> str:
    return f"Migrated by Parley from {source.vendor} conversation {source.remote_id} ({marker})"


def plan_conversation(source: Conversation) -> ImportDraft:
    marker = marker_of(source.provider, source.remote_id)
    notes = present(source, NOT_ON_INFOBIP)
    same_vendor = source.vendor == mapping.VENDOR
    topic = source.topic
    if topic is not None and len(topic) > MAX_TOPIC:
        topic = topic[: MAX_TOPIC - 1] + "…"
        notes.append(FieldNote("topic", Change.TRANSFORMED, f"cut to {MAX_TOPIC} characters"))
    summary = _summary(source, marker, notes)
    priority = source.priority if source.priority in mapping.PRIORITY_TO_VENDOR else None
    if priority is None:
        shown = "none" if source.priority is None else source.priority.value
        notes.append(FieldNote("priority", Change.DEFAULTED, f"{shown} → NORMAL"))
    channel = source.channel if source.channel in mapping.CHANNEL_TO_VENDOR else None
    if channel is None:
        shown = "none" if source.channel is None else source.channel.value
        notes.append(FieldNote("channel", Change.DEFAULTED, f"{shown} → {Channel.NO_CHANNEL.value}"))
    status = STATUS_INSTEAD.get(source.status, source.status)
    if status is not source.status:
        change = Change.DEFAULTED if source.status is ConversationStatus.UNKNOWN else Change.TRANSFORMED
        notes.append(FieldNote("status", change, f"{source.status.value} → {status.value}"))
    tags = tuple(t for t in dict.fromkeys(source.tags) if t.strip() and len(t) <= mapping.MAX_TAG_NAME)
    if len(tags) < len(set(source.tags)):
        notes.append(FieldNote("tags", Change.DROPPED, f"names over {mapping.MAX_TAG_NAME} characters or blank"))
    assignee = source.assignee.id if source.assignee is not None and same_vendor else None
    if source.assignee is not None and not same_vendor:
        notes.append(FieldNote("assignee", Change.DROPPED, "agents are users of the source account"))
    queue = source.queue.id if source.queue is not None and same_vendor else None
    if source.queue is not None and source.queue.id is not None and not same_vendor:
        notes.append(FieldNote("queue", Change.DROPPED, "queues belong to the source account"))
    new = NewConversation(customer=ParticipantInput(), topic=topic, summary=summary, priority=priority, channel=channel)
    return ImportDraft(
        source_provider=source.provider, source_id=source.remote_id, new=new, status=status,
        initial_status=ConversationStatus.OPEN if status is ConversationStatus.CLOSED else status,
        tags=tags, assignee_id=assignee, queue_id=queue, notes=tuple(notes),
    )


def _summary(source: Conversation, marker: str, notes: list[FieldNote]) -> str:
    line = provenance(source, marker)
    if not source.summary:
        notes.append(FieldNote("summary", Change.TRANSFORMED, "a line naming the source conversation is the summary"))
        return line
    room = MAX_SUMMARY - len(line) - 2
    kept = source.summary if len(source.summary) <= room else source.summary[: room - 1] + "…"
    detail = "a line naming the source conversation is added" + ("" if kept == source.summary else "; cut to fit")
    notes.append(FieldNote("summary", Change.TRANSFORMED, detail))
    return f"{kept}\n\n{line}"


def plan_message(source: Message, *, customer: Participant | None) -> HistoryDraft:
    """A source message as an INTERNAL note: its author and original time written at the top."""
    key = marker_of(source.provider, source.conversation_remote_id, source.remote_id)
    notes = [FieldNote("message", Change.TRANSFORMED, "an internal note naming its author and original time")]
    text = source.text if source.text and source.text.strip() else None
    if text is None:
        notes.append(FieldNote("message.text", Change.DEFAULTED, f"no text → {NO_TEXT!r}"))
    author = history_author(source, customer)
    if author is None:
        notes.append(FieldNote("message.author", Change.DROPPED, "the source names no author"))
    message = NewMessage(text=text or NO_TEXT, author=author, created_at=source.created_at)
    content, cut = note_content(message, reference=key, cut=True)
    if cut:
        notes.append(FieldNote("message.text", Change.TRANSFORMED, "cut to fit a 4,000-character note"))
        body = content.split("\n", 1)[1].rsplit("\n", 1)[0]
        message = replace(message, text=body)
    return HistoryDraft(key=key, message=message, notes=tuple(notes))

