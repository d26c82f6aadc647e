"""GraphQL execution alone: the by-id query (a conversation and 50 messages) executed in process over a
provider that answers from memory, with Parley's executor (`gateway.execution.PlainExecutor`) and with
strawberry's own, side by side. No HTTP, no vendor: what the executor costs per request.

    .venv/bin/python bench/execute.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from datetime import UTC, datetime
from typing import Any

from gateway.context import Context, make_loaders
from gateway.schema import build_schema
from providers import models as m
from providers.models import Page
from queries import BY_ID

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryProvider:
    name, vendor = "memory", "memory"
    capabilities: frozenset[Any] = frozenset()
    writable_statuses: frozenset[Any] = frozenset()
    updatable_fields: frozenset[str] = frozenset()
    writable_roles: frozenset[Any] = frozenset()

    async def get_conversation(self, remote_id: str, *, fields: Any = None) -> m.Conversation:
        return m.Conversation("memory", "memory", remote_id, m.ConversationStatus.OPEN, "open", NOW, NOW, topic="Topic")

    async def list_messages(self, remote_id: str, *, first: int, after: Any, newest_first: bool = False) -> Page[m.Message]:
        author = m.Participant("u1", "Ann", m.Role.CUSTOMER)
        items = tuple(m.Message("memory", str(i), remote_id, f"text {i}", author, m.Direction.INBOUND, NOW) for i in range(first))
        return Page(items, None, tuple(f"c{i}" for i in range(first)))


async def per_request_ms(schema: Any, rounds: int) -> float:
    providers = {"memory": MemoryProvider()}
    variables = {"id": base64.b64encode(b"Conversation:memory:42").decode()}
    for warm in (True, False):
        started = time.perf_counter()
        for _ in range(rounds // 5 if warm else rounds):
            context = Context(request=None, response=None, providers=providers, bus=None,  # type: ignore[arg-type]
                              loaders=make_loaders(providers, cache=True))
            result = await schema.execute(BY_ID, variable_values=variables, context_value=context)
            assert not result.errors, result.errors
    return (time.perf_counter() - started) / rounds * 1000


async def main(rounds: int) -> None:
    parley = await per_request_ms(build_schema(), rounds)
    stock = await per_request_ms(build_schema(executor=None), rounds)
    print(f"by-id query, 50 messages, executed in process ({rounds} rounds each)")
    print(f"  strawberry's executor  {stock:6.2f} ms per request")
    print(f"  Parley's executor      {parley:6.2f} ms per request  ({stock / parley:.1f}x faster)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    asyncio.run(main(parser.parse_args().rounds))
