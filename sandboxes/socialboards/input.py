"""Validation of request bodies and query strings into typed drafts.

Everything here is pure: a draft is fully checked before the sandbox writes anything, which is how a
request with one bad item out of many stores none of them. Error texts name the field path and value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ..kit import JsonFields, json_kind
from .model import (
    DEFAULT_SENTIMENT,
    ORDER_ASC,
    ORDER_DESC,
    ErrorCode,
    FieldValue,
    SandboxError,
    parse_time,
)

MAX_MESSAGES_TAKE = 100
MAX_TICKETS_TAKE = 50
DEFAULT_TICKETS_TAKE = 25
TICKET_ORDERS = ("last_modified_time_desc", "last_modified_time_asc", ORDER_DESC, ORDER_ASC)


@dataclass(frozen=True, slots=True)
class UserValue:
    """A validated User value (vendor docs, objects/user-value); identifiers already normalised."""

    id: str | None = None
    email: str | None = None
    custom_identifier: str | None = None
    name: str | None = None
    image: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class MessageDraft:
    author: UserValue
    text: str
    creation_time: datetime | None
    is_by_team: bool


@dataclass(frozen=True, slots=True)
class ConversationDraft:
    author: UserValue
    title: str | None
    url: str | None
    sentiment: str
    category_id: int | None
    fields: tuple[FieldValue, ...]
    is_bot_enabled: bool


@dataclass(frozen=True, slots=True)
class TicketQuery:
    skip: int
    take: int
    is_closed: bool | None
    modified_after: datetime | None
    order_by: str
    ticket_ids: frozenset[int] | None = None  # documented: "It can be used to fetch tickets by id(s)"


def invalid(text: str) -> SandboxError:
    return SandboxError(ErrorCode.INVALID_REQUEST, text)


_fields = JsonFields(invalid)
as_object, opt_str, req_str, opt_bool, opt_int = _fields.obj, _fields.opt_str, _fields.req_str, _fields.opt_bool, _fields.opt_int


def parse_user_value(raw: object, where: str) -> UserValue:
    obj = as_object(raw, where)
    if opt_bool(obj, "isBot", where):
        return UserValue(is_bot=True)  # the docs say every identifier is ignored for bots
    user_id, email = opt_str(obj, "id", where), opt_str(obj, "email", where)
    custom = opt_str(obj, "customIdentifier", where)
    name, image = opt_str(obj, "name", where), opt_str(obj, "image", where)
    user_id = _guid(user_id, f"{where}.id", ErrorCode.INVALID_USER) if user_id and user_id.strip() else None
    email = (email.strip() or None) if email else None
    custom = (custom.strip().lower() or None) if custom else None
    if user_id is None and email is None and custom is None:
        text = f"{where} needs at least one of id, email or customIdentifier (or isBot: true)"
        raise SandboxError(ErrorCode.INVALID_USER, text)
    if image is not None and not _is_url(image):
        raise SandboxError(ErrorCode.INVALID_USER, f"{where}.image {image!r} is not a well-formed absolute URL")
    return UserValue(user_id, email, custom, name, image)


def parse_conversation_draft(raw: object) -> ConversationDraft:
    obj = as_object(raw, "body")
    if obj.get("author") is None:
        raise invalid("body.author is required")
    return ConversationDraft(
        author=parse_user_value(obj["author"], "author"),
        title=opt_str(obj, "title", "body"),
        url=opt_str(obj, "url", "body"),
        sentiment=(opt_str(obj, "sentiment", "body") or DEFAULT_SENTIMENT).strip().lower(),
        category_id=opt_int(obj, "categoryId", "body"),
        fields=_field_values(obj.get("fields")),
        is_bot_enabled=bool(opt_bool(obj, "isBotEnabled", "body")),
    )


def parse_message_drafts(raw: object) -> list[MessageDraft]:
    if not isinstance(raw, list):
        raise invalid(f"body must be a JSON array of messages, got {json_kind(raw)}")
    return [_message_draft(item, f"[{index}]") for index, item in enumerate(raw)]


def _message_draft(raw: object, where: str) -> MessageDraft:
    obj = as_object(raw, where)
    if obj.get("author") is None:
        raise invalid(f"{where}.author is required")
    created = opt_str(obj, "creationTime", where)
    return MessageDraft(
        author=parse_user_value(obj["author"], f"{where}.author"),
        text=req_str(obj, "message", where),
        creation_time=parse_time(created, f"{where}.creationTime") if created else None,
        # The docs leave null to a "system default"; the sandbox's default is "from the client".
        is_by_team=bool(opt_bool(obj, "isByTeam", where)),
    )


def _field_values(raw: object) -> tuple[FieldValue, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid(f"body.fields must be an array of {{id, value}} objects, got {json_kind(raw)}")
    return tuple(_field_value(item, f"fields[{index}]") for index, item in enumerate(raw))


def _field_value(raw: object, where: str) -> FieldValue:
    obj = as_object(raw, where)
    # The Ticket API filter writes the field id as "key"; accept it as an alias of "id".
    key = "id" if "id" in obj else "key"
    field_id = opt_int(obj, key, where)
    if field_id is None:
        raise invalid(f"{where}.id is required and must be an integer")
    value = obj.get("value")
    if isinstance(value, dict | list):
        raise invalid(f"{where}.value must be a string, number, boolean or null")
    return FieldValue(field_id, value)


def parse_takeover(raw: object) -> tuple[bool, str | None]:
    obj = as_object(raw, "body")
    flag = opt_bool(obj, "isAssignedToBot", "body")
    if flag is None:
        raise invalid("body.isAssignedToBot is required (false starts a takeover)")
    assignee = opt_str(obj, "assigneeId", "body")
    return flag, _guid(assignee, "body.assigneeId") if assignee else None


def parse_feedback(raw: object) -> tuple[bool, str | None]:
    obj = as_object(raw, "body")
    positive = opt_bool(obj, "isPositive", "body")
    if positive is None:
        raise invalid("body.isPositive is required and must be true or false")
    return positive, opt_str(obj, "text", "body")


def parse_latest_url(raw: object) -> str:
    return req_str(as_object(raw, "body"), "url", "body")


def parse_ticket_query(raw: object) -> TicketQuery:
    obj = as_object({} if raw is None else raw, "body")
    skip = _bounded(opt_int(obj, "skip", "body"), "body.skip", 0, 0, None)
    take = _bounded(opt_int(obj, "take", "body"), "body.take", DEFAULT_TICKETS_TAKE, 1, MAX_TICKETS_TAKE)
    after = opt_str(obj, "modifiedAfter", "body")
    order = opt_str(obj, "orderBy", "body") or TICKET_ORDERS[0]
    if order not in TICKET_ORDERS:
        raise invalid(f"body.orderBy {order!r} is not one of {', '.join(TICKET_ORDERS)}")
    modified_after = parse_time(after, "body.modifiedAfter") if after else None
    return TicketQuery(skip, take, opt_bool(obj, "isClosed", "body"), modified_after, order, _ticket_ids(obj.get("ticketIds")))


def _ticket_ids(raw: object) -> frozenset[int] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        raise invalid(f"body.ticketIds must be an array of integers, got {json_kind(raw)}")
    return frozenset(raw)


def query_order(params: Mapping[str, str], names: tuple[str, ...]) -> str:
    """First present of ``names`` (get-by-id documents the misspelt ``orderyBy``; both are accepted)."""
    for name in names:
        if name in params:
            value = params[name].strip().lower()
            if value not in (ORDER_ASC, ORDER_DESC):
                raise invalid(f"query {name}={params[name]!r} is not one of {ORDER_ASC}, {ORDER_DESC}")
            return value
    return ORDER_DESC


def query_bool(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise invalid(f"query {name}={params[name]!r} must be true or false")
    return value == "true"


def query_int(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"query {name}={raw!r} must be an integer") from None
    return _bounded(value, f"query {name}", default, low, high)


def _bounded(value: int | None, where: str, default: int, low: int, high: int | None) -> int:
    if value is None:
        return default
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{where}={value} must be {limit}")
    return value


def _guid(raw: str, where: str, code: ErrorCode = ErrorCode.INVALID_REQUEST) -> str:
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise SandboxError(code, f"{where} {raw!r} is not a GUID") from None


def _is_url(raw: str) -> bool:
    parts = urlsplit(raw.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in raw.strip()
