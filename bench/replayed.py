"""The Infobip shapes of bench/shapes.py in process, with the vendor's answers replayed: what Parley's own
Python costs per request, without HTTP on either side.

An in-process Infobip sandbox (a fixed clock, so every run answers the same bytes) is seeded as
bench/shapes.py seeds it: 20 conversations of 50 messages. Parley's schema runs each shape's document
over the Infobip provider, whose transport answers each request with the bytes the sandbox gave the
first time it was asked; the result is encoded with orjson, as the gateway answers. The collector is
settled as `parley serve` settles it (`gateway.tuning`). Printed per shape: the process CPU time per
request (the best of 5 batches: the machine is shared) and the size of the answer; `--out DIR` writes
each answer, to compare two checkouts byte for byte.

    .venv/bin/python bench/replayed.py [--rounds 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# This checkout's code, as bench/stack.py gives `parley serve` (PYTHONPATH): a venv installed from another
# checkout would otherwise answer the imports below, and a comparison of two checkouts compare one with itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402 - after the checkout's path
import orjson
from graphql import ExecutionResult
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.context import Context, make_loaders
from gateway.schema import build_schema
from gateway.tuning import YOUNG_THRESHOLD
from providers._wire import VendorHttp, WireRequest, WireResponse
from providers.infobip.provider import InfobipProvider
from sandboxes.infobip import app as infobip_sandbox
from shapes import CONVERSATIONS, MESSAGES, SHOP_PHONE, documents

API_KEY = "replay-key"
START = datetime(2026, 1, 1, tzinfo=UTC)


class Replayed(VendorHttp):
    """Requests built as `parley serve` builds them; each answered with the sandbox's first answer to it."""

    def __init__(self, sandbox: httpx.AsyncClient) -> None:
        super().__init__("http://infobip.replay/")
        self._sandbox = sandbox
        self._answers: dict[tuple[str, str], tuple[int, bytes]] = {}

    async def send(self, request: WireRequest) -> WireResponse:
        key = (request.method, request.url)
        if key not in self._answers:
            answer = await self._sandbox.request(request.method, request.url, headers=dict(request.headers), content=request.body)
            self._answers[key] = (answer.status_code, answer.content)
        status, content = self._answers[key]
        return WireResponse(status, CIMultiDictProxy(CIMultiDict()), content, request)


async def seeded_provider() -> tuple[InfobipProvider, list[str]]:
    ticks = itertools.count()
    app = infobip_sandbox.create_app(api_key=API_KEY, demo_conversations=60,
                                     clock=lambda: START + timedelta(microseconds=next(ticks) * 1700))
    sandbox = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://infobip.replay/")
    ids = []
    for n in range(CONVERSATIONS):
        body = {"from": f"4477009{n:05d}", "to": SHOP_PHONE, "channel": "WHATSAPP", "text": "Customer line 0"}
        created = (await sandbox.post("_sandbox/inbound", json=body)).json()["conversationId"]
        for line in range(1, MESSAGES):
            await sandbox.post("_sandbox/inbound", json={**body, "text": f"Customer line {line}", "conversationId": created})
        ids.append(str(created))
    return InfobipProvider(name="infobip", http=Replayed(sandbox), api_key=API_KEY), ids


async def execute(schema: Any, providers: dict[str, Any], document: str, variables: dict[str, Any]) -> ExecutionResult:
    """One request of `document` over `providers`, in process, with loaders of its own as the gateway's
    view gives each request."""
    context = Context(request=None, response=None, providers=providers, bus=None,  # type: ignore[arg-type]
                      loaders=make_loaders(providers, cache=True))
    return await schema.execute(document, variable_values=variables, context_value=context)


async def main(rounds: int, out: Path | None) -> None:
    provider, ids = await seeded_provider()
    providers = {"infobip": provider}
    schema = build_schema()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    for name, (document, variables) in documents(ids).items():

        async def once() -> bytes:
            result = await execute(schema, providers, document, variables)
            assert not result.errors, result.errors
            return orjson.dumps({"data": result.data})

        answer = b""
        for _ in range(max(5, rounds // 5)):
            answer = await once()
        batches = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(rounds):
                await once()
            batches.append((time.process_time() - started) / rounds * 1000)
        print(f"{name:7s} {min(batches):7.3f} ms CPU per request (best of 5 batches of {rounds}), {len(answer):,} bytes", flush=True)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.json").write_bytes(answer)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="requests per batch (default 40)")
    parser.add_argument("--out", type=Path, help="write each shape's answer to DIR/<shape>.json")
    options = parser.parse_args()
    asyncio.run(main(options.rounds, options.out))
