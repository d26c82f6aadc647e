"""Infobip replies: which channel, sender and recipient a message Parley sends goes out with. Pure.

Infobip's messages endpoint delivers to the customer, so every message Parley adds is a reply: it
goes out on the channel of the customer's latest inbound message, to the address they wrote from,
from the sender configured for that channel (`senders`), else from the address they wrote to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .mapping import CHANNEL_FROM_VENDOR, CHANNEL_TO_VENDOR, InputError

# Conversation channels that name no messaging channel: a reply cannot go out on them.
NOT_SENDABLE = frozenset({"NO_CHANNEL", "MULTICHANNEL", "UNKNOWN"})


@dataclass(frozen=True, slots=True)
class ReplyRoute:
    sender: str
    to: str
    channel: str


def build_message_payload(text: str, route: ReplyRoute) -> dict[str, Any]:
    return {"from": route.sender, "to": route.to, "channel": route.channel, "contentType": "TEXT", "content": {"text": text}}


def reply_route(
    latest_inbound: Mapping[str, Any] | None,
    *,
    senders: Mapping[str, str],
    channel: str | None = None,
    customer_address: str | None = None,
) -> ReplyRoute:
    """from/to/channel of a reply: the channel and address of the latest inbound message, sent from
    the configured sender for that channel, else from the address the customer wrote to.

    Without an inbound message, `channel` (the conversation's) and `customer_address` stand in.
    """
    inbound_to = None
    if latest_inbound is not None:
        channel = _str(latest_inbound.get("channel"))
        customer_address, inbound_to = _str(latest_inbound.get("from")), _str(latest_inbound.get("to"))
    if channel is None or channel in NOT_SENDABLE:
        where = (
            "the latest inbound message names no channel" if latest_inbound is not None
            else f"the conversation has no inbound message and its channel is {channel or 'not set'}"
        )
        raise InputError(
            f"cannot tell which channel to reply on: {where}; give it a messaging channel and configure senders.<CHANNEL>",
            "senders",
        )
    if customer_address is None:
        raise InputError(
            f"no customer address to reply to on {channel}: there is no inbound message to answer (a new "
            f"conversation takes it from customer.id or externalId; the sender from senders.{channel})", "senders",
        )
    sender = senders.get(channel) or inbound_to
    if sender is None:
        raise InputError(f"no sender for {channel} replies: configure senders.{channel}", "senders")
    return ReplyRoute(sender=sender, to=customer_address, channel=channel)


def vendor_senders(senders: Mapping[str, str]) -> dict[str, str]:
    """`senders` keyed by Infobip channel name (`WHATSAPP`); Parley's names (`INSTAGRAM`) work too.
    Raises ValueError naming the setting."""
    known = {name: name for name in CHANNEL_FROM_VENDOR if name not in NOT_SENDABLE}
    known.update({c.value: raw for c, raw in CHANNEL_TO_VENDOR.items() if raw in known})
    resolved: dict[str, str] = {}
    for key, sender in senders.items():
        channel = known.get(str(key).upper())
        if channel is None:
            raise ValueError(f"senders.{key}: not an Infobip messaging channel; known: {', '.join(sorted(known))}")
        if not isinstance(sender, str) or not sender.strip():
            raise ValueError(f"senders.{key}: give the sender address (number or id) for {channel} replies")
        resolved[channel] = sender
    return resolved


def _str(value: object) -> str | None:
    return None if value is None else str(value)
