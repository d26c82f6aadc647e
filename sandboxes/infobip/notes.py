"""Conversation notes: ``POST``/``GET …/conversations/{id}/notes`` and ``GET …/notes/{noteId}``.

Notes are internal to the agents: unlike ``POST …/messages`` nothing reaches the customer, so a note
is never a message (not in ``…/messages``, no message webhook, no channel taken from it). The body is
documented (create-note in the current reference): ``content`` required, 0–4000 characters;
``agentId`` optional, at most 255; ``type`` optional, one of ``NOTE_TYPES``, default ``INTERNAL``.
The answer is the note as the reference's sample shows it. What the reference leaves open, decided
in docs/infobip.md:

- a CLOSED conversation takes no new notes (400, as for messages); its notes can still be read;
- ``agentId`` must be an agent of the account (404 ``Invalid agentId …``), as everywhere else;
- a note changes nothing of its conversation: no ``updatedAt``, no webhook (the vendor lists no
  note event); notes cannot be edited, so ``updatedAt`` equals ``createdAt``;
- ``ATTACHMENT`` notes are stored as sent; the sandbox keeps no CDN, so no attachment is checked;
- the list pages like every other list (``limit``, ``page``, ``orderBy`` over ``id``, ``createdAt``,
  ``updatedAt``; default ``id:asc``, which the old reference documents) and filters nothing;
- checks run in the order body (400), conversation (404), closed (400), agent (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import query
from .http import json_body, page_response, path_param, sandbox_of
from .input import as_object, opt_enum, opt_str
from .model import JsonDict, Note, format_time, invalid, unknown

NOTE_TYPES = (
    "INTERNAL",
    "AUTH_BIOMETRY_INIT",
    "AUTH_BIOMETRY_PENDING",
    "AUTH_BIOMETRY_SUCCESS",
    "AUTH_BIOMETRY_EXPIRED",
    "AUTH_BIOMETRY_CANCEL",
    "AUTH_BIOMETRY_FAILED",
    "AUTH_AGENT_SUCCESS",
    "AUTH_AGENT_EXPIRED",
    "AUTH_BOT_SUCCESS",
    "AUTH_BOT_EXPIRED",
    "JIRA_COMMENT",
    "ATTACHMENT",
)
DEFAULT_TYPE = "INTERNAL"
MAX_CONTENT = 4000
MAX_AGENT_ID = 255

NOTE_ORDER: query.SortKeys[Note] = {
    "id": lambda item: item.id,
    "createdAt": lambda item: item.created_at,
    "updatedAt": lambda item: item.created_at,
}



@dataclass(frozen=True, slots=True)
class NoteDraft:
    content: str
    agent_id: str | None
    type: str


def parse_note(raw: object) -> NoteDraft:
    obj = as_object(raw)
    content = obj.get("content")
    # The reference allows 0 characters, so an empty note is valid; a missing one is not.
    if not isinstance(content, str) or len(content) > MAX_CONTENT:
        raise invalid(f"content is required and must be a string of at most {MAX_CONTENT} characters")
    return NoteDraft(
        content=content,
        agent_id=opt_str(obj, "agentId", MAX_AGENT_ID),
        type=opt_enum(obj, "type", NOTE_TYPES) or DEFAULT_TYPE,
    )


def note_json(note: Note) -> JsonDict:
    """The reference's sample, key for key; never edited, so ``updatedAt`` is ``createdAt``."""
    return {
        "id": note.id,
        "conversationId": note.conversation_id,
        "agentId": note.agent_id,
        "type": note.type,
        "content": note.content,
        "createdAt": format_time(note.created_at),
        "updatedAt": format_time(note.created_at),
    }


# -- endpoints -------------------------------------------------------------------------------------


async def create_note(request: Request) -> Response:
    draft = parse_note(await json_body(request))
    sandbox = sandbox_of(request)
    conversation = sandbox.writable(path_param(request, "id"))
    if draft.agent_id is not None:
        sandbox.account.agent(draft.agent_id)
    note = Note(sandbox.new_id(), conversation.id, draft.agent_id, draft.type, draft.content, sandbox.now(),
                sequence=len(conversation.notes))
    conversation.notes.append(note)
    return JSONResponse(note_json(note))


async def list_notes(request: Request) -> Response:
    conversation = sandbox_of(request).get(path_param(request, "id"))
    return page_response(request, "notes", conversation.notes, NOTE_ORDER, note_json,
                         tie=lambda note: note.sequence)  # equal times: in the order written


async def get_note(request: Request) -> Response:
    conversation = sandbox_of(request).get(path_param(request, "id"))
    note_id = path_param(request, "noteId")
    found = next((note for note in conversation.notes if note.id == note_id), None)
    if found is None:
        raise unknown("noteId", note_id)
    return JSONResponse(note_json(found))
