"""Validation of request bodies into typed drafts, before the sandbox writes anything.

Every refusal is a 400 ``statusCode: ERROR`` whose message names the field and what it must be.
A missing or unparseable body, or one that is not a JSON object where an object is expected, gets
the vendor's documented text ``Required request body is missing or not valid``. Fields the sandbox
does not know are ignored, so a client may send back an object it read (``id``, ``createdAt``…).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .model import (
    AGENT_ROLES,
    AGENT_STATUSES,
    CONTENT_TYPES,
    CONVERSATION_CHANNELS,
    DEFAULT_CHANNEL,
    DEFAULT_PRIORITY,
    DEFAULT_STATUS,
    MESSAGE_CHANNELS,
    MISSING_BODY,
    PRIORITIES,
    STATUSES,
    TEXT,
    JsonDict,
    RoutingRule,
    SandboxError,
    invalid,
)

MAX_TOPIC = 255
MAX_SUMMARY = 4000
MAX_NAME = 255
MAX_TAG_NAME = 100
MAX_TEXT = 1000
MAX_EXPRESSION = 4000

Mode = Literal["create", "replace", "patch"]
Fields = dict[str, str | None]  # wire name -> validated value, only for the fields that apply


@dataclass(frozen=True, slots=True)
class MessageDraft:
    sender: str
    recipient: str
    channel: str
    content_type: str
    content: JsonDict


@dataclass(frozen=True, slots=True)
class InboundDraft:
    sender: str
    recipient: str
    channel: str
    text: str
    conversation_id: str | None


@dataclass(frozen=True, slots=True)
class AgentDraft:
    display_name: str
    status: str
    role: str
    enabled: bool


def read_json(body: bytes) -> object:
    if not body.strip():
        raise invalid(MISSING_BODY)
    try:
        return json.loads(body)
    except ValueError:
        raise invalid(MISSING_BODY) from None


def as_object(raw: object) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise invalid(MISSING_BODY)
    return raw


def opt_str(obj: Mapping[str, object], key: str, most: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > most:
        raise invalid(f"{key} must be a string of at most {most} characters")
    return value


def req_str(obj: Mapping[str, object], key: str, most: int) -> str:
    value = opt_str(obj, key, most)
    if value is None or not value.strip():
        raise invalid(f"{key} is required and must be a non-empty string")
    return value


def opt_enum(obj: Mapping[str, object], key: str, allowed: tuple[str, ...]) -> str | None:
    """The value, or None when absent or null (null means "not given" for every enum field)."""
    value = obj.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise invalid(f"{key} {json.dumps(value)} is not one of {', '.join(allowed)}")
    assert isinstance(value, str)
    return value


def opt_bool(obj: Mapping[str, object], key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{key} must be true or false")


# -- conversations ---------------------------------------------------------------------------------


def parse_conversation_fields(raw: object, mode: Mode) -> Fields:
    """The fields a create, a PUT (full replace) or a PATCH sets.

    create and replace fill the defaults (OPEN, NORMAL, NO_CHANNEL, else null) and replace requires
    ``status``; patch returns only what was sent. ``agentId`` is returned only when sent: replace does
    not clear the assignee, which belongs to the assignee endpoint.
    """
    obj = as_object(raw)
    found: Fields = {}
    for key, most in (("topic", MAX_TOPIC), ("summary", MAX_SUMMARY), ("queueId", MAX_NAME), ("agentId", MAX_NAME)):
        value = opt_str(obj, key, most)
        if key in obj or (mode != "patch" and key != "agentId"):
            found[key] = value
    defaults = {"status": DEFAULT_STATUS, "priority": DEFAULT_PRIORITY, "channel": DEFAULT_CHANNEL}
    allowed = {"status": STATUSES, "priority": PRIORITIES, "channel": CONVERSATION_CHANNELS}
    for key, values in allowed.items():
        value = opt_enum(obj, key, values)
        if value is not None:
            found[key] = value
        elif mode == "replace" and key == "status":
            raise invalid("status is required when a conversation is replaced (PUT); use PATCH to change some fields")
        elif mode != "patch":
            found[key] = defaults[key]
    return found


def parse_agent_id(raw: object) -> str:
    return req_str(as_object(raw), "agentId", MAX_NAME)


def parse_tag_name(raw: object, key: str) -> str:
    return req_str(as_object(raw), key, MAX_TAG_NAME)


# -- messages --------------------------------------------------------------------------------------


def parse_message(raw: object) -> MessageDraft:
    obj = as_object(raw)
    missing = [key for key in ("from", "to", "channel", "contentType", "content") if obj.get(key) in (None, "")]
    if missing:
        raise invalid(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    channel = opt_enum(obj, "channel", MESSAGE_CHANNELS)
    content_type = opt_enum(obj, "contentType", CONTENT_TYPES)
    content = obj["content"]
    if not isinstance(content, dict) or not content:
        raise invalid('content must be a non-empty object, e.g. {"text": "…"} for TEXT')
    if content_type == TEXT:
        text = content.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise invalid(f"content.text is required for TEXT and must be 1 to {MAX_TEXT} characters")
    assert channel is not None and content_type is not None
    return MessageDraft(req_str(obj, "from", MAX_NAME), req_str(obj, "to", MAX_NAME), channel, content_type, content)


def parse_inbound(raw: object) -> InboundDraft:
    obj = as_object(raw)
    channel = opt_enum(obj, "channel", MESSAGE_CHANNELS)
    if channel is None:
        raise invalid(f"channel is required and must be one of {', '.join(MESSAGE_CHANNELS)}")
    return InboundDraft(
        sender=req_str(obj, "from", MAX_NAME),
        recipient=req_str(obj, "to", MAX_NAME),
        channel=channel,
        text=req_str(obj, "text", MAX_TEXT),
        conversation_id=opt_str(obj, "conversationId", MAX_NAME),
    )


# -- agents, queues, routing -----------------------------------------------------------------------


def parse_agent(raw: object) -> AgentDraft:
    obj = as_object(raw)
    return AgentDraft(
        display_name=req_str(obj, "displayName", MAX_NAME),
        status=opt_enum(obj, "status", AGENT_STATUSES) or "INVISIBLE",
        role=opt_enum(obj, "role", AGENT_ROLES) or "AGENT",
        enabled=opt_bool(obj, "enabled") is not False,
    )


def parse_queue_name(raw: object) -> str:
    return req_str(as_object(raw), "name", MAX_NAME)


def parse_rules(raw: object) -> list[RoutingRule]:
    """The whole routing set-up: an ordered array of rules (``PUT /routing`` replaces all of them)."""
    if not isinstance(raw, list):
        raise invalid("the routing set-up must be a JSON array of rules")
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"rule [{index}] must be an object")
        try:
            rules.append(
                RoutingRule(
                    name=opt_str(item, "name", MAX_NAME),
                    queue_id=req_str(item, "queueId", MAX_NAME),
                    priority=opt_enum(item, "priority", PRIORITIES) or DEFAULT_PRIORITY,
                    enabled=opt_bool(item, "enabled") is not False,
                    expression=req_str(item, "expression", MAX_EXPRESSION),
                )
            )
        except SandboxError as exc:
            raise invalid(f"rule [{index}]: {exc.message}") from None
    return rules
