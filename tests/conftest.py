"""Shared fixtures: each vendor's sandbox in-process, a client for its hooks, the vendor's provider wired
to it, the gateway over the Socialboards sandbox, and a Redis server. What they are built from, and the
helpers tests call directly, are in helpers.py."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from providers.clevertap.provider import CleverTapProvider
from providers.infobip.provider import InfobipProvider
from providers.socialboards.provider import SocialboardsProvider

from .helpers import (
    ASHA,
    CT_BASE,
    CT_CREDENTIALS,
    CT_HEADERS,
    IB_API_KEY,
    IB_BASE,
    IB_HEADERS,
    SB_BASE,
    SB_OPTIONS,
    SB_PROVIDER,
    SHORT_TIMEOUT,
    FrozenClock,
    Gateway,
    asgi_client,
    clevertap_app,
    free_port,
    gateway_over,
    infobip_app,
    listening,
    socialboards_app,
)

PROVIDER_TIMEOUT = httpx.Timeout(SHORT_TIMEOUT, connect=SHORT_TIMEOUT)
# Servers the tests start (`python -m gateway.cli ...`) run this checkout's code, also where the
# environment has another checkout installed (a worktree beside the main one).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH")]))


@pytest.fixture
def sb_app() -> Starlette:
    return socialboards_app()


@pytest.fixture
async def sb_hooks(sb_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(sb_app, SB_BASE) as client:
        yield client


@pytest.fixture
async def sb_provider(sb_app: Starlette) -> AsyncIterator[SocialboardsProvider]:
    async with asgi_client(sb_app, SB_BASE, timeout=PROVIDER_TIMEOUT) as http:
        yield SocialboardsProvider(name="sb", http=http, **SB_OPTIONS)


@pytest.fixture
def ib_app() -> Starlette:
    return infobip_app()


@pytest.fixture
async def ib_hooks(ib_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(ib_app, IB_BASE, headers=IB_HEADERS) as client:
        yield client


@pytest.fixture
async def ib_provider(ib_app: Starlette) -> AsyncIterator[InfobipProvider]:
    async with asgi_client(ib_app, IB_BASE, timeout=PROVIDER_TIMEOUT) as http:
        yield InfobipProvider(name="ib", http=http, api_key=IB_API_KEY)


@pytest.fixture
def ct_app() -> Starlette:
    return clevertap_app(clock=FrozenClock())


@pytest.fixture
async def ct_hooks(ct_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(ct_app, CT_BASE, headers=CT_HEADERS) as client:
        yield client


@pytest.fixture
async def ct_provider(ct_app: Starlette) -> AsyncIterator[CleverTapProvider]:
    async with asgi_client(ct_app, CT_BASE, timeout=PROVIDER_TIMEOUT) as http:
        yield CleverTapProvider(name="ct", http=http, agent_email=ASHA, **CT_CREDENTIALS)


@pytest.fixture
async def gateway(sb_app: Starlette) -> AsyncIterator[Gateway]:
    """The gateway over the Socialboards sandbox `sb_app` (provider `sb`); test modules about another
    vendor override it."""
    async with gateway_over((SB_PROVIDER, sb_app)) as running:
        yield running


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the tests' own on a free loopback port, without persistence. `.ci/run` installs
    Redis and sets PARLEY_REQUIRE_REDIS, so there a missing server fails; elsewhere the tests that need
    it are skipped, saying why."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("PARLEY_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed: the Redis bus tests need it (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    with listening([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)], port):
        yield f"redis://127.0.0.1:{port}/0"


@dataclass(frozen=True)
class Postgres:
    url: str  # of the server's `postgres` database
    psql: list[str]  # psql against it, as the user the server runs as


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL server of the tests' own on a free loopback port, in a temporary folder. Debian's
    server refuses to run as root, so as root it runs as the `postgres` user. `.ci/run` installs
    PostgreSQL and sets PARLEY_REQUIRE_POSTGRES, so there a missing server fails; elsewhere the
    tests that need it are skipped, saying why."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    pg_ctl = found[-1] if found else (Path(shutil.which("pg_ctl") or "") if shutil.which("pg_ctl") else None)
    if pg_ctl is None:
        if os.environ.get("PARLEY_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed: the shared migration store tests need it (apt-get install postgresql)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    workdir = Path(tempfile.mkdtemp(prefix="parley-pg-"))
    if as_user:
        shutil.chown(workdir, "postgres", "postgres")
    port = free_port()
    data = workdir / "data"
    quiet = {"cwd": workdir, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([*as_user, str(pg_ctl.with_name("initdb")), "-D", str(data), "-A", "trust", "-U", "parley"], check=True, **quiet)
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(workdir / "log"), "-w", "start"], check=True, **quiet)
    try:
        psql = [str(pg_ctl.with_name("psql")), "-h", "127.0.0.1", "-p", str(port), "-U", "parley", "-d", "postgres", "-q"]
        yield Postgres(f"postgresql://parley@127.0.0.1:{port}/postgres", psql)
    finally:
        subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"], **quiet)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A fresh database on the tests' PostgreSQL server, for one test."""
    name = f"parley_{next(_databases)}_{os.getpid()}"
    subprocess.run([*postgres_server.psql, "-c", f'CREATE DATABASE "{name}"'], check=True, stdout=subprocess.DEVNULL)
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"


_databases = itertools.count(1)
