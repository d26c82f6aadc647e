"""Infobip history as internal notes, and Infobip as a migration target, against a fake written from
the vendor's notes docs (create-note; notes-over-api) on top of the client tests' `FakeInfobip`.
Nothing here may reach `POST …/messages`: that endpoint delivers to the customer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers.errors import InvalidRequestError
from providers.imports import Change, FieldNote, StateChange, import_target
from providers.infobip import notes
from providers.infobip.provider import InfobipProvider
from providers.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    NewMessage,
    Participant,
    ParticipantInput,
    Priority,
    QueueInfo,
    Role,
)

from .test_infobip_provider_requests import BASE, KEY, T0, FakeInfobip, error

NOTE_PATH = r"/ccaas/1/conversations/([^/]+)/notes"


class FakeWithNotes(FakeInfobip):
    """FakeInfobip plus notes as documented, and agents the account knows (others are 404)."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.agents = {"agent-1"}

    def _answer(self, request: httpx.Request) -> httpx.Response:
        match = re.fullmatch(NOTE_PATH, request.url.path)
        body = httpx.Response(200, content=request.content).json() if request.content else None
        if match and request.method == "POST":
            return self._note(match.group(1), body)
        if match and request.method == "GET":
            rows = self.notes.get(match.group(1), [])
            limit, page = int(request.url.params.get("limit", 10)), int(request.url.params.get("page", 0))
            return httpx.Response(200, json={"notes": rows[page * limit : (page + 1) * limit], "pagination": {"totalItems": len(rows)}})
        if request.method == "POST" and request.url.path == "/ccaas/1/conversations" and body and body.get("agentId") not in (None, *self.agents):
            return error(404, f"Invalid agentId '{body['agentId']}' given! No such entity exists.")
        return super()._answer(request)

    def _note(self, cid: str, body: dict[str, Any]) -> httpx.Response:
        if cid not in self.conversations:
            return error(404, f"Invalid id '{cid}' given! No such entity exists.")
        if not isinstance(body.get("content"), str) or len(body["content"]) > 4000:
            return error(400, "content must be a string of 0 to 4000 characters")
        self.ids += 1
        note = {"id": f"n{self.ids:03d}", "conversationId": cid, "createdAt": self.tick(), **body}
        self.notes.setdefault(cid, []).append(note)
        return httpx.Response(200, json=note)


@pytest.fixture
def vendor() -> FakeWithNotes:
    return FakeWithNotes()


@pytest.fixture
async def provider(vendor: FakeWithNotes) -> AsyncIterator[InfobipProvider]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(vendor.handle), base_url=BASE, timeout=2.0) as http:
        yield InfobipProvider(name="ib", http=http, api_key=KEY)


def never_messaged(vendor: FakeWithNotes) -> None:
    assert not vendor.seen("POST", r"/messages$"), "history reached the customer-facing messages endpoint"


def source(**fields: Any) -> Conversation:
    base: dict[str, Any] = {
        "provider": "support-sb", "vendor": "socialboards", "remote_id": "254626", "status": ConversationStatus.OPEN,
        "vendor_status": "active", "created_at": T0, "updated_at": T0,
    }
    return Conversation(**{**base, **fields})


async def test_history_becomes_internal_notes_naming_author_and_time_never_messages(provider, vendor) -> None:
    cid = vendor.conversation()
    old = datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    history = [
        NewMessage(text="Where is my order?", author=ParticipantInput(name="Jane Doe", email="jane@example.com"), created_at=old),
        NewMessage(text="On its way", author=ParticipantInput(id="agent-1", name="Ana", role=Role.AGENT), created_at=old + timedelta(minutes=1)),
    ]
    written = await provider.add_messages(cid, history, as_context=True)
    never_messaged(vendor)
    bodies = [httpx.Response(200, content=r.content).json() for r in vendor.seen("POST", r"/notes$")]
    assert bodies == [
        {"content": "[History · 2023-03-04 05:06:07 UTC · Customer Jane Doe <jane@example.com>]\nWhere is my order?", "type": "INTERNAL"},
        {"content": "[History · 2023-03-04 05:07:07 UTC · Agent Ana]\nOn its way", "type": "INTERNAL", "agentId": "agent-1"},
    ]
    assert [m.imported for m in written] == [True, True] and written[1].author == Participant(id="agent-1", name=None, role=Role.AGENT)
    assert {"ADD_HISTORY", "HISTORY_AS_NOTES"} <= {c.value for c in provider.capabilities}


async def test_history_too_long_for_a_note_is_refused_before_any_call(provider, vendor) -> None:
    cid = vendor.conversation()
    with pytest.raises(InvalidRequestError, match="a note holds") as caught:
        await provider.add_messages(cid, [NewMessage(text="fine"), NewMessage(text="x" * 4000)], as_context=True)
    assert caught.value.field == "text" and not vendor.seen("POST")


async def test_a_plan_notes_every_field_infobip_cannot_hold_as_it_is(provider) -> None:
    sb = source(
        topic="Chat API Client Problems", channel=Channel.LIVE_CHAT, status=ConversationStatus.NEW,
        customer=Participant(id="u1", name="John", role=Role.CUSTOMER), initial_page_url="https://shop.example/cart",
        sentiment="question", feedback=None, assignee=Participant(id="guid-1", name=None, role=Role.AGENT),
    )
    draft = import_target(provider).plan_conversation(sb)
    assert draft.new.topic == "Chat API Client Problems" and draft.new.channel is Channel.LIVE_CHAT
    assert draft.new.summary == f"Migrated by Parley from socialboards conversation 254626 ({draft.marker})"
    assert draft.status is ConversationStatus.OPEN and draft.assignee_id is None
    assert set(draft.notes) == {
        FieldNote("customer", Change.DROPPED, "Infobip takes the customer from inbound messages; each history note names its author"),
        FieldNote("url", Change.DROPPED, "Infobip conversations have no page URLs"),
        FieldNote("sentiment", Change.DROPPED, "Infobip conversations have no sentiment"),
        FieldNote("priority", Change.DEFAULTED, "none → NORMAL"),
        FieldNote("status", Change.TRANSFORMED, "NEW → OPEN"),
        FieldNote("assignee", Change.DROPPED, "agents are users of the source account"),
        FieldNote("summary", Change.TRANSFORMED, "a line naming the source conversation is the summary"),
    }


async def test_a_closed_conversation_is_created_open_and_closed_after_its_notes(provider, vendor) -> None:
    draft = provider.plan_conversation(
        source(vendor="infobip", status=ConversationStatus.CLOSED, priority=Priority.HIGH, tags=("vip",),
               assignee=Participant(id="agent-9", name=None, role=Role.AGENT), queue=QueueInfo(id="q-1"))
    )
    remote_id, refused = await provider.import_conversation(draft)
    assert refused == (FieldNote("assignee", Change.DROPPED, "unknown in the target account"),)
    created = vendor.conversations[remote_id]
    assert (created["status"], created["priority"], created["agentId"], created["queueId"]) == ("OPEN", "HIGH", None, "q-1")
    source_message = Message(provider="support-sb", remote_id="m1", conversation_remote_id="254626", text="hello",
                             author=None, direction=Direction.INBOUND, created_at=T0)
    entry = provider.plan_message(source_message, customer=Participant(id="447700900001", name=None, role=Role.CUSTOMER))
    await provider.import_history(remote_id, [entry])
    await provider.apply_state(remote_id, draft, StateChange(draft.initial_status, first=True, add_tags=draft.tags))
    assert vendor.conversations[remote_id]["status"] == "CLOSED" and vendor.links[remote_id] == ["vip"]
    never_messaged(vendor)
    with pytest.raises(InvalidRequestError, match="cannot become OPEN again"):
        reopened = provider.plan_conversation(source(vendor="infobip", status=ConversationStatus.OPEN))
        await provider.apply_state(remote_id, reopened, StateChange(ConversationStatus.CLOSED))


async def test_a_lost_creation_and_lost_notes_are_found_by_their_markers(provider, vendor) -> None:
    draft = provider.plan_conversation(source(vendor="socialboards", topic="Refund"))
    vendor.conversation(topic="Refund", summary="someone else's")
    start = vendor.now
    remote_id, _ = await provider.import_conversation(draft)
    vendor.conversation(topic="Refund", summary=provider.plan_conversation(source(remote_id="other")).new.summary)
    assert await provider.find_import(draft, created_after=start) == [remote_id]
    messages = [
        Message(provider="support-sb", remote_id=f"m{i}", conversation_remote_id="254626", text=f"line {i}",
                author=Participant(id=None, name="Jane", role=Role.CUSTOMER), direction=Direction.INBOUND, created_at=T0)
        for i in range(3)
    ]
    entries = [provider.plan_message(m, customer=None) for m in messages]
    written = await provider.import_history(remote_id, entries[:2])
    assert await provider.find_history(remote_id, entries) == [*written, None]
    assert all(notes.note_reference(n) == e.key for n, e in zip(vendor.notes[remote_id], entries, strict=False))
    never_messaged(vendor)


async def test_a_message_too_long_for_a_note_is_cut_and_the_plan_says_so(provider) -> None:
    long = Message(provider="p", remote_id="m", conversation_remote_id="c", text="y" * 5000, author=None,
                   direction=Direction.OUTBOUND, created_at=T0)
    entry = provider.plan_message(long, customer=None)
    content, cut = notes.note_content(entry.message, reference=entry.key, cut=True)
    assert len(content) <= notes.MAX_CONTENT and not cut
    assert FieldNote("message.text", Change.TRANSFORMED, "cut to fit a 4,000-character note") in entry.notes
