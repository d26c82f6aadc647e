"""The CleverTap adapter against its sandbox (two independent readings of docs/clevertap-api.md): the
shared provider contract, and the account's concurrency limit. The issue's acceptance rules end to end
through the gateway are in test_gateway_clevertap.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from providers.clevertap.provider import CleverTapProvider

from .helpers import ct_user_writes, forget_requests, inject_fault, new_identity, sandbox_requests
from .provider_contract import ContractEnv, ProviderContract


async def seed(hooks: httpx.AsyncClient, messages: int) -> str:
    identity = new_identity()
    remote_id = ""
    for i in range(max(messages, 1)):
        remote_id = await ct_user_writes(hooks, f"m{i}", identity=identity)
    return remote_id


class TestCleverTapContract(ProviderContract):
    @pytest.fixture
    def env(self, ct_provider: CleverTapProvider, ct_hooks: httpx.AsyncClient) -> ContractEnv:
        async def many(count: int) -> list[str]:
            return [await ct_user_writes(ct_hooks, "hello") for _ in range(count)]

        return ContractEnv(
            provider=ct_provider,
            sandbox=ct_hooks,
            seed_conversation=lambda n: seed(ct_hooks, n),
            seed_conversations=many,
            missing_id="cv_01HQWY5CG0R84P57VFQVC2R1ZZ",
            fault_path="/1/conversation",
        )


async def test_forty_concurrent_reads_stay_under_the_accounts_limit_of_fifteen(
    ct_provider: CleverTapProvider, ct_hooks: httpx.AsyncClient
) -> None:
    remote_id = await ct_user_writes(ct_hooks, "hello")
    await forget_requests(ct_hooks)
    await inject_fault(ct_hooks, latencyMs=40, pathContains="/1/conversation.json")
    results = await asyncio.gather(*(ct_provider.get_conversation(remote_id) for _ in range(40)))
    assert {c.remote_id for c in results} == {remote_id}
    log = await sandbox_requests(ct_hooks)
    assert len(log) == 40  # no request was refused with 429 and retried
