"""The migration store's tables (SQLAlchemy Core) and its versioned schema, created or upgraded at start.

    jobs           one migration: from, to, filter, dry run, limit, status, counts, report,
                   checkpoint (the source cursor all before which is handled), lease owner and expiry
    progress       one row per source conversation a job has handled: outcome, error, messages written
    notes          what a job wrote loses: one row per (source conversation, field, change, detail)
    conversations  the id map of conversations: source provider + id -> target provider + id, with
                   the status and tags last written (what a delta compares against)
    messages       the id map of messages (and history notes)
    intents        writes started whose outcome is not yet recorded: after a crash they are looked
                   for at the target before anything is written again

Times are epoch seconds (floats). Every upgrade step runs in one transaction, under an advisory lock
on PostgreSQL so instances starting together upgrade once.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 1
COMPONENT = "migrations"
LOCK_KEY = 7_231_904_117  # the advisory lock instances take while creating or upgrading the schema

metadata = MetaData()
ID = String(200)

versions = Table(
    "parley_schema", metadata,
    Column("component", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
)
jobs = Table(
    "parley_migration_jobs", metadata,
    Column("id", String(40), primary_key=True),
    Column("source", ID, nullable=False),
    Column("target", ID, nullable=False),
    Column("filter", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("limit", Integer),
    Column("status", String(20), nullable=False),
    Column("counts", Text, nullable=False),
    Column("report", Text),
    Column("error", Text),
    Column("checkpoint", Text),
    Column("current", ID),
    Column("lease_owner", ID),
    Column("lease_expires", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_parley_migration_jobs_created", "created_at", "id"),
)
progress = Table(
    "parley_migration_progress", metadata,
    Column("job_id", String(40), primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("outcome", String(20), nullable=False),  # CREATED UPDATED UNCHANGED FAILED
    Column("messages", Integer, nullable=False),
    Column("error", Text),
    Column("updated_at", Float, nullable=False),
)
notes = Table(
    "parley_migration_notes", metadata,
    Column("job_id", String(40), nullable=False),
    Column("source_id", ID, nullable=False),
    Column("field", String(60), nullable=False),
    Column("change", String(20), nullable=False),
    Column("detail", String(300), nullable=False),
    Column("count", Integer, nullable=False),
    Index("ix_parley_migration_notes_job", "job_id", "field", "change", "detail"),
)
conversations = Table(
    "parley_migration_conversations", metadata,
    Column("source_provider", ID, primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("target_provider", ID, primary_key=True),
    Column("target_id", ID, nullable=False),
    Column("status", String(20)),
    Column("tags", Text),  # JSON list; NULL until the state was first applied
    Column("created_at", Float, nullable=False),
)
messages = Table(
    "parley_migration_messages", metadata,
    Column("source_provider", ID, primary_key=True),
    Column("source_conversation", ID, primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("target_provider", ID, primary_key=True),
    Column("target_id", ID, nullable=False),
)
intents = Table(
    "parley_migration_intents", metadata,
    Column("source_provider", ID, primary_key=True),
    Column("source_id", ID, primary_key=True),
    Column("target_provider", ID, primary_key=True),
    Column("kind", String(20), primary_key=True),  # conversation | history
    Column("items", Text, nullable=False),  # JSON: the history keys of the batch
    Column("started_at", Float, nullable=False),
)


class SchemaTooNewError(RuntimeError):
    """The store was written by a newer Parley."""


def _create_v1(connection: Connection) -> None:
    metadata.create_all(connection, tables=[jobs, progress, notes, conversations, messages, intents])


# UPGRADES[n] takes a store at version n to n + 1 (a new version appends a step; none is ever changed).
UPGRADES: list[Callable[[Connection], None]] = [_create_v1]


def ensure_schema(connection: Connection) -> int:
    """Creates or upgrades the schema in the caller's transaction; returns the version it was at."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    metadata.create_all(connection, tables=[versions])
    found = connection.execute(select(versions.c.version).where(versions.c.component == COMPONENT)).scalar()
    current = int(found or 0)
    if current > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the migration store is at schema version {current}, newer than this Parley's {SCHEMA_VERSION}; upgrade Parley"
        )
    for step in UPGRADES[current:SCHEMA_VERSION]:
        step(connection)
    if found is None:
        connection.execute(versions.insert().values(component=COMPONENT, version=SCHEMA_VERSION))
    elif current < SCHEMA_VERSION:
        connection.execute(versions.update().where(versions.c.component == COMPONENT).values(version=SCHEMA_VERSION))
    return current
