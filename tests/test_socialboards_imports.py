"""Socialboards as a migration target against its sandbox: what a plan keeps, and how a write whose
answer was lost is found again without a marker (by what it was created with)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.errors import InvalidRequestError, UnsupportedOperationError
from providers.imports import Change, FieldNote, StateChange, import_target
from providers.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    Participant,
    Priority,
    Role,
)
from providers.socialboards.provider import SocialboardsProvider

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def infobip_source(**fields: Any) -> Conversation:
    base: dict[str, Any] = {
        "provider": "acme-ib", "vendor": "infobip", "remote_id": "c-1", "status": ConversationStatus.SOLVED,
        "vendor_status": "SOLVED", "created_at": T0, "updated_at": T0, "topic": "Order 42", "summary": "Refunded",
        "priority": Priority.HIGH, "channel": Channel.WHATSAPP, "tags": ("vip",),
        "customer": Participant(id="447700900001", name=None, role=Role.CUSTOMER),
    }
    return Conversation(**{**base, **fields})


def test_an_infobip_conversation_planned_for_socialboards_names_each_loss(sb_provider: SocialboardsProvider) -> None:
    draft = sb_provider.plan_conversation(infobip_source())
    assert draft.new.customer.external_id == "447700900001" and draft.new.topic == "Order 42"
    assert draft.status is ConversationStatus.CLOSED and draft.tags == ()
    assert set(draft.notes) == {
        FieldNote("summary", Change.DROPPED, "Socialboards conversations have no summary"),
        FieldNote("priority", Change.DROPPED, "Socialboards conversations have no priority"),
        FieldNote("tags", Change.DROPPED, "Socialboards chat conversations have no tags"),
        FieldNote("customer", Change.TRANSFORMED, "identified by the source's id as customIdentifier"),
        FieldNote("channel", Change.DEFAULTED, "WHATSAPP → LIVE_CHAT"),
        FieldNote("status", Change.TRANSFORMED, "SOLVED → CLOSED"),
    }


async def test_a_lost_creation_is_found_by_title_and_customer_not_a_look_alike(sb_provider: SocialboardsProvider, sb_hooks: httpx.AsyncClient) -> None:
    start = datetime.now(UTC)
    other = sb_provider.plan_conversation(infobip_source(customer=Participant(id="447700900002", name=None, role=Role.CUSTOMER)))
    await sb_provider.import_conversation(other)  # same title, another customer
    draft = sb_provider.plan_conversation(infobip_source())
    remote_id, _ = await sb_provider.import_conversation(draft)
    assert await sb_provider.find_import(draft, created_after=start) == [remote_id]
    assert await sb_provider.find_import(draft, created_after=start + timedelta(hours=1)) == []


async def test_history_keeps_original_times_and_lost_batches_are_found_by_time_and_text(sb_provider: SocialboardsProvider) -> None:
    source = infobip_source(status=ConversationStatus.OPEN)
    draft = sb_provider.plan_conversation(source)
    remote_id, _ = await sb_provider.import_conversation(draft)
    messages = [
        Message(provider="acme-ib", remote_id=f"m{i}", conversation_remote_id="c-1", text=text, direction=direction,
                author=Participant(id=sender, name=None, role=role), created_at=T0 + timedelta(seconds=i))
        for i, (text, direction, sender, role) in enumerate([
            ("hi", Direction.INBOUND, "447700900001", Role.CUSTOMER),
            ("hello", Direction.OUTBOUND, "447860099299", Role.AGENT),
            ("hi", Direction.INBOUND, "447700900001", Role.CUSTOMER),
        ])
    ]
    entries = [sb_provider.plan_message(m, customer=source.customer) for m in messages]
    assert all(FieldNote("message.createdAt", Change.KEPT, "original time kept") in e.notes for e in entries)
    written = await sb_provider.import_history(remote_id, entries[:2])
    assert await sb_provider.find_history(remote_id, entries) == [*written, None]
    page = await sb_provider.list_messages(remote_id, first=10, after=None)
    assert [(m.text, m.created_at, m.author.role if m.author else None) for m in page.items] == [
        ("hi", T0, Role.CUSTOMER), ("hello", T0 + timedelta(seconds=1), Role.AGENT),
    ]


async def test_closing_comes_last_and_a_closed_conversation_is_not_reopened(sb_provider: SocialboardsProvider) -> None:
    draft = sb_provider.plan_conversation(infobip_source())
    remote_id, _ = await sb_provider.import_conversation(draft)
    await sb_provider.apply_state(remote_id, draft, StateChange(draft.initial_status, first=True))
    assert (await sb_provider.get_conversation(remote_id)).status is ConversationStatus.CLOSED
    reopened = sb_provider.plan_conversation(infobip_source(status=ConversationStatus.OPEN))
    with pytest.raises(InvalidRequestError, match="cannot become NEW again"):
        await sb_provider.apply_state(remote_id, reopened, StateChange(ConversationStatus.CLOSED))


def test_clevertap_is_refused_as_a_target_with_the_reason() -> None:
    from providers.clevertap.provider import CleverTapProvider

    provider = CleverTapProvider(name="ct", http=httpx.AsyncClient(base_url="http://ct.test/"), account_id="A", passcode="p")
    with pytest.raises(UnsupportedOperationError, match="no CleverTap API creates a conversation"):
        import_target(provider)
