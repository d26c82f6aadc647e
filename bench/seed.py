"""Seeds one long, open conversation per vendor straight at the sandboxes (their own API or their
`/_sandbox` hooks, never through Parley), each one that takes replies, so `addMessages` succeeds on
all three: Socialboards and Infobip refuse closed conversations, CleverTap replies after 24 hours.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from direct import VendorApi, decode
from stack import VENDORS

CUSTOMER = "Bench Customer"
CUSTOMER_PHONE = "447700900999"  # the UK fiction range the Infobip demo uses
SHOP_PHONE = "447860099299"
CLEVERTAP_IDENTITY = "bench.customer@example.com"
CLEVERTAP_CAMPAIGN = 1700000102  # "Order Updates", a default sandbox campaign


async def seed(http: httpx.AsyncClient, api: VendorApi, sandboxes: dict[str, str], messages: int) -> dict[str, str]:
    """vendor -> id of a new conversation holding `messages` messages."""
    ids = await asyncio.gather(
        _socialboards(api, messages), _infobip(http, sandboxes["infobip"], messages), _clevertap(api, messages)
    )
    return dict(zip(VENDORS, ids, strict=True))


async def _socialboards(api: VendorApi, messages: int) -> str:
    """Customer and agent take turns; an open conversation takes replies whoever wrote last."""
    customer = {"name": CUSTOMER, "customIdentifier": "bench-customer"}
    agent = {"name": "Bench Agent", "email": "agent@example.com"}
    created = await api.socialboards("POST", "chat/conversations", json={"author": customer, "title": "Benchmark order"})
    drafts = [
        {"author": agent, "message": f"Agent line {n}", "isByTeam": True} if n % 2
        else {"author": customer, "message": f"Customer line {n}", "isByTeam": False}
        for n in range(messages)
    ]
    await api.socialboards("POST", f"chat/conversations/{created['id']}/messages", json=drafts)
    return str(created["id"])


async def _infobip(http: httpx.AsyncClient, base_url: str, messages: int) -> str:
    """Inbound messages through the `/_sandbox/inbound` hook: the first opens the conversation, and
    Parley replies on the channel and to the address of the latest one."""
    body = {"from": CUSTOMER_PHONE, "to": SHOP_PHONE, "channel": "WHATSAPP", "text": "Customer line 0"}
    conversation_id = decode(await http.post(base_url + "_sandbox/inbound", json=body))["conversationId"]
    for n in range(1, messages):
        body = {**body, "text": f"Customer line {n}", "conversationId": conversation_id}
        decode(await http.post(base_url + "_sandbox/inbound", json=body))
    return str(conversation_id)


async def _clevertap(api: VendorApi, messages: int) -> str:
    """User replies, back-dated a minute apart so the newest is a minute old: the 24-hour reply
    window is open for the whole run."""
    now = int(time.time())
    record = None
    for n in range(messages):
        body = {"identity": CLEVERTAP_IDENTITY, "campaign_id": CLEVERTAP_CAMPAIGN, "user_name": CUSTOMER,
                "text": f"Customer line {n}", "ts": now - 60 * (messages - n)}
        record = (await api.clevertap("POST", "conversation/inbound.json", json=body))["record"]
    assert record is not None
    return str(record["id"])
