"""Infobip notes <-> neutral models. Pure functions: no I/O, no httpx.

From the vendor docs alone (create-note; notes-over-api): a note is internal to agents, unlike a
message, which `POST …/messages` delivers to the customer. Create is `POST …/conversations/{id}/notes`
with `content` (0–4,000 characters, any text), optional `agentId` (the note's creator) and `type`
(`INTERNAL` for a plain note); the answer is the note (`id`, `conversationId`, …). The list
(`GET …/notes`, `{"notes": [...], "pagination"}`) and the other fields of a note (`content`,
`agentId`, `type`, `createdAt`) are inferred, as on the API's other lists and objects.

History goes here, never to `…/messages`: a note cannot reach the customer. Infobip stamps a note
with its own time, so the original author and time are written at the top of its content, and a
migrated note ends with a reference line naming the source message (`(parley pm-…)`), which lets a
resumed migration find the notes it already wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .._time import parse_datetime
from ..models import Direction, Message, NewMessage, Participant, ParticipantInput, Role

NOTE_TYPE = "INTERNAL"
MAX_CONTENT = 4000
CUT = " […]"
REFERENCE = re.compile(r"\(parley (pm-[0-9a-f]{20})\)\s*$")
ROLE_NAMES = {Role.CUSTOMER: "Customer", Role.AGENT: "Agent", Role.BOT: "Bot", Role.SYSTEM: "System"}


class NoteTooLongError(ValueError):
    """The text does not fit a note next to its author line (and reference)."""


def note_content(message: NewMessage, *, reference: str | None = None, cut: bool = False) -> tuple[str, bool]:
    """The note's content: a line naming the original author and time, the text, and the reference
    line when given. With `cut`, a text too long for the note is shortened (the answer then says
    True); without, it raises NoteTooLongError."""
    head = author_line(message.author, message.created_at)
    tail = f"\n(parley {reference})" if reference else ""
    room = MAX_CONTENT - len(head) - len(tail) - 1
    text = message.text
    shortened = len(text) > room
    if shortened:
        if not cut:
            raise NoteTooLongError(f"{len(text)} characters; a note holds {room} besides its author line")
        text = text[: room - len(CUT)] + CUT
    return f"{head}\n{text}{tail}", shortened


def author_line(author: ParticipantInput | None, created_at: datetime | None) -> str:
    """`[History · 2024-05-01 12:00:00 UTC · Customer Jane Doe <jane@example.com>]`"""
    when = created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if created_at else "time unknown"
    return f"[History · {when} · {_who(author)}]"


def _who(author: ParticipantInput | None) -> str:
    if author is None:
        return "author unknown"
    parts = [ROLE_NAMES[author.role]]
    name = author.name or author.external_id or author.id
    if name:
        parts.append(name)
    if author.email and author.email != name:
        parts.append(f"<{author.email}>")
    return " ".join(parts)


def build_note_payload(content: str, *, agent_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content, "type": NOTE_TYPE}
    if agent_id:
        body["agentId"] = agent_id
    return body


def note_reference(raw: Mapping[str, Any]) -> str | None:
    """The `(parley pm-…)` reference a migrated note ends with; None for any other note."""
    content = raw.get("content")
    found = REFERENCE.search(content) if isinstance(content, str) else None
    return found.group(1) if found else None


def parse_note(raw: Mapping[str, Any], *, provider: str, conversation_id: str) -> Message:
    """A note as an imported (history) message; its author is the agent who wrote it, when named."""
    agent = raw.get("agentId")
    content = raw.get("content")
    return Message(
        provider=provider,
        remote_id=str(raw["id"]),
        conversation_remote_id=str(raw.get("conversationId") or conversation_id),
        text=content if isinstance(content, str) else None,
        author=None if agent is None else Participant(id=str(agent), name=None, role=Role.AGENT),
        direction=Direction.OUTBOUND,
        created_at=parse_datetime(raw.get("createdAt")),
        imported=True,
        vendor_data=raw,
    )
