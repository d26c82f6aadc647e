"""The provider contract: one behavioural suite, inherited by each vendor's test class.

A vendor's class provides the `env` fixture (a `ContractEnv`): the provider under test, wired to that
vendor's sandbox with a short timeout, plus vendor-specific seeding. Faults are injected through the
sandbox's `/_sandbox/faults` hook, which every sandbox offers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from providers import (
    Capability,
    ConversationChanges,
    ConversationFilter,
    ConversationStatus,
    MalformedResponseError,
    NotFoundError,
    Provider,
    ProviderAuthError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    SortOrder,
    UnsupportedOperationError,
)
from providers.errors import InvalidRequestError

from .helpers import inject_fault, sandbox_requests

ALL = ConversationFilter()


@dataclass
class ContractEnv:
    provider: Provider
    sandbox: httpx.AsyncClient  # talks to the sandbox's own /_sandbox hooks
    seed_conversation: Callable[[int], Awaitable[str]]  # messages -> remote id
    seed_conversations: Callable[[int], Awaitable[list[str]]]  # count -> remote ids
    missing_id: str
    fault_path: str  # a path fragment of the vendor's conversation reads

    async def fault(self, **fault: Any) -> None:
        await inject_fault(self.sandbox, **{"pathContains": self.fault_path, "times": 1, **fault})

    async def request_count(self) -> int:
        return len(await sandbox_requests(self.sandbox))


UNSUPPORTED_CALLS: dict[Capability, Callable[[Provider, str], Awaitable[Any]]] = {
    Capability.ROUTE: lambda p, rid: p.route(rid, queue_id=None),
    Capability.TAGS: lambda p, rid: p.add_tags(rid, ["vip"]),
    Capability.BOT_TAKEOVER: lambda p, rid: p.set_bot_active(rid, True),
    Capability.FEEDBACK: lambda p, rid: p.set_feedback(rid, positive=True, comment=None),
    Capability.PAGE_URL: lambda p, rid: p.set_latest_page_url(rid, "https://example.test/"),
    Capability.ASSIGN: lambda p, rid: p.assign(rid, agent_id="agent-1"),
}


class ProviderContract:
    async def test_get_returns_the_seeded_conversation(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(2)
        conversation = await env.provider.get_conversation(remote_id)
        assert (conversation.provider, conversation.remote_id) == (env.provider.name, remote_id)
        assert conversation.vendor == env.provider.vendor

    async def test_unknown_conversation_is_not_found(self, env: ContractEnv) -> None:
        with pytest.raises(NotFoundError):
            await env.provider.get_conversation(env.missing_id)

    async def test_paging_messages_yields_each_once_in_order(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(23)
        seen, after = [], None
        while True:
            page = await env.provider.list_messages(remote_id, first=5, after=after)
            assert len(page.items) <= 5 and len(page.cursors) == len(page.items)
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            after = page.next_cursor
        ids = [m.remote_id for m in seen]
        assert len(ids) == 23 and len(set(ids)) == 23
        times = [m.created_at for m in seen]
        assert times == sorted(times)

    async def test_an_item_cursor_resumes_right_after_that_item(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(6)
        page = await env.provider.list_messages(remote_id, first=6, after=None)
        rest = await env.provider.list_messages(remote_id, first=6, after=page.cursors[2])
        assert [m.remote_id for m in rest.items] == [m.remote_id for m in page.items[3:]]

    async def test_paging_conversations_yields_each_once(self, env: ContractEnv) -> None:
        created = set(await env.seed_conversations(17))
        seen: list[str] = []
        after = None
        for _ in range(50):
            page = await env.provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=4, after=after)
            seen.extend(c.remote_id for c in page.items)
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert len(seen) == len(set(seen))
        assert created <= set(seen)

    async def test_a_cursor_from_elsewhere_is_refused(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(3)
        await env.seed_conversations(1)
        with pytest.raises(InvalidRequestError, match="cursor"):
            await env.provider.list_messages(remote_id, first=2, after="bm90LWEtY3Vyc29y")
        listing = await env.provider.list_conversations(filter=ALL, order=SortOrder.UPDATED_DESC, first=1, after=None)
        assert listing.next_cursor is not None
        with pytest.raises(InvalidRequestError, match="cursor"):
            await env.provider.list_messages(remote_id, first=2, after=listing.next_cursor)

    async def test_401_becomes_an_auth_error(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(status=401, times=3)
        with pytest.raises(ProviderAuthError):
            await env.provider.get_conversation(remote_id)

    async def test_429_with_a_long_retry_after_is_rate_limited(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(status=429, retryAfter=30)
        with pytest.raises(RateLimitedError) as caught:
            await env.provider.get_conversation(remote_id)
        assert caught.value.retry_after == 30

    async def test_429_with_a_short_retry_after_is_retried(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(status=429, retryAfter=0)
        assert (await env.provider.get_conversation(remote_id)).remote_id == remote_id

    async def test_a_single_503_on_a_read_is_retried(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(status=503)
        assert (await env.provider.get_conversation(remote_id)).remote_id == remote_id

    async def test_persistent_5xx_is_unavailable(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(status=500, times=None)
        with pytest.raises(ProviderUnavailableError) as caught:
            await env.provider.get_conversation(remote_id)
        assert caught.value.status_code == 500

    async def test_no_answer_within_the_timeout_is_a_timeout(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(latencyMs=3000, times=None)
        with pytest.raises(ProviderTimeoutError):
            await env.provider.get_conversation(remote_id)

    async def test_a_malformed_body_is_malformed(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        await env.fault(malformed=True, times=None)
        with pytest.raises(MalformedResponseError):
            await env.provider.get_conversation(remote_id)

    async def test_a_webhook_body_the_vendor_would_not_send_is_malformed(self, env: ContractEnv) -> None:
        with pytest.raises(MalformedResponseError, match="webhook body"):
            env.provider.parse_webhook(["not", "an", "object"])

    async def test_operations_outside_capabilities_are_refused(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        missing = [c for c in UNSUPPORTED_CALLS if c not in env.provider.capabilities]
        for capability in missing:
            with pytest.raises(UnsupportedOperationError):
                await UNSUPPORTED_CALLS[capability](env.provider, remote_id)

    async def test_a_status_it_cannot_write_is_refused_before_any_call(self, env: ContractEnv) -> None:
        remote_id = await env.seed_conversation(1)
        refused = [s for s in ConversationStatus if s not in env.provider.writable_statuses]
        before = await env.request_count()
        for status in refused:
            with pytest.raises(InvalidRequestError, match="accepted values"):
                await env.provider.update_conversation(remote_id, ConversationChanges(status=status))
        assert await env.request_count() == before
