"""The migration engine's GraphQL face: `startMigration`, `cancelMigration`, `migration(id)`,
`migrations(first, after)` and the subscription `migrationProgress(id)`.

Every field needs the `migrate` scope and both providers of the job in the caller's scope; a job
between providers the caller may not touch is answered as not found. Jobs are read from the store,
so a job started on one instance is seen, watched and cancelled on every other (PostgreSQL).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON

from providers import ProviderError, echo

from ..auth import NeedsMigrate
from ..context import Info
from ..errors import ErrorCode, ResultError, client_error, graphql_error, invalid_input, not_found, result_error
from ..inputs import ConversationFilter
from ..types import PageInfo
from .records import Job

if TYPE_CHECKING:
    from .service import MigrationService

MAX_PAGE = 100


@strawberry.enum
class MigrationStatus(enum.Enum):
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.enum(description="What a migration target does with a field it cannot hold as it is.")
class FieldChange(enum.Enum):
    DROPPED = "DROPPED"
    DEFAULTED = "DEFAULTED"
    TRANSFORMED = "TRANSFORMED"
    KEPT = "KEPT"


@strawberry.type
class MigrationProgress:
    phase: str
    total: int | None
    done: int
    created: int
    updated: int
    unchanged: int
    failed: int
    messages: int
    rate: float = strawberry.field(description="Conversations per second in this run.")
    eta: float | None = strawberry.field(description="Seconds left, at the current rate.")


@strawberry.type
class FieldLoss:
    field: str
    change: FieldChange
    detail: str
    conversations: int
    items: int = strawberry.field(description="Objects it applies to (messages for message fields).")
    examples: list[str] = strawberry.field(description="A few source conversation ids.")


@strawberry.type
class MigrationFailure:
    source_id: str
    error: str


@strawberry.type
class MigrationReport:
    complete: bool = strawberry.field(description="Everything that could move moved.")
    handled: int
    created: int
    updated: int
    unchanged: int
    failed: int
    messages_written: int
    fields: list[FieldLoss]
    failures: list[MigrationFailure]
    json: JSON = strawberry.field(description="The whole report, as `parley migrate --json` prints it.")


@strawberry.type
class Migration:
    id: strawberry.ID
    source: str = strawberry.field(name="from")
    target: str = strawberry.field(name="to")
    dry_run: bool
    limit: int | None
    filter: JSON
    status: MigrationStatus
    progress: MigrationProgress
    current: str | None = strawberry.field(description="The source conversation being copied.")
    error: str | None
    report: MigrationReport | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_job(cls, job: Job) -> Migration:
        counts = job.counts
        progress = MigrationProgress(
            phase=str(counts.get("phase", "starting")), total=counts.get("total"), done=int(counts.get("done", 0)),
            created=int(counts.get("created", 0)), updated=int(counts.get("updated", 0)),
            unchanged=int(counts.get("unchanged", 0)), failed=int(counts.get("failed", 0)),
            messages=int(counts.get("messages", 0)), rate=float(counts.get("rate", 0.0)), eta=counts.get("eta"),
        )
        return cls(
            id=strawberry.ID(job.id), source=job.source, target=job.target, dry_run=job.dry_run, limit=job.limit,
            filter=JSON(job.filter), status=MigrationStatus(job.status), progress=progress, current=job.current,
            error=job.error, report=_report(job.report), created_at=_time(job.created_at),
            finished_at=_time(job.finished_at) if job.finished_at else None,
        )


def _report(raw: dict[str, Any] | None) -> MigrationReport | None:
    if raw is None:
        return None
    counts = raw["conversations"]
    return MigrationReport(
        complete=raw["complete"], handled=counts["handled"], created=counts["created"], updated=counts["updated"],
        unchanged=counts["unchanged"], failed=counts["failed"], messages_written=raw["messages"]["written"],
        fields=[FieldLoss(field=f["field"], change=FieldChange(f["change"]), detail=f["detail"], conversations=f["conversations"],
                          items=f["items"], examples=f["examples"]) for f in raw["fields"]],
        failures=[MigrationFailure(source_id=f["sourceId"], error=f["error"]) for f in raw["failures"]],
        json=JSON(raw),
    )


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@strawberry.input
class StartMigrationInput:
    source: str = strawberry.field(name="from")
    target: str = strawberry.field(name="to")
    filter: ConversationFilter | None = None
    dry_run: bool = False
    limit: int | None = None


@strawberry.type
class MigrationPayload:
    migration: Migration


@strawberry.type
class MigrationEdge:
    cursor: str
    node: Migration


@strawberry.type
class MigrationConnection:
    edges: list[MigrationEdge]
    page_info: PageInfo


@strawberry.type
class MigrationEvent:
    migration: Migration
    final: bool = strawberry.field(description="The last event: the migration ended; its report is complete.")


StartMigrationResult: TypeAlias = Annotated[MigrationPayload | ResultError, strawberry.union("StartMigrationResult")]
CancelMigrationResult: TypeAlias = Annotated[MigrationPayload | ResultError, strawberry.union("CancelMigrationResult")]


async def _service(info: Info) -> MigrationService:
    """The migration service, once the caller is known to hold the `migrate` scope."""
    principal = info.context.principal
    if "migrate" not in principal.scopes:
        raise client_error("migrations need the migrate scope", ErrorCode.FORBIDDEN)
    handle = getattr(getattr(info.context.request.app.state, "runtime", None), "migrations", None)
    if handle is None:
        raise client_error("migrations are not available in this process", ErrorCode.INTERNAL)
    service: MigrationService = await handle.service()
    return service


def _may_see(info: Info, job: Job) -> bool:
    principal = info.context.principal
    return principal.may_touch(job.source) and principal.may_touch(job.target)


async def _job(info: Info, service: MigrationService, id: str) -> Job | None:
    job = await service.get(id)
    return job if job is not None and _may_see(info, job) else None


@strawberry.type
class MigrationQuery:
    @strawberry.field(permission_classes=[NeedsMigrate], description="One migration job.")
    async def migration(self, info: Info, id: strawberry.ID) -> Migration | None:
        job = await _job(info, await _service(info), str(id))
        return Migration.from_job(job) if job is not None else None

    @strawberry.field(permission_classes=[NeedsMigrate], description="Migration jobs, newest first.")
    async def migrations(self, info: Info, first: int = 20, after: str | None = None) -> MigrationConnection:
        if not 1 <= first <= MAX_PAGE:
            raise client_error(f"first must be between 1 and {MAX_PAGE}, got {first}", field="first")
        service = await _service(info)
        position = _decode(after) if after else None
        jobs = [job for job in await service.list_jobs(first=first + 1, after=position) if _may_see(info, job)]
        edges = [MigrationEdge(cursor=_encode(job), node=Migration.from_job(job)) for job in jobs[:first]]
        page_info = PageInfo(has_next_page=len(jobs) > first, end_cursor=edges[-1].cursor if edges else None)
        return MigrationConnection(edges=edges, page_info=page_info)


@strawberry.type
class MigrationMutation:
    @strawberry.mutation(permission_classes=[NeedsMigrate], description="Starts a migration (or resumes the unfinished one with the same from, to, filter and dryRun).")
    async def start_migration(self, info: Info, input: StartMigrationInput) -> StartMigrationResult | None:
        service = await _service(info)
        for field, name in (("from", input.source), ("to", input.target)):
            if name not in info.context.providers or not info.context.principal.may_touch(name):  # one answer for both
                return invalid_input(f"{field}: no provider named {echo(name)}", field=field)
        filter = _filter_json(input.filter)
        if isinstance(filter, str):
            return invalid_input(filter, field="filter")
        try:
            job = await service.start(source=input.source, target=input.target, filter=filter, dry_run=input.dry_run, limit=input.limit)
        except ProviderError as exc:
            typed = result_error(exc)
            if typed is None:
                raise graphql_error(exc) from exc
            return typed
        return MigrationPayload(migration=Migration.from_job(job))

    @strawberry.mutation(permission_classes=[NeedsMigrate], description="Stops a migration at its next conversation; starting it again resumes it.")
    async def cancel_migration(self, info: Info, id: strawberry.ID) -> CancelMigrationResult | None:
        service = await _service(info)
        if await _job(info, service, str(id)) is None:
            return not_found(f"no migration {str(id)!r}")
        return MigrationPayload(migration=Migration.from_job(await service.cancel(str(id))))


@strawberry.type
class MigrationSubscription:
    @strawberry.subscription(permission_classes=[NeedsMigrate], description="A migration's progress as it changes (counts, current conversation, errors), then its final report.")
    async def migration_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[MigrationEvent, None]:
        service = await _service(info)
        if await _job(info, service, str(id)) is None:
            raise client_error(f"no migration {str(id)!r}", ErrorCode.NOT_FOUND, field="id")
        async for job in service.watch(str(id)):
            yield MigrationEvent(migration=Migration.from_job(job), final=job.status in ("COMPLETED", "CANCELLED", "FAILED"))


def _filter_json(filter: ConversationFilter | None) -> dict[str, Any] | str:
    """The GraphQL filter as the job stores it (the names `--filter` takes), or what is wrong with it."""
    if filter is None:
        return {}
    if filter.providers is not None or filter.vendors is not None:
        return "filter: providers and vendors do not apply to a migration (it reads `from`)"
    values = {
        "status": filter.status, "priority": filter.priority, "channel": filter.channel, "tags": filter.tags,
        "assigneeId": filter.assignee_id, "queueId": filter.queue_id, "remoteId": filter.remote_id,
        "campaign": filter.campaign, "search": filter.search, "active": filter.active,
        "createdAfter": filter.created_after, "createdBefore": filter.created_before,
        "updatedAfter": filter.updated_after, "updatedBefore": filter.updated_before,
    }
    return {key: _plain(value) for key, value in values.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _encode(job: Job) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at!r}|{job.id}".encode()).decode()


def _decode(cursor: str) -> tuple[float, str]:
    try:
        created, _, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return float(created), job_id
    except (binascii.Error, UnicodeError, ValueError):
        raise client_error("after: not a cursor of this list", field="after") from None

