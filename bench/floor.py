"""What the vendor calls of each shape of bench/shapes.py cost on their own: the floor under Parley's CPU
per request, before it maps a row, completes a field or answers its client.

It starts `parley sandbox infobip` on loopback and seeds it as bench/shapes.py does (20 conversations of
50 messages). Then, per shape, Parley's schema runs the shape's document once in process over the
Infobip adapter on the pooled aiohttp client `parley serve` uses (`providers._wire.VendorHttp`), and
every vendor request it sends is recorded, with which of them were in flight together (a nested page
sends its 20 message reads at once). Those same requests are then sent again and again, in the same
waves, with nothing but `VendorHttp.send` and `orjson.loads` of each answer, and this process's CPU time
per round is printed beside the shape's CPU target (issue 17: 0.6x Hive Gateway's CPU per request).

    .venv/bin/python bench/floor.py [--rounds 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This checkout's code, as bench/stack.py gives `parley serve` (PYTHONPATH).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402 - after the checkout's path
import orjson  # noqa: E402

from gateway.schema import build_schema  # noqa: E402
from providers._wire import VendorHttp, WireRequest, WireResponse  # noqa: E402
from providers.infobip.provider import InfobipProvider  # noqa: E402
from sandboxes import load_sandbox  # noqa: E402
from replayed import execute  # noqa: E402
from shapes import CPU_TARGET, HIVE, VENDOR, documents, seed  # noqa: E402
from stack import sandbox  # noqa: E402

API_KEY = load_sandbox(VENDOR).CREDENTIALS["api_key"]
Waves = list[list[WireRequest]]


class Recording(VendorHttp):
    """`VendorHttp` that notes each request it sends, in waves: a request joins the current wave while
    no answer of that wave has come back yet."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.waves: Waves = []
        self._answered = True  # the current wave has an answer: the next request starts a new one

    async def send(self, request: WireRequest) -> WireResponse:
        if self._answered:
            self.waves.append([])
            self._answered = False
        self.waves[-1].append(request)
        try:
            return await super().send(request)
        finally:
            self._answered = True


async def record(base_url: str, document: str, variables: dict[str, Any]) -> Waves:
    """The vendor requests one run of `document` sends, in waves."""
    http = Recording(base_url)
    providers = {VENDOR: InfobipProvider(name=VENDOR, http=http, api_key=API_KEY)}
    result = await execute(build_schema(), providers, document, variables)
    await http.aclose()
    if result.errors:
        raise SystemExit(f"the shape's document failed: {result.errors}")
    return http.waves


async def replay(base_url: str, waves: Waves, rounds: int) -> float:
    """CPU milliseconds per round of sending `waves` (each wave at once) and decoding every answer."""
    http = VendorHttp(base_url)

    async def fetch(request: WireRequest) -> Any:
        answer = await http.send(request)
        if answer.status_code != 200:
            raise SystemExit(f"{request.method} {request.url}: {answer.status_code}")
        return orjson.loads(answer.content)

    async def one() -> None:
        for wave in waves:
            await asyncio.gather(*(fetch(request) for request in wave))

    for _ in range(max(5, rounds // 10)):  # connections opened, code warm
        await one()
    started = time.process_time()
    for _ in range(rounds):
        await one()
    used = (time.process_time() - started) / rounds * 1000
    await http.aclose()
    return used


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir, sandbox(VENDOR, latency_ms=0, workdir=Path(workdir)) as (base_url, _):
        async with httpx.AsyncClient(timeout=30) as http:
            seeded = await seed(http, base_url)
        print(f"Infobip sandbox on loopback, no added latency · {options.rounds} rounds per run · "
              f"median of {options.repeat} run(s)")
        print(f"{'shape':7s} {'calls':>5s} {'waves':>5s} {'vendor I/O CPU ms/req':>22s} {'CPU target':>10s} {'share of target':>15s}")
        for shape, (document, variables) in documents(seeded).items():
            waves = await record(base_url, document, variables)
            runs = [await replay(base_url, waves, options.rounds) for _ in range(options.repeat)]
            floor, target = statistics.median(runs), HIVE[0][shape][2] * CPU_TARGET
            calls = sum(len(wave) for wave in waves)
            print(f"{shape:7s} {calls:5d} {len(waves):5d} {floor:22.2f} {target:10.2f} {floor / target:14.0%}", flush=True)
    print("(vendor I/O: VendorHttp.send and orjson.loads of each answer alone, in this process; the target is "
          "issue 17's CPU per request for the whole gateway at 0 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds of each shape's vendor calls per run (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape; the median is printed (default 3)")
    options = parser.parse_args()
    try:  # the loop `parley serve` runs on (uvicorn's "auto": uvloop when installed, as uvicorn[standard] does)
        import uvloop
    except ImportError:
        asyncio.run(main(options))
    else:
        uvloop.run(main(options))
