"""The Infobip adapter against its sandbox (two independent readings of the vendor docs and
docs/infobip.md): the shared provider contract. The same rules through the gateway are in
test_gateway_infobip.py."""

from __future__ import annotations

import httpx
import pytest

from providers.infobip.provider import InfobipProvider

from .helpers import ib_customer_writes
from .provider_contract import ContractEnv, ProviderContract


async def seed(hooks: httpx.AsyncClient, messages: int) -> str:
    remote_id = await ib_customer_writes(hooks, "m0")
    for i in range(1, messages):
        await ib_customer_writes(hooks, f"m{i}", conversation=remote_id)
    return remote_id


class TestInfobipContract(ProviderContract):
    @pytest.fixture
    def env(self, ib_provider: InfobipProvider, ib_hooks: httpx.AsyncClient) -> ContractEnv:
        async def many(count: int) -> list[str]:
            return [await ib_customer_writes(ib_hooks, "hello") for _ in range(count)]

        return ContractEnv(
            provider=ib_provider,
            sandbox=ib_hooks,
            seed_conversation=lambda n: seed(ib_hooks, n),
            seed_conversations=many,
            missing_id="0b6c2a4e-0000-4000-8000-000000000000",
            fault_path="/ccaas/1/conversations",
        )
