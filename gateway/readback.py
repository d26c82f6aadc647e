"""What a write sent against what the vendor kept: a value the vendor dropped or changed becomes a
notice in the response's `extensions.notices`, never a silent difference.

A write's answer is the vendor's own reading of what it stored (every adapter reads the conversation
back, or parses the objects the vendor answered with), so comparing it with the input finds what no
adapter rule can foresee: Socialboards lower-casing a customer's `customIdentifier` or a sentiment,
keeping the stored name of a user it matched by email, Infobip keeping no customer on a conversation
until they write in. Each notice names the input field as the client sent it:

    {"code": "VALUE_CHANGED", "provider", "field": "input.customer.externalId", "sent": "CUS-12345",
     "kept": "cus-12345", "message", "path": ["createConversation"]}
    {"code": "FIELD_DROPPED", "provider", "field": "input.topic", "sent": "…", "kept": null, "message", "path"}

Only values the client gave are compared; one it left out is the vendor's to choose.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from providers import Conversation, ConversationChanges, Message, NewConversation, NewMessage, Participant, ParticipantInput, cut
from providers import models as m

from .scalars import serialize_datetime

VALUE_CHANGED = "VALUE_CHANGED"
FIELD_DROPPED = "FIELD_DROPPED"
Notice = dict[str, Any]
Pair = tuple[str, object, object]  # input field path, value sent, value kept


def created(new: NewConversation, kept: Conversation, *, path: list[str | int]) -> list[Notice]:
    pairs: list[Pair] = [
        ("input.topic", new.topic, kept.topic),
        ("input.summary", new.summary, kept.summary),
        ("input.url", new.url, kept.initial_page_url),
        ("input.sentiment", new.sentiment, kept.sentiment),
        ("input.categoryId", new.category_id, kept.category_id),
        ("input.priority", new.priority, kept.priority),
        ("input.channel", new.channel, kept.channel),
        ("input.botActive", True if new.bot_active else None, kept.bot_active),
        ("input.customFields", _fields(new.custom_fields), _fields(kept.custom_fields or ())),
        *_person("input.customer", new.customer, kept.customer),
    ]
    return _notices(pairs, provider=kept.provider, path=path)


def updated(changes: ConversationChanges, kept: Conversation, *, path: list[str | int]) -> list[Notice]:
    pairs: list[Pair] = [
        ("input.topic", changes.topic, kept.topic),
        ("input.summary", changes.summary, kept.summary),
        ("input.status", changes.status, kept.status),
        ("input.priority", changes.priority, kept.priority),
        ("input.channel", changes.channel, kept.channel),
        ("input.queueId", changes.queue_id, kept.queue.id if kept.queue else None),
    ]
    return _notices(pairs, provider=kept.provider, path=path)


def added(sent: Sequence[NewMessage], kept: Sequence[Message], *, provider: str, path: list[str | int]) -> list[Notice]:
    pairs: list[Pair] = []
    for index, (message, stored) in enumerate(zip(sent, kept)):
        where = f"messages[{index}]"
        pairs += [
            (f"{where}.text", message.text, stored.text),
            (f"{where}.role", message.role, stored.author.role if stored.author else None),
            (f"{where}.createdAt", message.created_at, stored.created_at),
            *_person(f"{where}.author", message.author, stored.author),
        ]
    return _notices(pairs, provider=provider, path=path)


def _person(where: str, sent: ParticipantInput | None, kept: Participant | None) -> Iterator[Pair]:
    if sent is None:
        return
    for name, attribute in (("name", "name"), ("email", "email"), ("externalId", "external_id"), ("id", "id"), ("avatarUrl", "avatar_url")):
        yield f"{where}.{name}", getattr(sent, attribute), getattr(kept, attribute) if kept is not None else None


def _fields(fields: Sequence[m.CustomField]) -> list[tuple[str, str | None]] | None:
    return sorted((f.id, f.value) for f in fields) or None


def _notices(pairs: list[Pair], *, provider: str, path: list[str | int]) -> list[Notice]:
    notices = []
    for field, sent, kept in pairs:
        if sent is None or sent == kept:  # aware datetimes compare as instants, whatever their offsets
            continue
        if kept is None:
            message = f"{provider} did not keep {field} ({_text(sent)}): reading it back gives nothing"
            notices.append(_notice(FIELD_DROPPED, provider, field, sent, None, message, path))
        else:
            message = f"{provider} keeps {field} as {_text(kept)}, not {_text(sent)} as sent"
            notices.append(_notice(VALUE_CHANGED, provider, field, sent, kept, message, path))
    return notices


def _notice(code: str, provider: str, field: str, sent: object, kept: object, message: str, path: list[str | int]) -> Notice:
    return {"code": code, "provider": provider, "field": field, "sent": _wire(sent), "kept": _wire(kept), "message": message, "path": path}


def _wire(value: object) -> object:
    """The value as the response's JSON carries it (a time as the DateTime scalar writes it), cut like
    any request value an answer repeats."""
    if isinstance(value, datetime):
        return serialize_datetime(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [{"id": cut(i), "value": None if x is None else cut(x)} for i, x in value]
    return cut(value) if isinstance(value, str) else value


def _text(value: object) -> str:
    shown = _wire(value)
    return repr(shown) if isinstance(shown, str) else str(shown)
