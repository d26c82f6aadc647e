"""Validation of request bodies and query strings into typed requests.

Pure functions: a request is fully checked before the sandbox changes anything. Every refusal is a
400 whose message names the field (``body.agent.email``, ``query batch_size``) and what was wrong.
A key whose value is JSON ``null`` counts as absent; an unknown key is refused, so a misspelt
filter never silently widens a listing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..kit import JsonFields, json_kind
from .model import ACTIVE, INACTIVE, TICKET_STATUSES, invalid

_fields = JsonFields(invalid)

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 5000
SORT_KEYS = ("updated_ts", "created_ts")
SORT_ORDERS = ("desc", "asc")
LIST_KEYS = frozenset({"search", "campaign", "label", "ticket_status", "state", "sort_by", "sort_order"})
AGENT_KEYS = frozenset({"email", "id", "name"})  # a record's agent object may be sent back as it is


@dataclass(frozen=True, slots=True)
class ListQuery:
    search: str | None = None
    campaign: str | None = None
    label: str | None = None
    ticket_statuses: frozenset[str] | None = None
    state: str | None = None
    sort_by: str = SORT_KEYS[0]
    sort_order: str = SORT_ORDERS[0]


@dataclass(frozen=True, slots=True)
class Inbound:
    identity: str
    campaign_id: int
    text: str
    ts: int | None
    user_name: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    conversation_id: str
    email: str
    text: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    conversation_id: str
    ticket_status: str
    email: str | None


def parse_json(body: bytes) -> object:
    """The decoded body; an empty body is None."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise invalid(f"body is not valid JSON ({exc})") from None


def parse_list_query(raw: object) -> ListQuery:
    obj = _object({} if raw is None else raw, "body", LIST_KEYS)
    statuses = obj.get("ticket_status")
    if statuses is not None:
        if not isinstance(statuses, list) or not statuses:
            raise invalid(f"body.ticket_status must be a non-empty array of {_names(TICKET_STATUSES)}")
        for index, status in enumerate(statuses):
            _choice(status, f"body.ticket_status[{index}]", TICKET_STATUSES)
    return ListQuery(
        search=_fields.opt_str(obj, "search", "body"),
        campaign=_fields.opt_str(obj, "campaign", "body"),
        label=_fields.opt_str(obj, "label", "body"),
        ticket_statuses=None if statuses is None else frozenset(statuses),
        state=_opt_choice(obj, "state", (ACTIVE, INACTIVE)),
        sort_by=_opt_choice(obj, "sort_by", SORT_KEYS) or SORT_KEYS[0],
        sort_order=_opt_choice(obj, "sort_order", SORT_ORDERS) or SORT_ORDERS[0],
    )


def parse_claim(raw: object) -> tuple[str, str]:
    obj = _object(raw, "body", frozenset({"id", "agent"}))
    return _fields.req_str(obj, "id", "body"), _required_agent_email(obj)


def parse_reply(raw: object) -> Reply:
    obj = _object(raw, "body", frozenset({"id", "agent", "message"}))
    message = _object(obj.get("message"), "body.message", frozenset({"type", "text"}))
    kind = _fields.opt_str(message, "type", "body.message")
    if kind is not None and kind != "text":
        raise invalid(f"body.message.type must be 'text', got {kind!r}")
    text = _fields.req_str(message, "text", "body.message")
    return Reply(_fields.req_str(obj, "id", "body"), _required_agent_email(obj), text)


def parse_status_change(raw: object) -> StatusChange:
    obj = _object(raw, "body", frozenset({"id", "ticket_status", "agent"}))
    if obj.get("ticket_status") is None:
        raise invalid(f"body.ticket_status is required: one of {_names(TICKET_STATUSES)}")
    status = _choice(obj["ticket_status"], "body.ticket_status", TICKET_STATUSES)
    return StatusChange(_fields.req_str(obj, "id", "body"), status, _agent_email(obj))


def parse_inbound(raw: object) -> Inbound:
    obj = _object(raw, "body", frozenset({"identity", "campaign_id", "text", "ts", "user_name"}))
    campaign_id = _fields.opt_int(obj, "campaign_id", "body")
    if campaign_id is None:
        raise invalid("body.campaign_id is required and must be an integer")
    user_name = _fields.opt_str(obj, "user_name", "body")
    return Inbound(
        identity=_fields.req_str(obj, "identity", "body").strip(),
        campaign_id=campaign_id,
        text=_fields.req_str(obj, "text", "body"),
        ts=_fields.opt_int(obj, "ts", "body"),
        user_name=(user_name.strip() or None) if user_name else None,
    )


def query_batch_size(params: Mapping[str, str]) -> int:
    raw = params.get("batch_size")
    if raw is None:
        return DEFAULT_BATCH_SIZE
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"query batch_size={raw!r} must be an integer between 1 and {MAX_BATCH_SIZE}") from None
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise invalid(f"query batch_size={value} must be between 1 and {MAX_BATCH_SIZE}")
    return value


def query_sort_order(params: Mapping[str, str], default: str) -> str:
    return _choice(params.get("sort_order", default), "query sort_order", SORT_ORDERS)


def query_required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise invalid(f"query {name} is required")
    return value


# -- helpers ---------------------------------------------------------------------------------------


def _object(raw: object, where: str, allowed: frozenset[str]) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be a JSON object, got {json_kind(raw)}")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise invalid(f"{where} has unknown key(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}")
    return {key: value for key, value in raw.items() if value is not None}


def _agent_email(obj: Mapping[str, object]) -> str | None:
    if obj.get("agent") is None:
        return None
    agent = _object(obj["agent"], "body.agent", AGENT_KEYS)
    return _fields.req_str(agent, "email", "body.agent").strip()


def _required_agent_email(obj: Mapping[str, object]) -> str:
    email = _agent_email(obj)
    if email is None:
        raise invalid('body.agent is required: {"email": "<dashboard user email>"}')
    return email


def _opt_choice(obj: Mapping[str, object], key: str, accepted: tuple[str, ...]) -> str | None:
    value = obj.get(key)
    return None if value is None else _choice(value, f"body.{key}", accepted)


def _choice(value: object, where: str, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise invalid(f"{where} must be one of {_names(accepted)}, got {value!r}")
    return value


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{value}"' for value in values)
