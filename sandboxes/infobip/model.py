"""Records, enumerations, error bodies and wire shapes of the Infobip sandbox.

Two error shapes, as docs/infobip.md fixes them:

- the Conversations API's own ``{"statusCode": "ERROR", "message": "..."}`` for every failure the
  service itself reports (400 invalid input or rule violation, 404 unknown entity or path, 405);
- the platform's ``{"requestError": {"serviceException": {"messageId", "text"}}}`` for what the
  gateway in front of it refuses (401, 403, 429); built in ``gate``.

Action endpoints without a resource to return answer ``{"statusCode": "SUCCESS", "message": "..."}``.
Times are written ``2024-01-01T00:00:00.000+0000`` and ids are UUID strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

JsonDict = dict[str, Any]

STATUSES = ("OPEN", "WAITING", "SOLVED", "CLOSED")
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")  # by rank: orderBy=priority:asc puts LOW first
MESSAGE_CHANNELS = (
    "SMS",
    "VIBER",
    "FACEBOOK_MESSENGER",
    "WHATSAPP",
    "RCS",
    "LIVE_CHAT",
    "LINE",
    "GOOGLE_BUSINESS_MESSAGES",
    "TELEGRAM",
    "INSTAGRAM_MESSAGING",
    "KAKAO_SANGDAM",
    "TWITTER_DM",
    "VIBER_BOT",
    "APPLE_BUSINESS_CHAT",
    "EMAIL",
)
CONVERSATION_CHANNELS = (*MESSAGE_CHANNELS, "UNKNOWN", "MULTICHANNEL", "NO_CHANNEL")
DIRECTIONS = ("INBOUND", "OUTBOUND")
CONTENT_TYPES = ("TEXT", "IMAGE", "LOCATION", "TEMPLATE", "AUDIO", "VIDEO", "DOCUMENT", "CONTACT")
AGENT_STATUSES = ("ACTIVE", "BUSY", "INVISIBLE", "AWAY")
AGENT_ROLES = ("AGENT", "SUPERVISOR")

DEFAULT_STATUS = "OPEN"
DEFAULT_PRIORITY = "NORMAL"
DEFAULT_CHANNEL = "NO_CHANNEL"
CLOSED = "CLOSED"
INBOUND, OUTBOUND = DIRECTIONS
TEXT = "TEXT"

MISSING_BODY = "Required request body is missing or not valid"


class SandboxError(Exception):
    """A failure answered in the Conversations API's ``statusCode: ERROR`` shape."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def invalid(message: str) -> SandboxError:
    return SandboxError(400, message)


def unknown(kind: str, value: str) -> SandboxError:
    """404 in the documented wording: ``Invalid id '…' given! No such entity exists.``"""
    return SandboxError(404, f"Invalid {kind} '{value}' given! No such entity exists.")


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"statusCode": "ERROR", "message": message}, status_code=status, headers=headers)


def success(message: str) -> JSONResponse:
    return JSONResponse({"statusCode": "SUCCESS", "message": message})


# -- records ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    id: str
    conversation_id: str
    sender: str
    recipient: str
    channel: str
    direction: str
    content_type: str
    content: JsonDict
    created_at: datetime


@dataclass(slots=True)
class Note:
    """An agent's internal note on a conversation: never sent to the customer, never a message."""

    id: str
    conversation_id: str
    agent_id: str | None
    type: str
    content: str
    created_at: datetime
    sequence: int = 0  # the order notes were written in: ties of createdAt are listed in it


@dataclass(slots=True)
class Conversation:
    id: str
    topic: str | None
    summary: str | None
    status: str
    priority: str
    queue_id: str | None
    agent_id: str | None
    channel: str
    created_at: datetime
    updated_at: datetime
    tags: list[str] = field(default_factory=list)  # names, in the order they were linked
    messages: list[Message] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass(slots=True)
class Tag:
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Agent:
    id: str
    display_name: str
    status: str
    role: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Queue:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    agent_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RoutingRule:
    name: str | None
    queue_id: str
    priority: str
    enabled: bool
    expression: str


# -- time ------------------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """``2024-01-01T00:00:00.000+0000``: milliseconds and a colon-less UTC offset, as the seed writes."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"  # %Y writes year 1 as "1"


def parse_time(raw: str, where: str) -> datetime:
    """Accepts ``+0000``, ``+00:00`` and ``Z`` offsets; a time without an offset is UTC.

    A ``+`` sent unescaped in a query string arrives as a space, so a space before the offset is
    read as ``+`` rather than refused.
    """
    text = raw.strip()
    if len(text) > 19 and text[-5] == " " and text[-4:].isdigit():
        text = f"{text[:-5]}+{text[-4:]}"
    elif len(text) > 19 and text[-6] == " " and text[-3] == ":":
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"{where} '{raw}' is not a date-time like 2024-01-01T00:00:00.000+0000") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- wire shapes -----------------------------------------------------------------------------------


def conversation_json(conversation: Conversation) -> JsonDict:
    return {
        "id": conversation.id,
        "topic": conversation.topic,
        "summary": conversation.summary,
        "status": conversation.status,
        "priority": conversation.priority,
        "queueId": conversation.queue_id,
        "agentId": conversation.agent_id,
        "createdAt": format_time(conversation.created_at),
        "updatedAt": format_time(conversation.updated_at),
        "channel": conversation.channel,
    }


def message_json(message: Message, *, plain_text: bool = False) -> JsonDict:
    """``plain_text`` writes TEXT content as the legacy bare string; other content stays an object."""
    content: object = message.content
    if plain_text and message.content_type == TEXT:
        content = message.content.get("text")
    return {
        "id": message.id,
        "from": message.sender,
        "to": message.recipient,
        "channel": message.channel,
        "direction": message.direction,
        "conversationId": message.conversation_id,
        "createdAt": format_time(message.created_at),
        "updatedAt": format_time(message.created_at),
        "contentType": message.content_type,
        "content": content,
    }


def tag_json(tag: Tag) -> JsonDict:
    return {"name": tag.name, "createdAt": format_time(tag.created_at), "updatedAt": format_time(tag.updated_at)}


def agent_json(agent: Agent) -> JsonDict:
    return {
        "id": agent.id,
        "displayName": agent.display_name,
        "status": agent.status,
        "role": agent.role,
        "enabled": agent.enabled,
        "createdAt": format_time(agent.created_at),
        "updatedAt": format_time(agent.updated_at),
    }


def queue_json(queue: Queue) -> JsonDict:
    return {
        "id": queue.id,
        "name": queue.name,
        "createdAt": format_time(queue.created_at),
        "updatedAt": format_time(queue.updated_at),
    }


def rule_json(rule: RoutingRule) -> JsonDict:
    return {
        "name": rule.name,
        "queueId": rule.queue_id,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "expression": rule.expression,
    }
