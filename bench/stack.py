"""The processes a benchmark measures: one `parley sandbox` per vendor and `parley serve` in front of
them, started as a user would (a `parley.toml` named by PARLEY_CONFIG), all on free loopback ports.

`running(...)` starts them, waits until each answers and stops them by pid when it exits, also on
Ctrl-C or an exception.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandboxes import load_sandbox

HOST = "127.0.0.1"
VENDORS = ("socialboards", "infobip", "clevertap")
DEMO_CONVERSATIONS = 60
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PARLEY = str(Path(sys.executable).with_name("parley"))
CHECKOUT = str(Path(__file__).resolve().parent.parent)

def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return json.dumps(value)  # a TOML basic string for these plain values


# Each sandbox's own sign-in options (sandboxes.<vendor>.CREDENTIALS), as lines of a provider's table.
CREDENTIALS = {name: "\n".join(f"{key} = {_toml(value)}" for key, value in load_sandbox(name).CREDENTIALS.items())
               for name in ("socialboards", "infobip", "clevertap")}


@dataclass(frozen=True)
class Stack:
    sandboxes: dict[str, str]  # vendor -> base URL, ending in "/"
    sandbox_pids: tuple[int, ...]
    graphql_url: str
    parley_pid: int
    workers: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def parley_toml(sandboxes: dict[str, str], server: str = "", provider: str = "") -> str:
    """`server` and `provider`: more lines for the [server] table and for every provider's.

    No pollers: they would read what the write scenario changes between requests, calls that neither
    the requests nor the direct client make (the fan-out bench sends webhooks)."""
    tables = [
        f'[providers.{vendor}]\nvendor = "{vendor}"\nbase_url = "{url}"\n{CREDENTIALS[vendor]}\npoll_interval = 0\n{provider}'
        for vendor, url in sandboxes.items()
    ]
    # The load generator is one address standing for many frontends: no per-client rate limits.
    return '[server]\ngraphiql = false\nrate_limit = ""\ncost_rate_limit = ""\n' + server + "\n" + "\n".join(tables)


@contextmanager
def running(
    *, latency_ms: int, workers: int, workdir: Path, vendors: tuple[str, ...] = VENDORS, server: str = ""
) -> Iterator[Stack]:
    """Sandboxes of `vendors` with `latency_ms` before each API request, and Parley with `workers`
    processes (`server`: more [server] settings)."""
    with ExitStack() as stack:
        sandboxes, pids = {}, []
        for vendor in vendors:
            sandboxes[vendor], pid = stack.enter_context(sandbox(vendor, latency_ms=latency_ms, workdir=workdir))
            pids.append(pid)
        config = workdir / "parley.toml"
        config.write_text(parley_toml(sandboxes, server), encoding="utf-8")
        port = free_port()
        graphql_url = f"http://{HOST}:{port}/graphql"
        command = ["serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
        parley = stack.enter_context(process(command, workdir / "parley.log", graphql_url, {"PARLEY_CONFIG": str(config)}))
        yield Stack(sandboxes, tuple(pids), graphql_url, parley.pid, workers)


@contextmanager
def sandbox(vendor: str, *, latency_ms: int, workdir: Path) -> Iterator[tuple[str, int]]:
    """`parley sandbox <vendor>` with `latency_ms` before each API request: its base URL (ending in "/")
    and its process id, until the block ends."""
    port = free_port()
    command = ["sandbox", vendor, "--host", HOST, "--port", str(port),
               "--demo", str(DEMO_CONVERSATIONS), "--latency-ms", str(latency_ms)]
    base_url = f"http://{HOST}:{port}/"
    with process(command, workdir / f"{vendor}.log", base_url + "_sandbox/clock") as running_sandbox:
        yield base_url, running_sandbox.pid


@contextmanager
def process(
    args: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`parley <args>`, its output in `log`, until `ready_url` answers 200; terminated on exit."""
    with log.open("wb") as output:
        # The checkout this file is in comes first on the path: a venv installed from another
        # checkout (a git worktree sharing one .venv) would otherwise run that checkout's code.
        path = os.pathsep.join(filter(None, (CHECKOUT, os.environ.get("PYTHONPATH"))))
        environment = {**os.environ, "PYTHONPATH": path, **(env or {})}
        process = subprocess.Popen([PARLEY, *args], stdout=output, stderr=subprocess.STDOUT, env=environment)
    try:
        _wait_until_ready(process, ready_url, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parley {' '.join(map(str, process.args[1:]))} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, params={"query": "{ __typename }"}, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_SECONDS:.0f} s; see {log}")


async def clear_upstream(http: httpx.AsyncClient, stack: Stack) -> None:
    for url in stack.sandboxes.values():
        (await http.delete(url + "_sandbox/requests")).raise_for_status()


async def upstream_counts(http: httpx.AsyncClient, stack: Stack) -> dict[str, int]:
    """vendor -> API requests its sandbox logged since the last `clear_upstream`."""
    counts = {}
    for vendor, url in stack.sandboxes.items():
        response = await http.get(url + "_sandbox/requests")
        response.raise_for_status()
        counts[vendor] = len(response.json()["requests"])
    return counts


def peak_rss_mib(stack: Stack) -> float:
    """VmHWM of the serve process; with several workers, the sum over the worker processes."""
    return sum(_status_kib(pid, "VmHWM") for pid in _parley_pids(stack)) / 1024


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time used so far by this process (the load generator and direct client), Parley and the sandboxes."""
    used = os.times()
    return {
        "runner": used.user + used.system,
        "Parley": sum(_cpu_of(pid) for pid in _parley_pids(stack)),
        "sandboxes": sum(_cpu_of(pid) for pid in stack.sandbox_pids),
    }


def _parley_pids(stack: Stack) -> list[int]:
    return [stack.parley_pid] if stack.workers == 1 else _worker_pids(stack.parley_pid)


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")
