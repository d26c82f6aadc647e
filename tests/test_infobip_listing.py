"""Infobip listing rows that need no further read (gateway/inbox.py's first phase, and any list whose
selected fields the conversation object holds) are built from the row alone, without a task per row:
each is exactly what the general path (a read of that conversation, with the same fields) gives."""

from __future__ import annotations

import httpx

from providers.infobip.hydration import PARTS
from providers.infobip.provider import InfobipProvider
from providers.models import ConversationFilter, SortOrder

from .helpers import ib_customer_writes


async def test_rows_read_with_no_part_are_the_conversations_read_by_id(ib_provider: InfobipProvider, ib_hooks: httpx.AsyncClient) -> None:
    for n in range(4):
        await ib_customer_writes(ib_hooks, f"hello {n}")
    for fields in (frozenset(), frozenset({"topic", "status", "updated_at"})):
        page = await ib_provider.list_conversations(filter=ConversationFilter(), order=SortOrder.UPDATED_DESC, first=10,
                                                    after=None, fields=fields)
        assert len(page.items) >= 4
        for listed in page.items:
            assert listed == await ib_provider.get_conversation(listed.remote_id, fields=fields)
            assert listed.missing == frozenset().union(*PARTS.values())


async def test_rows_with_parts_to_read_still_read_them(ib_provider: InfobipProvider, ib_hooks: httpx.AsyncClient) -> None:
    remote_id = await ib_customer_writes(ib_hooks, "with a customer")
    page = await ib_provider.list_conversations(filter=ConversationFilter(remote_ids=(remote_id,)), order=SortOrder.UPDATED_DESC,
                                                first=1, after=None, fields=frozenset({"customer"}))
    (listed,) = page.items
    assert listed == await ib_provider.get_conversation(remote_id, fields=frozenset({"customer"}))
    assert listed.customer is not None and "customer" not in listed.missing and "tags" in listed.missing
