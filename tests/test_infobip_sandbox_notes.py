"""Conversation notes in the Infobip sandbox (``…/conversations/{id}/notes``), over HTTP as an adapter
would use them: the documented shape, paging, validation, 404s, closed conversations, and that a note
is never a message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandboxes.infobip.notes import NOTE_TYPES

from .helpers import advance_clock as advance
from .test_infobip_sandbox import (
    CONVERSATIONS,
    T0_TEXT,
    TEXT_MESSAGE,
    UNAUTHORIZED,
    Json,
    closed,
    create,
    failed,
    hooked,
    listed,
    named,
    ok,
    sandbox_client,
)

NOTE_KEYS = ["id", "conversationId", "agentId", "type", "content", "createdAt", "updatedAt"]  # the reference's sample


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox_client() as client:
        yield client


def notes_of(conversation: Json) -> str:
    return f"{CONVERSATIONS}/{conversation['id']}/notes"


async def note(client: httpx.AsyncClient, conversation: Json, **body: Any) -> Json:
    created: Json = ok(await client.post(notes_of(conversation), json={"content": "Called back", **body}))
    return created


# -- create ----------------------------------------------------------------------------------------


async def test_a_note_is_answered_in_the_documented_shape(api: httpx.AsyncClient) -> None:
    conversation = await create(api, topic="Late parcel")
    maria = (await named(api, "agents"))["Maria Lund"]
    created = await note(api, conversation, content="Customer prefers email.", agentId=maria)
    assert list(created) == NOTE_KEYS
    assert str(uuid.UUID(created["id"])) == created["id"]
    assert created == {
        "id": created["id"],
        "conversationId": conversation["id"],
        "agentId": maria,
        "type": "INTERNAL",
        "content": "Customer prefers email.",
        "createdAt": T0_TEXT,
        "updatedAt": T0_TEXT,
    }


@pytest.mark.parametrize("kind", ["JIRA_COMMENT", "ATTACHMENT", "AUTH_BIOMETRY_SUCCESS"])
async def test_type_takes_the_documented_values(api: httpx.AsyncClient, kind: str) -> None:
    conversation = await create(api)
    assert (await note(api, conversation, type=kind))["type"] == kind


async def test_type_and_agent_are_optional_and_null_means_not_given(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    bare = await note(api, conversation)
    nulls = await note(api, conversation, type=None, agentId=None)
    assert (bare["type"], bare["agentId"]) == ("INTERNAL", None)
    assert (nulls["type"], nulls["agentId"]) == ("INTERNAL", None)


@pytest.mark.parametrize("content", ["", "x" * 4000, "ünïcödé ✓ " * 400])
async def test_content_may_be_empty_and_up_to_4000_characters(api: httpx.AsyncClient, content: str) -> None:
    conversation = await create(api)
    assert (await note(api, conversation, content=content))["content"] == content


TYPES = ", ".join(NOTE_TYPES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "content is required and must be a string of at most 4000 characters"),
        ({"content": None}, "content is required and must be a string of at most 4000 characters"),
        ({"content": 42}, "content is required and must be a string of at most 4000 characters"),
        ({"content": "x" * 4001}, "content is required and must be a string of at most 4000 characters"),
        ({"content": "ok", "agentId": "a" * 256}, "agentId must be a string of at most 255 characters"),
        ({"content": "ok", "agentId": 7}, "agentId must be a string of at most 255 characters"),
        ({"content": "ok", "type": "PRIVATE"}, f'type "PRIVATE" is not one of {TYPES}'),
        ({"content": "ok", "type": "internal"}, f'type "internal" is not one of {TYPES}'),
        (["content"], "Required request body is missing or not valid"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field(api: httpx.AsyncClient, body: object, message: str) -> None:
    conversation = await create(api)
    assert failed(await api.post(notes_of(conversation), json=body), 400) == message
    assert (await listed(api, notes_of(conversation)))["notes"] == []


@pytest.mark.parametrize("raw", [b"", b"{not json"])
async def test_a_missing_or_broken_body_gets_the_vendors_text(api: httpx.AsyncClient, raw: bytes) -> None:
    conversation = await create(api)
    response = await api.post(notes_of(conversation), content=raw, headers={"content-type": "application/json"})
    assert failed(response, 400) == "Required request body is missing or not valid"


async def test_an_unknown_agent_is_404(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    response = await api.post(notes_of(conversation), json={"content": "x", "agentId": "ghost"})
    assert failed(response, 404) == "Invalid agentId 'ghost' given! No such entity exists."
    assert (await listed(api, notes_of(conversation)))["notes"] == []


async def test_an_unknown_conversation_is_404_for_every_notes_call(api: httpx.AsyncClient) -> None:
    expected = "Invalid id 'nope' given! No such entity exists."
    assert failed(await api.post(f"{CONVERSATIONS}/nope/notes", json={"content": "x"}), 404) == expected
    assert failed(await api.get(f"{CONVERSATIONS}/nope/notes"), 404) == expected
    assert failed(await api.get(f"{CONVERSATIONS}/nope/notes/some-note"), 404) == expected


async def test_notes_need_the_api_key(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    response = await api.post(notes_of(conversation), json={"content": "x"}, headers={"Authorization": "App wrong"})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


async def test_notes_take_no_other_method(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    response = await api.delete(notes_of(conversation))
    assert failed(response, 405) == "Request method 'DELETE' is not supported"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# -- closed conversations and the order of checks --------------------------------------------------


async def test_a_closed_conversation_takes_no_new_note_but_keeps_its_notes_readable(api: httpx.AsyncClient) -> None:
    conversation = await create(api)
    kept = await note(api, conversation, content="Before closing")
    ok(await api.patch(f"{CONVERSATIONS}/{conversation['id']}", json={"status": "CLOSED"}))
    refused = await api.post(notes_of(conversation), json={"content": "After closing"})
    assert failed(refused, 400) == f"Conversation '{conversation['id']}' is closed and cannot be changed"
    assert (await listed(api, notes_of(conversation)))["notes"] == [kept]
    assert ok(await api.get(f"{notes_of(conversation)}/{kept['id']}")) == kept


async def test_checks_run_body_then_conversation_then_closed_then_agent(api: httpx.AsyncClient) -> None:
    conversation = await closed(api)
    assert "content is required" in failed(await api.post(f"{CONVERSATIONS}/nope/notes", json={}), 400)
    assert "Invalid id 'nope'" in failed(await api.post(f"{CONVERSATIONS}/nope/notes", json={"content": "x"}), 404)
    ghost_on_closed = await api.post(notes_of(conversation), json={"content": "x", "agentId": "ghost"})
    assert "is closed and cannot be changed" in failed(ghost_on_closed, 400)


# -- reads -----------------------------------------------------------------------------------------


async def test_a_note_is_read_by_id_only_under_its_own_conversation(api: httpx.AsyncClient) -> None:
    first, second = await create(api), await create(api)
    created = await note(api, first)
    assert ok(await api.get(f"{notes_of(first)}/{created['id']}")) == created
    elsewhere = await api.get(f"{notes_of(second)}/{created['id']}")
    assert failed(elsewhere, 404) == f"Invalid noteId '{created['id']}' given! No such entity exists."
    missing = await api.get(f"{notes_of(first)}/no-such-note")
    assert failed(missing, 404) == "Invalid noteId 'no-such-note' given! No such entity exists."


async def test_notes_are_listed_page_by_page_in_the_list_shape(api: httpx.AsyncClient) -> None:
    conversation, other = await create(api), await create(api)
    written = []
    for text in ("first", "second", "third"):
        written.append(await note(api, conversation, content=text))
        await advance(api, 60)
    await note(api, other, content="not this conversation's")
    path = notes_of(conversation)
    page0 = await listed(api, path, limit=2, orderBy="createdAt:asc")
    page1 = await listed(api, path, limit=2, page=1, orderBy="createdAt:asc")
    assert [item["content"] for item in page0["notes"] + page1["notes"]] == ["first", "second", "third"]
    assert page0["pagination"] == {"totalItems": 3, "page": 0, "limit": 2, "orderBy": "createdAt:asc"}
    newest = await listed(api, path, limit=1, orderBy="createdAt:desc")
    assert newest["notes"] == [written[-1]]
    default = await listed(api, path)
    assert default["notes"] == sorted(written, key=lambda item: item["id"])
    assert default["pagination"] == {"totalItems": 3, "page": 0, "limit": 10, "orderBy": "id:asc"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit=0 must be between 1 and 999"),
        ({"page": -1}, "page=-1 must be 0 or more"),
        ({"orderBy": "content:asc"}, "orderBy field 'content' is not one of id, createdAt, updatedAt"),
    ],
)
async def test_bad_paging_is_400_naming_the_parameter(api: httpx.AsyncClient, params: Json, message: str) -> None:
    conversation = await create(api)
    assert message in failed(await api.get(notes_of(conversation), params=params), 400)


# -- a note is not a message -----------------------------------------------------------------------


async def test_a_note_is_never_a_message_and_changes_nothing_of_its_conversation() -> None:
    async with hooked() as (client, hooks):
        conversation = await create(client)
        await advance(client, 30)
        await note(client, conversation, content="Internal only")
        unchanged = ok(await client.get(f"{CONVERSATIONS}/{conversation['id']}"))
        sent = ok(await client.post(f"{CONVERSATIONS}/{conversation['id']}/messages", json=TEXT_MESSAGE))
        bodies = await hooks.wait_for(2)
        messages = await listed(client, f"{CONVERSATIONS}/{conversation['id']}/messages")
    assert unchanged == conversation  # same updatedAt, still NO_CHANNEL, no notes field
    # Deliveries keep their order, so a note's event would have come before the message's.
    assert [body["type"] for body in bodies] == ["CONVERSATION_CREATED", "OUTBOUND_MESSAGE_SENT"]
    assert messages["messages"] == [sent]

