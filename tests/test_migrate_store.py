"""The migration store on SQLite and on a real PostgreSQL: the versioned schema, leases that only one
owner wins, and the `[migrations]` settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Connection, update

from gateway.migrate.records import CANCELLED, CANCELLING, RUNNING, new_owner
from gateway.migrate.store import Store
from gateway.migrate.tables import SCHEMA_VERSION, SchemaTooNewError, versions
from gateway.migration_settings import DEFAULT_LEASE_SECONDS, MigrationSettings
from gateway.settings import SettingsError, load_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return MigrationSettings(store_path=tmp_path / "jobs.sqlite").database_url
    url: str = request.getfixturevalue("postgres_url")
    return MigrationSettings(store_url=url).database_url


async def new_job(store: Store, owner: str | None, *, lease: float = 30.0, source: str = "a") -> str:
    job = await store.create_job(source=source, target="b", filter={}, dry_run=False, limit=None, owner=owner, lease_seconds=lease, counts={})
    return job.id


async def test_the_schema_is_created_once_and_a_newer_one_is_refused(store_url: str) -> None:
    store = await Store.open(store_url)
    job = await new_job(store, new_owner())
    await store.close()
    store = await Store.open(store_url)  # opening again keeps the data
    assert (await store.get_job(job)) is not None
    await store.write(lambda connection: connection.execute(update(versions).values(version=SCHEMA_VERSION + 1)))
    await store.close()
    with pytest.raises(SchemaTooNewError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this Parley's {SCHEMA_VERSION}"):
        await Store.open(store_url)


async def test_only_one_owner_wins_a_lapsed_lease(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        job_id = await new_job(store, "elsewhere/1/x", lease=-1.0)  # its runner stopped renewing
        [orphan] = await store.orphaned_jobs()
        first, second = new_owner(), new_owner()
        assert await store.claim(orphan, first, 30) is True
        assert await store.claim(orphan, second, 30) is False  # read before the first claim: stale
        assert await store.renew(job_id, second, 30) is None
        assert await store.renew(job_id, first, 30) == RUNNING
        assert await store.orphaned_jobs() == []
        held = await store.get_job(job_id)
        assert held is not None and await store.claim(held, second, 30) is False  # held and renewed
    finally:
        await store.close()


async def test_cancel_asks_a_live_runner_and_ends_a_dead_ones_job_at_once(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        live = await new_job(store, new_owner())
        dead = await new_job(store, "elsewhere/1/x", lease=-1.0, source="c")
        assert (await store.request_cancel(live)).status == CANCELLING  # type: ignore[union-attr]
        assert (await store.request_cancel(dead)).status == CANCELLED  # type: ignore[union-attr]
        assert await store.request_cancel("mig-unknown") is None
    finally:
        await store.close()


async def test_a_lease_held_by_a_process_that_is_gone_is_free_at_once(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    host_owner = new_owner().split("/")[0] + f"/{gone.stdout.strip()}/dead"
    store = await Store.open(MigrationSettings(store_path=tmp_path / "jobs.sqlite").database_url)
    try:
        job_id = await new_job(store, host_owner, lease=600)
        job = await store.get_job(job_id)
        assert job is not None and job.lease_lapsed(0) and await store.claim(job, new_owner(), 30)
    finally:
        await store.close()


async def test_on_sqlite_a_commit_that_records_an_intent_is_synced_to_disk_and_the_others_are_not(tmp_path: Path) -> None:
    """An intent must survive a power cut before the vendor write it announces (FULL); the id map's
    and progress rows that follow a write need only survive a killed process (NORMAL in WAL mode)."""
    store = await Store.open(MigrationSettings(store_path=tmp_path / "jobs.sqlite").database_url)
    statements: list[str] = []

    def trace(connection: Connection) -> str:
        driver = connection.connection.driver_connection
        driver.set_trace_callback(statements.append)  # type: ignore[union-attr]
        return {1: "NORMAL", 2: "FULL"}[driver.execute("PRAGMA synchronous").fetchone()[0]]  # type: ignore[union-attr]

    level = await store.read(trace)
    try:
        job = await new_job(store, new_owner())
        await store.begin_intent("src", "c1", "dst", "conversation", replace=False)
        await store.map_conversation("src", "c1", "dst", "t1", history=["m1", "m2"])
        await store.map_messages("src", "c1", "dst", [("m1", "n1"), ("m2", "n2")])
        await store.begin_intent("src", "c1", "dst", "history", ["m3"])
        await store.clear_intent("src", "c1", "dst", "history")
        await store.finish(job, "src", "c1", "dst", outcome="CREATED", messages_written=2, fresh=True)
    finally:
        await store.close()
    commits: list[tuple[str, set[str]]] = []  # the commit level and the tables each transaction wrote
    writes: set[str] = set()
    for statement in statements:
        if statement.startswith("PRAGMA synchronous="):
            level = statement.removeprefix("PRAGMA synchronous=")
        elif statement.startswith(("INSERT", "DELETE", "UPDATE")):
            writes.add(statement.split()[2].removeprefix("parley_migration_"))
        elif statement == "COMMIT":
            commits.append((level, writes))
            writes = set()
    assert commits == [
        ("NORMAL", {"jobs"}),
        ("FULL", {"intents"}),  # the creation's intent
        ("FULL", {"conversations", "intents"}),  # the id map's row with the first history write's intent
        ("NORMAL", {"messages", "intents"}),  # the messages' ids, ending that intent
        ("FULL", {"intents"}),  # another history write's intent
        ("NORMAL", {"intents"}),
        ("NORMAL", {"progress"}),
    ]


# ---- settings -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def test_the_store_defaults_to_a_sqlite_file_beside_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "parley.toml").write_text('[migrations]\nstore_path = "state/jobs.sqlite"\nlease_seconds = 5\nconcurrency = 4\n')
    (tmp_path / "state").mkdir()
    settings = load_settings({"PARLEY_CONFIG": str(tmp_path / "parley.toml")}).migrations
    assert settings.store_path == tmp_path / "state" / "jobs.sqlite" and settings.lease_seconds == 5 and settings.concurrency == 4
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'jobs.sqlite'}" and not settings.shared
    assert load_settings({}).migrations == MigrationSettings(store_path=Path("parley-migrations.sqlite"), lease_seconds=DEFAULT_LEASE_SECONDS)


def test_postgresql_comes_from_store_url_and_the_environment_wins() -> None:
    settings = load_settings({"PARLEY_STORE_URL": "postgresql://parley:secret@db.internal:5432/parley"}).migrations
    assert settings.shared and settings.database_url == "postgresql+asyncpg://parley:secret@db.internal:5432/parley"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PARLEY_STORE_URL": "mysql://root:hunter2@db/parley"}, "PARLEY_STORE_URL / migrations.store_url: expected postgresql://"),
        ({"PARLEY_STORE_URL": "postgresql://db.internal"}, "expected postgresql://user[:password]@host[:port]/database"),
        ({"PARLEY_STORE_PATH": "no/such/folder/jobs.sqlite"}, "PARLEY_STORE_PATH / migrations.store_path: the folder"),
        ({"PARLEY_STORE_PATH": "."}, "is a folder; name the SQLite file"),
        ({"PARLEY_LEASE_SECONDS": "0"}, "PARLEY_LEASE_SECONDS / migrations.lease_seconds: must be more than 0"),
        ({"PARLEY_MIGRATION_CONCURRENCY": "0"}, "PARLEY_MIGRATION_CONCURRENCY / migrations.concurrency: expected 1 to 256, got 0"),
        ({"PARLEY_MIGRATION_CONCURRENCY": "lots"}, "PARLEY_MIGRATION_CONCURRENCY / migrations.concurrency: expected a whole number"),
    ],
)
def test_a_bad_store_setting_is_named_and_never_shows_a_password(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace("[", r"\[").replace("]", r"\]")) as caught:
        load_settings(env)
    assert "hunter2" not in str(caught.value)


def test_an_unknown_migrations_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "parley.toml").write_text('[migrations]\nstore = "x"\n')
    with pytest.raises(SettingsError, match="migrations: unknown setting\\(s\\) store"):
        load_settings({"PARLEY_CONFIG": str(tmp_path / "parley.toml")})


async def test_the_sqlite_file_is_created_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "first.sqlite"
    assert not path.exists()
    store = await Store.open(MigrationSettings(store_path=path).database_url)
    await store.close()
    assert path.exists() and os.path.getsize(path) > 0
