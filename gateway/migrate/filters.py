"""A migration's `filter`: a JSON object with the GraphQL `ConversationFilter`'s names (without
`providers` and `vendors`: a migration has one source), read into the providers' filter. Bad input
raises FilterError naming the key and what it takes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from providers.models import Channel, ConversationFilter, ConversationStatus, Priority

E = TypeVar("E", bound=enum.Enum)
LISTS = {"status": ConversationStatus, "priority": Priority, "channel": Channel}
STRING_LISTS = {"tags": "tags", "queueId": "queue_ids", "remoteId": "remote_ids"}
STRINGS = {"assigneeId": "assignee_id", "campaign": "campaign", "search": "search"}
TIMES = {"createdAfter": "created_after", "createdBefore": "created_before", "updatedAfter": "updated_after", "updatedBefore": "updated_before"}
KNOWN = (*LISTS, *STRING_LISTS, *STRINGS, "active", *TIMES)


class FilterError(ValueError):
    pass


def parse_filter(raw: object) -> ConversationFilter:
    if raw is None:
        return ConversationFilter()
    if not isinstance(raw, Mapping):
        raise FilterError("filter: expected a JSON object, e.g. {\"status\": [\"CLOSED\"], \"createdAfter\": \"2024-01-01T00:00:00Z\"}")
    unknown = sorted(set(raw) - set(KNOWN))
    if unknown:
        raise FilterError(f"filter: unknown key(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    values: dict[str, Any] = {}
    for key, kind in LISTS.items():
        if raw.get(key) is not None:
            values[key] = tuple(_member(kind, item, key) for item in _list(raw[key], key))
    for key, name in STRING_LISTS.items():
        if raw.get(key) is not None:
            values[name] = tuple(_text(item, key) for item in _list(raw[key], key))
    for key, name in STRINGS.items():
        if raw.get(key) is not None:
            values[name] = _text(raw[key], key)
    if raw.get("active") is not None:
        if not isinstance(raw["active"], bool):
            raise FilterError("filter.active: expected true or false")
        values["active"] = raw["active"]
    for key, name in TIMES.items():
        if raw.get(key) is not None:
            values[name] = _time(raw[key], key)
    return ConversationFilter(**values)


def _list(value: object, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise FilterError(f"filter.{key}: expected a list")
    return value


def _member(kind: type[E], value: object, key: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise FilterError(f"filter.{key}: {value!r} is not one of {', '.join(m.value for m in kind)}") from None


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FilterError(f"filter.{key}: expected non-empty text")
    return value


def _time(value: object, key: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"filter.{key}: expected an ISO 8601 time with an offset, got {value!r}") from None
    if moment.tzinfo is None:
        raise FilterError(f"filter.{key}: give the time's offset (e.g. Z or +02:00)")
    return moment
