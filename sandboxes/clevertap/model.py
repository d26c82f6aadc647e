"""Records, the error type and the wire shapes of the CleverTap-style Conversations sandbox.

Every answer is a JSON object keyed by ``status``: ``{"status": "success", ...payload keys...}`` or,
with an HTTP error status, ``{"status": "fail", "error": "<message>", "code": <the HTTP status>}``.

====  ==================================================================================
code  when
====  ==================================================================================
400   bad JSON, unknown body key, wrong type or value, batch_size outside 1..5000,
      unknown or expired cursor, empty reply text, inbound ``ts`` in the future
401   missing or wrong ``X-CleverTap-Account-Id`` / ``X-CleverTap-Passcode``
403   the agent's email is not a dashboard user, or the user's role is not Agent or Admin
404   unknown conversation or campaign id; no endpoint at that path
405   the path exists but not with that method (``Allow`` lists the methods)
409   the conversation is handled by another agent (first agent wins)
422   reply to an inactive conversation (the 24-hour window has closed)
429   too many concurrent requests
500   unexpected sandbox failure; injected faults may answer any 4xx/5xx
====  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

JsonDict = dict[str, Any]

ROLES = ("Admin", "Member", "Creator", "Approver", "Agent")
CHAT_ROLES = frozenset({"Agent", "Admin"})
TICKET_STATUSES = ("New", "Pending", "Closed")
NEW = "New"
INBOUND = "inbound"
OUTBOUND = "outbound"
ACTIVE = "active"
INACTIVE = "inactive"
ACTIVE_WINDOW_SECONDS = 24 * 3600
LISTED_SECONDS = 15 * 24 * 3600


class SandboxError(Exception):
    """A failure answered in the fail envelope; ``status`` is both the HTTP status and ``code``."""

    def __init__(self, status: int, text: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = dict(headers or {})


def invalid(text: str) -> SandboxError:
    return SandboxError(400, text)


def success(**payload: object) -> JSONResponse:
    return JSONResponse({"status": "success", **payload})


def fail(status: int, text: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "fail", "error": text, "code": status}, status_code=status, headers=headers)


def error_response(error: SandboxError) -> JSONResponse:
    return fail(error.status, error.text, error.headers)


# -- configuration records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DashboardUser:
    """A user of the CleverTap dashboard; only roles Agent and Admin may chat."""

    id: str
    email: str
    name: str
    role: str

    @property
    def can_chat(self) -> bool:
        return self.role in CHAT_ROLES


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign users reply to; ``channel`` is lowercase (``whatsapp``, ``sms``, ...) or None."""

    id: int
    name: str
    labels: tuple[str, ...] = ()
    channel: str | None = None


# -- conversation records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    direction: str
    text: str
    ts: int
    agent: DashboardUser | None = None


@dataclass(slots=True)
class Conversation:
    id: str
    identity: str
    object_id: str
    user_name: str
    campaign: Campaign
    created_ts: int
    updated_ts: int
    last_user_reply_ts: int
    ticket_status: str = NEW
    agent: DashboardUser | None = None
    # Kept in (ts, id) order, so the last one is the latest message.
    messages: list[Message] = field(default_factory=list)

    def state(self, now_ts: int) -> str:
        return ACTIVE if now_ts - self.last_user_reply_ts < ACTIVE_WINDOW_SECONDS else INACTIVE

    def listed(self, now_ts: int) -> bool:
        return now_ts - self.last_user_reply_ts <= LISTED_SECONDS


# -- wire shapes -----------------------------------------------------------------------------------


def agent_json(user: DashboardUser | None) -> JsonDict | None:
    return None if user is None else {"id": user.id, "email": user.email, "name": user.name}


def message_json(message: Message) -> JsonDict:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "type": "text",
        "text": message.text,
        "ts": message.ts,
        "agent": agent_json(message.agent),
    }


def conversation_json(conversation: Conversation, now_ts: int) -> JsonDict:
    """The Conversation record; ``state`` is computed for the moment ``now_ts``."""
    last = conversation.messages[-1] if conversation.messages else None
    campaign = conversation.campaign
    return {
        "id": conversation.id,
        "identity": conversation.identity,
        "objectId": conversation.object_id,
        "user_name": conversation.user_name,
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "labels": list(campaign.labels),
        "channel": campaign.channel,
        "ticket_status": conversation.ticket_status,
        "state": conversation.state(now_ts),
        "agent": agent_json(conversation.agent),
        "last_message": None if last is None else {"id": last.id, "text": last.text, "ts": last.ts, "direction": last.direction},
        "last_user_reply_ts": conversation.last_user_reply_ts,
        "created_ts": conversation.created_ts,
        "updated_ts": conversation.updated_ts,
        "message_count": len(conversation.messages),
    }
