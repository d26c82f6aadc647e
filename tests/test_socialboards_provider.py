"""The Socialboards adapter against its sandbox: the shared contract plus vendor rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from providers import (
    ConversationFilter,
    ConversationStatus,
    InvalidRequestError,
    NewConversation,
    NewMessage,
    ParticipantInput,
    Role,
    SortOrder,
)
from providers.socialboards.provider import SocialboardsProvider

from .helpers import SB_BASE, advance_clock, forget_requests, sandbox_requests, sb_agent_replies
from .provider_contract import ContractEnv, ProviderContract

CUSTOMER = ParticipantInput(name="Mia", external_id="mia-1")
AGENT = ParticipantInput(name="Ana", email="ana@example.test", role=Role.AGENT)


async def create(provider: SocialboardsProvider, messages: int = 0, **kw: object) -> str:
    conversation = await provider.create_conversation(NewConversation(customer=CUSTOMER, topic="Help", **kw))  # type: ignore[arg-type]
    if messages:
        start = datetime.now(UTC) - timedelta(hours=2)
        history = [NewMessage(text=f"m{i}", created_at=start + timedelta(minutes=i)) for i in range(messages)]
        await provider.add_messages(conversation.remote_id, history, as_context=True)
    return conversation.remote_id


class TestSocialboardsContract(ProviderContract):
    @pytest.fixture
    def env(self, sb_provider: SocialboardsProvider, sb_hooks: httpx.AsyncClient) -> ContractEnv:
        async def many(count: int) -> list[str]:
            return [await create(sb_provider) for _ in range(count)]

        return ContractEnv(
            provider=sb_provider,
            sandbox=sb_hooks,
            seed_conversation=lambda n: create(sb_provider, n),
            seed_conversations=many,
            missing_id="999999999",
            fault_path="chat/conversations",
        )


async def test_the_access_token_is_fetched_once_and_reused(sb_provider, sb_hooks) -> None:
    remote_id = await create(sb_provider)
    await sb_provider.get_conversation(remote_id)
    await sb_provider.get_conversation(remote_id)
    assert len(await sandbox_requests(sb_hooks, path_contains="/token")) == 1


async def test_an_expired_token_is_refreshed_once_on_401(sb_provider, sb_hooks) -> None:
    remote_id = await create(sb_provider)
    await advance_clock(sb_hooks, 7200)
    assert (await sb_provider.get_conversation(remote_id)).remote_id == remote_id
    assert len(await sandbox_requests(sb_hooks, path_contains="/token")) == 2


async def test_an_error_envelope_with_http_200_is_a_failure() -> None:
    def vendor(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3600})
        return httpx.Response(200, json={"data": None, "errorCode": 7, "errorText": "Conversation is archived"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor), base_url=SB_BASE) as http:
        provider = SocialboardsProvider(name="sb", http=http, client_id="c", refresh_token="r")
        with pytest.raises(InvalidRequestError, match="the vendor refused the request") as caught:
            await provider.get_conversation("12")
    assert (caught.value.vendor_code, caught.value.vendor_message) == ("7", "Conversation is archived")


async def test_history_keeps_its_time_and_sorts_before_live_messages(sb_provider) -> None:
    remote_id = await create(sb_provider)
    await sb_provider.add_messages(remote_id, [NewMessage(text="live now")])
    old = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    [imported] = await sb_provider.add_messages(remote_id, [NewMessage(text="from email", created_at=old)], as_context=True)
    assert imported.imported and imported.created_at == old
    page = await sb_provider.list_messages(remote_id, first=10, after=None)
    assert [m.text for m in page.items] == ["from email", "live now"]
    assert page.items[0].created_at == old


async def test_a_time_more_than_30s_ahead_is_refused_before_anything_is_sent(sb_provider, sb_hooks) -> None:
    remote_id = await create(sb_provider)
    before = len(await sandbox_requests(sb_hooks))
    ahead = datetime.now(UTC) + timedelta(seconds=45)
    batch = [NewMessage(text="fine"), NewMessage(text="too early", created_at=ahead)]
    with pytest.raises(InvalidRequestError, match="30 s in the future") as caught:
        await sb_provider.add_messages(remote_id, batch)
    assert caught.value.field == "createdAt"
    assert len(await sandbox_requests(sb_hooks)) == before
    assert (await sb_provider.list_messages(remote_id, first=10, after=None)).items == ()


async def test_the_sandbox_also_refuses_a_future_time_the_adapter_let_through(sb_app: Starlette) -> None:
    """A clock-skewed adapter (its clock 60 s behind) still cannot write a future message."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sb_app), base_url=SB_BASE) as http:
        skewed = SocialboardsProvider(
            name="sb", http=http, client_id="test-client", refresh_token="test-refresh",
            clock=lambda: datetime.now(UTC) - timedelta(seconds=60),
        )
        remote_id = await create(skewed)
        with pytest.raises(InvalidRequestError):
            await skewed.add_messages(remote_id, [NewMessage(text="x", created_at=datetime.now(UTC) + timedelta(seconds=45))])
        assert (await skewed.list_messages(remote_id, first=5, after=None)).items == ()


async def test_a_closed_conversation_refuses_messages_and_stores_none(sb_provider) -> None:
    remote_id = await create(sb_provider, messages=1)
    closed = await sb_provider.close(remote_id)
    assert (closed.status, closed.vendor_status) == (ConversationStatus.CLOSED, "closed")
    with pytest.raises(InvalidRequestError):
        await sb_provider.add_messages(remote_id, [NewMessage(text="still there?")])
    assert [m.text for m in (await sb_provider.list_messages(remote_id, first=10, after=None)).items] == ["m0"]


async def test_queue_takeover_and_agent_reply_move_status(sb_provider, sb_hooks) -> None:
    remote_id = await create(sb_provider)
    queued = await sb_provider.get_conversation(remote_id)
    assert (queued.status, queued.vendor_status) == (ConversationStatus.NEW, "queued")
    assert queued.queue is not None and queued.queue.position is not None and queued.queue.position >= 0
    await sb_agent_replies(sb_hooks, remote_id, "Hi!")
    handled = await sb_provider.get_conversation(remote_id)
    assert (handled.status, handled.vendor_status) == (ConversationStatus.OPEN, "active")


async def test_bot_takeover_round_trip(sb_provider) -> None:
    remote_id = await create(sb_provider, bot_active=True)
    assert (await sb_provider.get_conversation(remote_id)).bot_active is True
    human = await sb_provider.set_bot_active(remote_id, False, agent_id="4c1f0d2e-8a55-4a8e-9c43-5b0f2f0c9a11")
    assert human.bot_active is False


async def test_feedback_and_latest_url_are_written(sb_provider) -> None:
    remote_id = await create(sb_provider, url="https://shop.example.test/cart")
    with_feedback = await sb_provider.set_feedback(remote_id, positive=True, comment="Nice, thank you!")
    assert with_feedback.feedback is not None and with_feedback.feedback.comment == "Nice, thank you!"
    moved = await sb_provider.set_latest_page_url(remote_id, "https://shop.example.test/checkout")
    assert moved.latest_page_url == "https://shop.example.test/checkout"
    assert moved.initial_page_url == "https://shop.example.test/cart"


async def test_a_closed_status_filter_is_sent_to_the_vendor(sb_provider, sb_hooks) -> None:
    open_id = await create(sb_provider)
    closed_id = await create(sb_provider)
    await sb_provider.close(closed_id)
    page = await sb_provider.list_conversations(
        filter=ConversationFilter(status=(ConversationStatus.CLOSED,)), order=SortOrder.UPDATED_DESC, first=10, after=None
    )
    assert [c.remote_id for c in page.items] == [closed_id]
    [listing] = [r for r in await sandbox_requests(sb_hooks, path_contains="tickets/list") if "ticketIds" not in r["body"]]
    assert listing["body"]["isClosed"] is True and listing["body"]["orderBy"] == "last_modified_time_desc"
    assert open_id not in [c.remote_id for c in page.items]


async def test_an_agent_message_is_sent_as_a_team_message(sb_provider) -> None:
    remote_id = await create(sb_provider)
    [message] = await sb_provider.add_messages(remote_id, [NewMessage(text="On it", author=AGENT)])
    assert message.author is not None and message.author.role is Role.AGENT


async def test_updating_anything_but_the_status_is_refused_naming_what_is_accepted(sb_provider) -> None:
    from providers import ConversationChanges

    with pytest.raises(InvalidRequestError, match="accepts only: status"):
        await sb_provider.update_conversation("1", ConversationChanges(topic="New topic"))


async def test_a_listing_of_ids_and_times_only_reads_tickets_and_fills_a_page_larger_than_one_ticket_page(sb_provider, sb_hooks) -> None:
    created = [await create(sb_provider) for _ in range(61)]
    await forget_requests(sb_hooks)
    page = await sb_provider.list_conversations(
        filter=ConversationFilter(), order=SortOrder.CREATED_ASC, first=60, after=None, fields=frozenset()
    )
    assert [c.remote_id for c in page.items] == created[:60]
    assert all(c.missing and c.created_at for c in page.items)  # ids and times only
    assert page.next_cursor is not None
    log = await sandbox_requests(sb_hooks)
    assert [r["path"].rsplit("/", 2)[-2:] for r in log] == [["tickets", "list"]] * 2  # 50 + 10, no conversation read
    rest = await sb_provider.list_conversations(
        filter=ConversationFilter(), order=SortOrder.CREATED_ASC, first=60, after=page.next_cursor, fields=frozenset()
    )
    assert [c.remote_id for c in rest.items] == created[60:] and rest.next_cursor is None
    [full] = await sb_provider.hydrate(rest.items, frozenset({"topic", "status"}))
    assert full == await sb_provider.get_conversation(created[60])
