"""Shared fixtures: a Socialboards sandbox in-process, a provider wired to it, and the gateway."""

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
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import ProviderSettings, Settings
from sandboxes.socialboards import app as sb_sandbox
from providers.socialboards.provider import SocialboardsProvider

SB_BASE = "http://sb.test/"
SB_CREDENTIALS = {"client_id": "test-client", "refresh_token": "test-refresh"}
SHORT_TIMEOUT = 0.5


def sandbox_app(**kw: Any) -> Starlette:
    return sb_sandbox.create_app(client_id="test-client", refresh_token="test-refresh", **kw)


def hooks_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SB_BASE)


@pytest.fixture
def sb_app() -> Starlette:
    return sandbox_app()


@pytest.fixture
async def sb_hooks(sb_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with hooks_client(sb_app) as client:
        yield client


@pytest.fixture
async def sb_provider(sb_app: Starlette) -> AsyncIterator[SocialboardsProvider]:
    timeout = httpx.Timeout(SHORT_TIMEOUT, connect=SHORT_TIMEOUT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sb_app), base_url=SB_BASE, timeout=timeout) as http:
        yield SocialboardsProvider(name="sb", http=http, **SB_CREDENTIALS)


@dataclass
class Gateway:
    """The gateway app with its lifespan running, plus a GraphQL helper."""

    app: Starlette
    client: httpx.AsyncClient

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.execute(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


def gateway_settings(*, timeout: float = SHORT_TIMEOUT, webhook_secret: str | None = "hook-secret") -> Settings:
    provider = ProviderSettings("sb", "socialboards", SB_BASE, SB_CREDENTIALS, webhook_secret)
    return Settings(providers=(provider,), upstream_timeout=timeout, graphiql=False)


@pytest.fixture
async def gateway(sb_app: Starlette) -> AsyncIterator[Gateway]:
    app = create_app(gateway_settings(), transports={"sb": httpx.ASGITransport(app=sb_app)})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


@contextlib.asynccontextmanager
async def gateway_over(*vendors: tuple[ProviderSettings, Starlette], timeout: float = SHORT_TIMEOUT) -> AsyncIterator[Gateway]:
    """The gateway with its lifespan running, each provider wired in-process to its sandbox app."""
    settings = Settings(providers=tuple(p for p, _ in vendors), upstream_timeout=timeout, graphiql=False)
    app = create_app(settings, transports={p.name: httpx.ASGITransport(app=sandbox) for p, sandbox in vendors})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield Gateway(app, client)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int) -> None:
    """Returns once something listens on the loopback port (fails after 15 s)."""
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port}")


@contextlib.contextmanager
def listening(argv: list[str], port: int, cwd: Path | None = None) -> Iterator[None]:
    """A server process started by the test, from when it listens on `port` until the block ends."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


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
