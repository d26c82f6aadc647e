"""Records, error kinds and camelCase wire shapes of the Socialboards sandbox.

Error catalogue (the vendor's own codes are undocumented, so these are the sandbox's, stable per kind;
the HTTP status follows docs/socialboards.md):

====  ======================  ======  ==================================================
code  kind                    status  when
====  ======================  ======  ==================================================
1     INVALID_REQUEST         400     bad JSON, wrong field type, bad paging or enum value
2     INVALID_USER            400     author without id/email/customIdentifier, bad image
3     FUTURE_CREATION_TIME    400     a creationTime more than 30 s ahead of server time
4     CONVERSATION_CLOSED     400     messages or takeover changes on a closed conversation
10    UNAUTHORIZED            401     missing, unknown or expired bearer token
20    CONVERSATION_NOT_FOUND  404     unknown (or non-integer) conversation id
21    ENDPOINT_NOT_FOUND      404     no such path
22    METHOD_NOT_ALLOWED      405     path exists, method does not
30    RATE_LIMITED            429     injected fault (with ``Retry-After``)
50    INTERNAL_ERROR          500     injected fault
====  ======================  ======  ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from starlette.responses import JSONResponse

JsonDict = dict[str, Any]

CLIENT_STATUS = "client"
AGENT_STATUS = "agent"
DEFAULT_SENTIMENT = "question"
ORDER_ASC = "creation_time_asc"
ORDER_DESC = "creation_time_desc"


class ErrorCode(IntEnum):
    INVALID_REQUEST = 1
    INVALID_USER = 2
    FUTURE_CREATION_TIME = 3
    CONVERSATION_CLOSED = 4
    UNAUTHORIZED = 10
    CONVERSATION_NOT_FOUND = 20
    ENDPOINT_NOT_FOUND = 21
    METHOD_NOT_ALLOWED = 22
    RATE_LIMITED = 30
    INTERNAL_ERROR = 50


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_USER: 400,
    ErrorCode.FUTURE_CREATION_TIME: 400,
    ErrorCode.CONVERSATION_CLOSED: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.CONVERSATION_NOT_FOUND: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
}


class SandboxError(Exception):
    """A failure the sandbox reports in the error envelope."""

    def __init__(self, code: ErrorCode, text: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]


def envelope(data: object) -> JSONResponse:
    return JSONResponse({"data": data, "errorCode": -1, "errorText": None})


def error_response(error: SandboxError, *, status: int | None = None) -> JSONResponse:
    body = {"data": None, "errorCode": int(error.code), "errorText": error.text}
    return JSONResponse(body, status_code=status or error.status, headers=error.headers)


@dataclass(slots=True)
class User:
    id: str
    name: str | None
    email: str | None
    custom_identifier: str | None
    image: str | None
    status: str
    is_bot: bool = False


@dataclass(slots=True)
class Message:
    id: int
    author: User
    text: str
    creation_time: datetime
    last_modified_time: datetime


@dataclass(frozen=True, slots=True)
class Feedback:
    is_positive: bool
    text: str | None


@dataclass(frozen=True, slots=True)
class FieldValue:
    id: int
    value: object


@dataclass(slots=True)
class Conversation:
    id: int
    author: User
    title: str | None
    initial_page_url: str | None
    latest_page_url: str | None
    category_id: int | None
    sentiment: str
    fields: list[FieldValue]
    creation_time: datetime
    last_modified_time: datetime
    is_assigned_to_bot: bool
    assignee_id: str | None = None
    # An agent has picked it up (replied or was assigned), so it never goes back into the queue.
    is_handled: bool = False
    is_closed: bool = False
    feedback: Feedback | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    position: int
    wait_time: int | None


def format_time(moment: datetime) -> str:
    """ISO-8601 with offset and seven fractional digits, as the vendor's .NET backend prints them."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond:06d}0+00:00"  # %Y writes year 1 as "1"


def parse_time(raw: str, where: str) -> datetime:
    """Accept any ISO-8601 form the docs show (1-7 fractional digits, offset or Z); naive means UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        text = f"{where}: {raw!r} is not an ISO-8601 date-time such as 2023-10-19T10:00:58.84+00:00"
        raise SandboxError(ErrorCode.INVALID_REQUEST, text) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def user_json(user: User) -> JsonDict:
    return {
        "customIdentifier": user.custom_identifier,
        "id": user.id,
        "name": user.name,
        "image": user.image,
        "email": user.email,
        "status": user.status,
        "isBot": user.is_bot,
    }


def message_json(message: Message) -> JsonDict:
    return {
        "author": user_json(message.author),
        "creationTime": format_time(message.creation_time),
        "id": message.id,
        "lastModifiedTime": format_time(message.last_modified_time),
        "message": message.text,
    }


def feedback_json(feedback: Feedback | None) -> JsonDict | None:
    if feedback is None:
        return None
    return {"isPositive": feedback.is_positive, "text": feedback.text}


def queue_json(info: QueueInfo) -> JsonDict:
    return {"position": info.position, "waitTime": info.wait_time}


def conversation_json(conversation: Conversation, queue: QueueInfo, messages: list[Message]) -> JsonDict:
    """The full documented Conversation object; ``messages`` is whatever window the caller chose."""
    return {
        "author": user_json(conversation.author),
        "creationTime": format_time(conversation.creation_time),
        "feedback": feedback_json(conversation.feedback),
        "fields": [{"id": item.id, "value": item.value} for item in conversation.fields],
        "id": conversation.id,
        "initialPageUrl": conversation.initial_page_url,
        "isClosed": conversation.is_closed,
        "isTakeoverEnabled": not conversation.is_assigned_to_bot,
        "lastModifiedTime": format_time(conversation.last_modified_time),
        "latestPageUrl": conversation.latest_page_url,
        "messages": [message_json(message) for message in messages],
        "queuePositionInfo": queue_json(queue),
        "totalMessagesCount": len(conversation.messages),
    }


def ticket_json(conversation: Conversation) -> JsonDict:
    """Ticket summary returned by ``POST tickets/list`` (shape fixed in docs/socialboards.md): the
    Ticket object's title, sentiment and category, which the chat Conversation object lacks."""
    category = conversation.category_id
    return {
        "id": conversation.id,
        "title": conversation.title,
        "isClosed": conversation.is_closed,
        "creationTime": format_time(conversation.creation_time),
        "lastModifiedTime": format_time(conversation.last_modified_time),
        "sentiment": conversation.sentiment,
        "category": None if category is None else {"id": category},  # a Category model; only its id is known
    }
