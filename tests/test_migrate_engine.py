"""The migration engine between sandboxes in-process: everything accounted for, the report's losses
exactly what the target lacks, dry runs and deltas, refusals and retries, lost answers, cancelling.

Infobip as a target needs notes in the Infobip sandbox, which come with the sandbox-notes branch;
those tests skip, saying so, until it is merged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.migrate.service import MigrationService
from providers.errors import UnsupportedOperationError
from providers.models import ConversationChanges, ConversationStatus, NewConversation, ParticipantInput

from .migrate_kit import (
    LosesAnswers,
    Vendor,
    content,
    conversations,
    messages,
    migrate,
    ms,
    notes_by_conversation,
    notes_supported,
    service,
    vendor,
)

EMPTY = (None, (), "")
ChangesSolved = ConversationChanges(status=ConversationStatus.SOLVED)
NO_NOTES = "the Infobip sandbox has no notes yet (they come with the sandbox-notes branch, merged before this one)"


async def needs_notes() -> None:
    if not await notes_supported():
        pytest.skip(NO_NOTES)


async def target_history(target: Vendor, remote_id: str) -> list[tuple[int | None, str | None, str | None]]:
    """(time ms, text, role) of what the target holds as history: messages, or Infobip's notes."""
    if target.provider.vendor != "infobip":
        return [(ms(m), m.text, m.author.role.value if m.author else None) for m in await messages(target.provider, remote_id)]
    answer = await target.hooks.get(f"/ccaas/1/conversations/{remote_id}/notes", params={"limit": 999, "orderBy": "createdAt:asc"},
                                    headers={"Authorization": "App sandbox-key"})
    assert answer.status_code == 200, answer.text
    return [(None, note["content"], None) for note in answer.json()["notes"]]


async def assert_accounted(svc: MigrationService, source: Vendor, target: Vendor, job_id: str) -> int:
    """Every source conversation and message is at the target (texts, order, original times where the
    target keeps them), and each field is equal unless the report says what became of it. Returns
    the number of messages compared."""
    notes = await notes_by_conversation(svc, job_id)
    at_target = {c.remote_id: c for c in await conversations(target.provider)}
    sources = await conversations(source.provider)
    assert len(at_target) == len(sources)
    compared = 0
    for s in sources:
        mapped = await svc.store.mapped(source.provider.name, s.remote_id, target.provider.name)
        assert mapped is not None, f"{s.remote_id} was not migrated"
        t, said = at_target.pop(mapped.target_id), notes.get(s.remote_id, {})
        history = await target_history(target, t.remote_id)
        originals = await messages(source.provider, s.remote_id)
        assert len(history) == len(originals)
        for (when, text, role), original in zip(history, originals, strict=True):
            if target.provider.vendor == "infobip":
                assert text is not None and original.text is not None and original.text in text
            else:
                assert (when, text) == (ms(original), original.text)
                if "message.author" not in said and original.author is not None:
                    assert role == original.author.role.value
        compared += len(originals)
        _fields_as_reported(s, t, said)
    assert not at_target, f"conversations at the target that no source conversation maps to: {sorted(at_target)}"
    return compared


def _fields_as_reported(s: Any, t: Any, said: dict[str, list[tuple[str, str]]]) -> None:
    for field in ("status", "channel", "priority"):
        changes = said.get(field)
        if changes and changes[0][0] in ("TRANSFORMED", "DEFAULTED"):
            before, after = changes[0][1].split(" → ")
            assert getattr(t, field).value == after and (getattr(s, field) is None and before == "none" or getattr(s, field).value == before)
        elif changes:
            assert changes[0][0] == "DROPPED" and getattr(s, field) not in EMPTY and getattr(t, field) in EMPTY
        elif field != "priority" or t.vendor == s.vendor:
            assert getattr(t, field) == getattr(s, field), field
    for field in ("tags", "topic", "summary"):
        changes = said.get(field)
        if changes and changes[0][0] == "DROPPED":
            assert getattr(s, field) not in EMPTY and getattr(t, field) in EMPTY, field
        elif not changes:
            assert getattr(t, field) == getattr(s, field), field


async def test_socialboards_to_socialboards_moves_every_conversation_and_message(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb-a", demo=14) as a, vendor("socialboards", "sb-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.error, job.report["complete"]) == ("COMPLETED", None, True)
        assert job.report["conversations"]["created"] == 14
        assert await assert_accounted(svc, a, b, job.id) == job.report["messages"]["written"] > 14


async def test_infobip_to_socialboards_moves_every_conversation_and_message(tmp_path: Path) -> None:
    async with vendor("infobip", "ib", demo=14) as a, vendor("socialboards", "sb") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"]) == ("COMPLETED", True)
        await assert_accounted(svc, a, b, job.id)
        fields = {(f["field"], f["change"]) for f in job.report["fields"]}
        assert {("priority", "DROPPED"), ("tags", "DROPPED"), ("message.createdAt", "KEPT")} <= fields


async def test_clevertap_to_socialboards_moves_every_conversation_and_message(tmp_path: Path) -> None:
    async with vendor("clevertap", "ct", demo=10) as a, vendor("socialboards", "sb") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"]) == ("COMPLETED", True)
        assert await assert_accounted(svc, a, b, job.id) > 0


async def test_socialboards_to_infobip_carries_history_as_notes_never_messages(tmp_path: Path) -> None:
    await needs_notes()
    async with vendor("socialboards", "sb", demo=10) as a, vendor("infobip", "ib") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"]) == ("COMPLETED", True)
        await assert_accounted(svc, a, b, job.id)
        assert not [r for r in await b.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]


async def test_clevertap_is_refused_as_a_target_at_once(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb", demo=2) as a, vendor("clevertap", "ct") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        with pytest.raises(UnsupportedOperationError, match="no CleverTap API creates a conversation"):
            await svc.prepare(source="sb", target="ct")
        assert await svc.list_jobs(first=5) == [] and await b.requests() == []


@pytest.mark.parametrize("target_kind", ["socialboards", "infobip"])
async def test_a_dry_run_writes_nothing_and_reports_what_the_real_run_does(tmp_path: Path, target_kind: str) -> None:
    async with vendor("socialboards", "src", demo=12) as a, vendor(target_kind, "dst") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        dry = await migrate(svc, a, b, dry_run=True)
        assert dry.status == "COMPLETED" and dry.report["dryRun"] is True
        assert [r for r in await b.requests() if r["method"] != "GET"] == []
        assert await conversations(b.provider) == []
        if target_kind == "infobip" and not await notes_supported():
            return  # the real run needs the sandbox's notes
        real = await migrate(svc, a, b)
        assert real.report["fields"] == dry.report["fields"]
        assert real.report["conversations"] == dry.report["conversations"] and real.report["messages"] == dry.report["messages"]


async def test_an_unchanged_rerun_writes_nothing_and_a_delta_writes_exactly_what_is_new(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb-a", demo=8) as a, vendor("socialboards", "sb-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        first = await migrate(svc, a, b)
        await b.forget_requests()
        again = await migrate(svc, a, b)
        assert again.id != first.id and await b.writes() == []
        assert again.report["conversations"]["unchanged"] == 8 and again.report["messages"]["written"] == 0
        open_one = next(c for c in await conversations(a.provider) if c.status is not ConversationStatus.CLOSED)
        for text in ("one more thing", "and another", "thanks"):
            await a.hooks.post(f"/_sandbox/conversations/{open_one.remote_id}/customer-message", json={"message": text})
        await a.provider.create_conversation(NewConversation(customer=ParticipantInput(name="New", email="new@example.com"), topic="New one"))
        delta = await migrate(svc, a, b)
        writes = await b.writes()
        assert sorted((w["method"], w["path"].rsplit("/", 1)[-1]) for w in writes) == [("POST", "conversations"), ("POST", "previousMessages")]
        [history] = [w for w in writes if w["path"].endswith("/previousMessages")]
        assert [item["message"] for item in history["body"]] == ["one more thing", "and another", "thanks"]
        assert (delta.report["conversations"]["created"], delta.report["conversations"]["updated"], delta.report["messages"]["written"]) == (1, 1, 3)
        await a.provider.close(open_one.remote_id)
        await b.forget_requests()
        closing = await migrate(svc, a, b)
        assert [w["path"].rsplit("/", 1)[-1] for w in await b.writes()] == ["close"]
        assert closing.report["conversations"]["updated"] == 1
        await assert_accounted(svc, a, b, first.id)


async def test_a_refused_conversation_is_reported_and_the_job_goes_on(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb-a", demo=6) as a, vendor("socialboards", "sb-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        await b.hooks.post("/_sandbox/faults", json={"status": 400, "pathContains": "/chat/conversations", "times": 1})
        job = await migrate(svc, a, b)
        assert job.status == "COMPLETED" and job.report["complete"] is False
        assert job.report["conversations"]["created"] == 5 and job.report["conversations"]["failed"] == 1
        [failure] = job.report["failures"]
        assert "injected fault: HTTP 400" in failure["error"]
        retried = await migrate(svc, a, b)  # the next run takes the refused one again
        assert retried.report["conversations"]["created"] == 1 and retried.report["complete"] is True
        assert len(await conversations(b.provider)) == 6


async def test_unavailable_and_rate_limited_writes_are_retried_without_duplicates(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb-a", demo=6) as a, vendor("socialboards", "sb-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        await b.hooks.post("/_sandbox/faults", json={"status": 503, "pathContains": "/chat/conversations", "times": 2})
        await b.hooks.post("/_sandbox/faults", json={"status": 429, "retryAfter": 1, "pathContains": "/previousMessages", "times": 2})
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"]) == ("COMPLETED", True)
        assert len(await conversations(b.provider)) == 6
        await assert_accounted(svc, a, b, job.id)


@pytest.mark.parametrize("lost", ["/chat/conversations", "/previousMessages"])
async def test_a_write_whose_answer_was_lost_is_found_not_repeated(tmp_path: Path, lost: str) -> None:
    made: list[LosesAnswers] = []

    def loses(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(LosesAnswers(inner, "POST", lambda path: path.endswith(lost), times=3))
        return made[-1]

    async with vendor("socialboards", "sb-a", demo=8) as a, vendor("socialboards", "sb-b", wrap=loses) as b, \
            service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"]) == ("COMPLETED", True)
        assert made[0].dropped == 3
        assert await assert_accounted(svc, a, b, job.id) > 0  # one target conversation per source one, no extra message


@pytest.mark.parametrize("lost", ["/ccaas/1/conversations", "/notes"])
async def test_a_lost_infobip_creation_or_note_is_found_not_repeated(tmp_path: Path, lost: str) -> None:
    await needs_notes()

    made: list[LosesAnswers] = []

    def loses(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(LosesAnswers(inner, "POST", lambda path: path.endswith(lost), times=3))
        return made[-1]

    async with vendor("socialboards", "sb", demo=8) as a, vendor("infobip", "ib", wrap=loses) as b, service(tmp_path / "m.sqlite", a, b) as svc:
        job = await migrate(svc, a, b)
        assert (job.status, job.report["complete"], made[0].dropped) == ("COMPLETED", True, 3)
        await assert_accounted(svc, a, b, job.id)


async def test_cancel_stops_at_a_conversation_boundary_and_the_same_start_resumes(tmp_path: Path) -> None:
    # 8 in flight: the conversations under way when the cancel lands finish, and must leave most of the 80 to do
    async with vendor("socialboards", "sb-a", demo=80) as a, vendor("socialboards", "sb-b") as b, \
            service(tmp_path / "m.sqlite", a, b, concurrency=8) as svc:
        await b.hooks.post("/_sandbox/faults", json={"latencyMs": 30, "pathContains": "/previousMessages"})
        job = await svc.prepare(source="sb-a", target="sb-b")
        running = asyncio.create_task(svc.run(job))
        while (await svc.store.tally(job.id))["CREATED"] < 3:
            await asyncio.sleep(0.02)
        await svc.cancel(job.id)
        stopped = await running
        done = stopped.report["conversations"]["created"]
        assert stopped.status == "CANCELLED" and 3 <= done < 80 and stopped.report["complete"] is False
        assert len(await conversations(b.provider)) == done  # no conversation left half-done
        await b.hooks.delete("/_sandbox/faults")
        resumed = await migrate(svc, a, b)
        assert resumed.id == job.id and resumed.status == "COMPLETED" and resumed.report["conversations"]["created"] == 80
        await assert_accounted(svc, a, b, job.id)


async def test_two_runs_into_two_targets_give_the_same_content(tmp_path: Path) -> None:
    async with vendor("socialboards", "sb-a", demo=10) as a, vendor("socialboards", "sb-b") as b, vendor("socialboards", "sb-c") as c, \
            service(tmp_path / "m.sqlite", a, b, c) as svc:
        await migrate(svc, a, b)
        await migrate(svc, a, c)
        assert await content(b.provider) == await content(c.provider)


async def test_a_delta_links_and_unlinks_changed_tags_and_changes_status_between_infobip_accounts(tmp_path: Path) -> None:
    await needs_notes()
    async with vendor("infobip", "ib-a", demo=6) as a, vendor("infobip", "ib-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        first = await migrate(svc, a, b)
        assert first.report["complete"] is True
        await assert_accounted(svc, a, b, first.id)
        open_one = next(c for c in await conversations(a.provider) if c.status is ConversationStatus.OPEN)
        await a.provider.add_tags(open_one.remote_id, ["refund-asked"])
        if open_one.tags:
            await a.provider.remove_tags(open_one.remote_id, [open_one.tags[0]])
        await b.forget_requests()
        delta = await migrate(svc, a, b)
        writes = sorted((w["method"], w["path"].rsplit("/", 1)[-1]) for w in await b.writes())
        # a link the account refuses (no such tag yet), the tag created, the link again; the unlink
        expected = [("POST", "tags")] * 3 + ([("DELETE", open_one.tags[0])] if open_one.tags else [])
        assert sorted(writes) == sorted(expected), writes
        assert delta.report["conversations"]["updated"] == 1
        await a.provider.update_conversation(open_one.remote_id, ChangesSolved)
        await b.forget_requests()
        await migrate(svc, a, b)
        assert [(w["method"], w["body"]) for w in await b.writes()] == [("PATCH", {"status": "SOLVED"})]
        await assert_accounted(svc, a, b, first.id)


async def test_a_target_that_stays_away_stops_the_job_and_the_same_start_resumes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.migrate import retry

    monkeypatch.setattr(retry, "FIRST_WAIT", 0.001)
    monkeypatch.setattr(retry, "MAX_WAIT", 0.005)
    async with vendor("socialboards", "sb-a", demo=6) as a, vendor("socialboards", "sb-b") as b, service(tmp_path / "m.sqlite", a, b) as svc:
        await b.hooks.post("/_sandbox/faults", json={"status": 503, "pathContains": "/previousMessages"})
        stopped = await migrate(svc, a, b)
        assert stopped.status == "FAILED" and "after 7 attempts" in (stopped.error or "") and stopped.report["complete"] is False
        await b.hooks.delete("/_sandbox/faults")
        resumed = await migrate(svc, a, b)
        assert (resumed.id, resumed.status, resumed.report["complete"]) == (stopped.id, "COMPLETED", True)
        await assert_accounted(svc, a, b, stopped.id)
