"""`parley migrate`: the migration engine's command-line face.

    parley migrate --from A --to B [--filter JSON] [--dry-run] [--limit N] [--json]
    parley migrate status [JOB] [--json]
    parley migrate cancel JOB

On a terminal a live progress bar (conversations done/total, messages, rate, ETA, errors) and a
summary table at the end; without one, a plain progress line every few seconds (on stderr with
`--json`, which prints the final report on stdout). Ctrl-C (or SIGTERM) stops at the next
conversation boundary; the same command resumes. Exit code 0 only when everything that could move
moved; 1 when some conversation failed or the job stopped; 2 for bad arguments or settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from providers.errors import ProviderError

from ..settings import Settings, SettingsError, load_settings
from .report import summary_lines
from .records import Job

if TYPE_CHECKING:
    from .service import MigrationService
from .wiring import open_providers

PLAIN_EVERY = 2.0  # seconds between progress lines without a terminal
REFRESH = 0.2


def add_parser(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="copy conversations between providers (or: migrate status | cancel)")
    migrate.add_argument("action", nargs="?", choices=("status", "cancel"), help="status [JOB] or cancel JOB")
    migrate.add_argument("job", nargs="?", help="a job id (for status and cancel)")
    migrate.add_argument("--from", dest="source", help="the provider to copy from")
    migrate.add_argument("--to", dest="target", help="the provider to copy to")
    migrate.add_argument("--filter", help='which conversations, as JSON: {"status": ["CLOSED"], "createdAfter": "2024-01-01T00:00:00Z"}')
    migrate.add_argument("--dry-run", action="store_true", help="read and report what would be lost; write nothing")
    migrate.add_argument("--limit", type=int, help="at most this many conversations")
    migrate.add_argument("--json", action="store_true", help="print the final report (or status) as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"parley: bad setting: {exc}", file=sys.stderr)
        return 2
    if args.action is None:
        if not args.source or not args.target:
            print("parley migrate: give --from and --to (or: parley migrate status [JOB] | cancel JOB)", file=sys.stderr)
            return 2
        try:
            filter = json.loads(args.filter) if args.filter else None
        except ValueError as exc:
            print(f"parley migrate: --filter is not JSON ({exc})", file=sys.stderr)
            return 2
        return asyncio.run(_migrate(settings, args, filter))
    if args.action == "cancel" and not args.job:
        print("parley migrate cancel: name the job (parley migrate status lists them)", file=sys.stderr)
        return 2
    return asyncio.run(_status(settings, args) if args.action == "status" else _cancel(settings, args.job))


async def _migrate(settings: Settings, args: argparse.Namespace, filter: Any) -> int:
    async with open_providers(settings) as providers:
        from .service import MigrationService  # SQLAlchemy: only for `parley migrate`, not every command

        service = await MigrationService.open(settings.migrations, providers)
        try:
            try:
                job = await service.prepare(source=args.source, target=args.target, filter=filter, dry_run=args.dry_run, limit=args.limit)
            except ProviderError as exc:
                print(f"parley migrate: {exc.message}", file=sys.stderr)
                return 2
            out = sys.stderr if args.json else sys.stdout
            verb = "resuming" if job.counts.get("done") else "starting"
            print(f"{verb} migration {job.id}: {job.source} → {job.target}{' (dry run)' if job.dry_run else ''}", file=out)
            task = asyncio.create_task(service.run(job))
            _stop_on_signals(service, job.id, out)
            await _show_progress(service, job.id, task, out)
            final = await task
        finally:
            await service.close()
    report = final.report or {}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _summary(final, report, sys.stdout)
    return 0 if final.status == "COMPLETED" and report.get("complete") else 1


def _stop_on_signals(service: MigrationService, job_id: str, out: TextIO) -> None:
    loop = asyncio.get_running_loop()
    stops = {"count": 0}

    def stop() -> None:
        stops["count"] += 1
        if stops["count"] > 1:
            raise SystemExit(130)  # a second Ctrl-C: leave now; the job resumes from its intents
        print("stopping at the next conversation (Ctrl-C again to leave now) …", file=out)
        runner = service.runners.get(job_id)
        if runner is not None:
            runner.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


async def _show_progress(service: MigrationService, job_id: str, task: asyncio.Task[Job], out: TextIO) -> None:
    if out.isatty():
        await _progress_bar(service, job_id, task, out)
        return
    last = 0.0
    while not task.done():
        await asyncio.wait([task], timeout=REFRESH)
        runner = service.runners.get(job_id)
        if runner is not None and time.monotonic() - last >= PLAIN_EVERY:
            last = time.monotonic()
            print(_line(runner.live.snapshot()), file=out, flush=True)


def _line(live: dict[str, Any]) -> str:
    total = "?" if live["total"] is None else f"{live['total']:,}"
    eta = "" if live["eta"] is None else f", ETA {live['eta']:.0f} s"
    return (f"{live['phase']}: {live['done']:,}/{total} conversations, {live['messages']:,} messages, "
            f"{live['rate']:.1f} conversations/s{eta}, {live['failed']} failed")


async def _progress_bar(service: MigrationService, job_id: str, task: asyncio.Task[Job], out: TextIO) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=out), transient=False) as progress:
        bar = progress.add_task("conversations", total=None, detail="")
        while not task.done():
            await asyncio.wait([task], timeout=REFRESH)
            runner = service.runners.get(job_id)
            if runner is None:
                continue
            live = runner.live.snapshot()
            detail = f"{live['messages']:,} messages · {live['rate']:.1f}/s · {live['failed']} failed"
            progress.update(bar, completed=live["done"], total=live["total"], detail=detail, description=live["phase"])


def _summary(job: Job, report: dict[str, Any], out: TextIO) -> None:
    if job.error:
        print(f"migration {job.id} stopped: {job.error}; run the same command again to resume", file=out)
    if not report:
        return
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"migration {job.id}: {report['from']} → {report['to']} {'(dry run)' if report['dryRun'] else ''}")
        for column in ("field", "change", "on", "detail", "e.g."):
            table.add_column(column)
        written = report["conversations"]["created"] + report["conversations"]["updated"]
        for item in report["fields"]:
            on = f"{item['items']:,} messages" if item["field"].startswith("message") else f"{item['conversations']:,} of {written:,}"
            table.add_row(item["field"], item["change"].lower(), on, item["detail"], ", ".join(item["examples"]))
        console = Console(file=out)
        console.print(summary_lines(report)[0])
        console.print(table)
        for failure in report["failures"]:
            console.print(f"failed {failure['sourceId']}: {failure['error']}")
        return
    for line in summary_lines(report):
        print(line, file=out)


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    from .store import Store

    store = await Store.open(settings.migrations.database_url)
    try:
        jobs = [job for job in [await store.get_job(args.job)] if job is not None] if args.job else await store.list_jobs(first=20)
    finally:
        await store.close()
    if args.job and not jobs:
        print(f"parley migrate: no migration {args.job!r}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_as_json(job) for job in jobs], indent=2, ensure_ascii=False))
        return 0
    for job in jobs:
        counts = job.counts
        total = "?" if counts.get("total") is None else f"{counts['total']:,}"
        print(f"{job.id}  {job.source} → {job.target}{' (dry run)' if job.dry_run else ''}  {job.status}  "
              f"{counts.get('done', 0):,}/{total} conversations, {counts.get('messages', 0):,} messages, {counts.get('failed', 0)} failed")
        if args.job and job.report:
            print("\n".join(summary_lines(job.report)))
        if job.error:
            print(f"  error: {job.error}")
    return 0


async def _cancel(settings: Settings, job_id: str) -> int:
    from .store import Store

    store = await Store.open(settings.migrations.database_url)
    try:
        job = await store.request_cancel(job_id)
    finally:
        await store.close()
    if job is None:
        print(f"parley migrate: no migration {job_id!r}", file=sys.stderr)
        return 1
    print(f"{job.id}: {job.status}")
    return 0


def _as_json(job: Job) -> dict[str, Any]:
    return {"id": job.id, "from": job.source, "to": job.target, "dryRun": job.dry_run, "limit": job.limit, "status": job.status,
            "counts": job.counts, "error": job.error, "report": job.report, "createdAt": job.created_at, "finishedAt": job.finished_at}
