"""A migration's report: what it wrote (or, in a dry run, would write) and, per field, what the
target drops, defaults or transforms, with counts and a few example source ids. A dry run and a real
run give the same shape, so a partner can compare them.

    {"from": "acme-ib", "to": "support-sb", "fromVendor": "infobip", "toVendor": "socialboards",
     "dryRun": false, "status": "COMPLETED", "complete": true,
     "conversations": {"handled": 300, "created": 300, "updated": 0, "unchanged": 0, "failed": 0},
     "messages": {"written": 3412},
     "fields": [{"field": "priority", "change": "DROPPED", "detail": "Socialboards conversations have no priority",
                 "conversations": 120, "items": 120, "examples": ["c-001", "c-007", "c-019"]}, ...],
     "failures": [{"sourceId": "c-042", "error": "..."}]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .records import COMPLETED, Job

if TYPE_CHECKING:
    from .store import Store

MAX_FAILURES = 100


async def build_report(store: Store, job: Job, *, status: str, source_vendor: str | None, target_vendor: str | None) -> dict[str, Any]:
    tally = await store.tally(job.id)
    fields = [
        {"field": row.field, "change": row.change, "detail": row.detail, "conversations": conversations, "items": row.count,
         "examples": examples}
        for row, conversations, examples in await store.note_totals(job.id)
    ]
    failures = [{"sourceId": sid, "error": error} for sid, error in await store.failures(job.id, first=MAX_FAILURES)]
    handled = sum(tally[k] for k in ("CREATED", "UPDATED", "UNCHANGED", "FAILED"))
    return {
        "job": job.id, "from": job.source, "to": job.target, "fromVendor": source_vendor, "toVendor": target_vendor,
        "dryRun": job.dry_run, "status": status, "complete": status == COMPLETED and tally["FAILED"] == 0,
        "conversations": {
            "handled": handled, "created": tally["CREATED"], "updated": tally["UPDATED"],
            "unchanged": tally["UNCHANGED"], "failed": tally["FAILED"],
        },
        "messages": {"written": tally["messages"]},
        "fields": fields,
        "failures": failures,
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report in sentences: "`priority` dropped on 120 of 300 conversations (…)"."""
    conversations, messages = report["conversations"], report["messages"]["written"]
    written = conversations["created"] + conversations["updated"]
    verb = "would write" if report["dryRun"] else "wrote"
    head = f"{report['from']} ({report['fromVendor']}) → {report['to']} ({report['toVendor']})"
    lines = [
        f"{head}: {report['status']}{' (dry run)' if report['dryRun'] else ''}; {verb} {written:,} of {conversations['handled']:,} "
        f"conversations ({conversations['created']:,} new, {conversations['updated']:,} updated, "
        f"{conversations['unchanged']:,} unchanged, {conversations['failed']:,} failed) and {messages:,} messages"
    ]
    for item in report["fields"]:
        message_field = item["field"].startswith("message")
        number = f"{item['items']:,} of {messages:,} messages" if message_field else f"{item['conversations']:,} of {written:,} conversations"
        examples = ", ".join(item["examples"])
        lines.append(f"  {item['field']} {item['change'].lower()} on {number}: {item['detail']} (e.g. {examples})")
    for failure in report["failures"]:
        lines.append(f"  failed {failure['sourceId']}: {failure['error']}")
    return lines
