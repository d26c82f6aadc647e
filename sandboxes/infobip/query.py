"""Query strings of the list endpoints: paging, ``orderBy`` and the filters of each resource.

Paging is ``limit`` (1..999, default 10) and a 0-based ``page`` index (offset = page * limit).
``orderBy`` is ``<field>:<asc|desc>``; the field name is exact, the direction case-insensitive and
optional (asc). Ties are broken by the resource's identity ascending, also when sorting descending.
Array filters take repeated keys (``queueIds=a&queueIds=b``) and comma-separated values alike.
Time filters are exclusive at both ends. Unknown parameters are ignored; a malformed known one is
a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from starlette.datastructures import QueryParams

from .model import (
    AGENT_ROLES,
    AGENT_STATUSES,
    DIRECTIONS,
    MESSAGE_CHANNELS,
    PRIORITIES,
    STATUSES,
    Agent,
    Conversation,
    JsonDict,
    Message,
    Queue,
    Tag,
    invalid,
    parse_time,
)

T = TypeVar("T")
SortKeys = Mapping[str, Callable[[T], Any]]
Predicate = Callable[[T], bool]

DEFAULT_LIMIT = 10
MAX_LIMIT = 999
LEGACY_AGENT_STATUS = {"AVAILABLE": "ACTIVE", "OFFLINE": "INVISIBLE"}  # old docs' values, read as today's


def _nullable(value: str | None) -> tuple[int, str]:
    return (0, "") if value is None else (1, value)


CONVERSATION_ORDER: SortKeys[Conversation] = {
    "id": lambda item: item.id,
    "createdAt": lambda item: item.created_at,
    "updatedAt": lambda item: item.updated_at,
    "priority": lambda item: PRIORITIES.index(item.priority),
    "status": lambda item: STATUSES.index(item.status),
    "topic": lambda item: _nullable(item.topic),
}
MESSAGE_ORDER: SortKeys[Message] = {"id": lambda item: item.id, "createdAt": lambda item: item.created_at}
TAG_ORDER: SortKeys[Tag] = {
    "name": lambda item: item.name,
    "createdAt": lambda item: item.created_at,
    "updatedAt": lambda item: item.updated_at,
}
AGENT_ORDER: SortKeys[Agent] = {
    "id": lambda item: item.id,
    "displayName": lambda item: item.display_name,
    "createdAt": lambda item: item.created_at,
    "updatedAt": lambda item: item.updated_at,
}
QUEUE_ORDER: SortKeys[Queue] = {
    "id": lambda item: item.id,
    "name": lambda item: item.name,
    "createdAt": lambda item: item.created_at,
    "updatedAt": lambda item: item.updated_at,
}


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    page: int
    field: str
    descending: bool

    @property
    def order_by(self) -> str:
        return f"{self.field}:{'desc' if self.descending else 'asc'}"


def parse_paging(params: QueryParams, order: SortKeys[Any], default: str = "id") -> Paging:
    limit = _int(params, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit={limit} must be between 1 and {MAX_LIMIT}")
    page = _int(params, "page", 0)
    if page < 0:
        raise invalid(f"page={page} must be 0 or more (pages are numbered from 0)")
    field, _, direction = params.get("orderBy", default).strip().partition(":")
    if field not in order:
        raise invalid(f"orderBy field '{field}' is not one of {', '.join(order)}")
    direction = direction.strip().lower() or "asc"
    if direction not in ("asc", "desc"):
        raise invalid(f"orderBy direction '{direction}' must be asc or desc")
    return Paging(limit, page, field, direction == "desc")


def page_of(items: Iterable[T], paging: Paging, order: SortKeys[T], tie: str = "id") -> tuple[list[T], int]:
    """The requested page of ``items`` and how many there are in all."""
    ordered = sorted(items, key=order[tie])
    ordered.sort(key=order[paging.field], reverse=paging.descending)  # stable: ties stay by identity asc
    start = paging.page * paging.limit
    return ordered[start : start + paging.limit], len(ordered)


def page_json(plural: str, items: Sequence[JsonDict], total: int, paging: Paging) -> JsonDict:
    pagination = {"totalItems": total, "page": paging.page, "limit": paging.limit, "orderBy": paging.order_by}
    return {plural: list(items), "pagination": pagination}


# -- parameters ------------------------------------------------------------------------------------


def _int(params: QueryParams, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name}='{raw}' must be an integer") from None


def id_list(params: QueryParams, name: str) -> set[str] | None:
    values = [part.strip() for raw in params.getlist(name) for part in raw.split(",") if part.strip()]
    return set(values) if values else None


def enum_param(params: QueryParams, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise invalid(f"{name}='{raw}' is not one of {', '.join(allowed)}")
    return raw


def bool_param(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise invalid(f"{name}='{raw}' must be true or false")
    return raw.lower() == "true"


def time_window(params: QueryParams, after: str, before: str) -> Predicate[datetime]:
    low = parse_time(params[after], after) if params.get(after) else None
    high = parse_time(params[before], before) if params.get(before) else None
    return lambda moment: (low is None or moment > low) and (high is None or moment < high)


# -- filters per resource --------------------------------------------------------------------------


def conversation_filter(params: QueryParams) -> Predicate[Conversation]:
    ids, queues = id_list(params, "conversationIds"), id_list(params, "queueIds")
    agent = params.get("agentId") or None
    status, priority = enum_param(params, "status", STATUSES), enum_param(params, "priority", PRIORITIES)
    created = time_window(params, "createdAfter", "createdBefore")
    updated = time_window(params, "updatedAfter", "updatedBefore")
    return lambda item: (
        (ids is None or item.id in ids)
        and (queues is None or item.queue_id in queues)
        and (agent is None or item.agent_id == agent)
        and (status is None or item.status == status)
        and (priority is None or item.priority == priority)
        and created(item.created_at)
        and updated(item.updated_at)
    )


def message_filter(params: QueryParams) -> Predicate[Message]:
    ids = id_list(params, "messageIds")
    channel, direction = enum_param(params, "channel", MESSAGE_CHANNELS), enum_param(params, "direction", DIRECTIONS)
    created = time_window(params, "createdAfter", "createdBefore")
    return lambda item: (
        (ids is None or item.id in ids)
        and (channel is None or item.channel == channel)
        and (direction is None or item.direction == direction)
        and created(item.created_at)
    )


def agent_filter(params: QueryParams, queues: Iterable[Queue]) -> Predicate[Agent]:
    ids, queue_ids = id_list(params, "agentIds"), id_list(params, "queueIds")
    members = None if queue_ids is None else {a for q in queues if q.id in queue_ids for a in q.agent_ids}
    name = (params.get("displayName") or "").casefold() or None
    accepted = (*AGENT_STATUSES, *LEGACY_AGENT_STATUS)
    status, availability = enum_param(params, "status", accepted), enum_param(params, "availability", accepted)
    status, availability = (LEGACY_AGENT_STATUS.get(v, v) if v else None for v in (status, availability))
    role, enabled = enum_param(params, "role", AGENT_ROLES), bool_param(params, "enabled")
    created = time_window(params, "createdAfter", "createdBefore")
    updated = time_window(params, "updatedAfter", "updatedBefore")
    return lambda item: (
        (ids is None or item.id in ids)
        and (members is None or item.id in members)
        and (name is None or name in item.display_name.casefold())
        and (status is None or item.status == status)
        and (availability is None or item.status == availability)  # the sandbox computes none of its own
        and (role is None or item.role == role)
        and (enabled is None or item.enabled == enabled)
        and created(item.created_at)
        and updated(item.updated_at)
    )


def queue_filter(params: QueryParams) -> Predicate[Queue]:
    ids, agent = id_list(params, "queueIds"), params.get("agentId") or None
    return lambda item: (ids is None or item.id in ids) and (agent is None or agent in item.agent_ids)
