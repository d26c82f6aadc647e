"""Migration into a provider: what a target keeps of a conversation from elsewhere, and the writes
that put it there exactly once.

A provider that can be a migration target implements `Imports` beside `Provider`. The plan is pure:
`plan_conversation` and `plan_message` say what the target will hold of a source object and, for
every field it cannot hold as it is, a `FieldNote` (dropped, defaulted, transformed). A dry run
reports the notes without writing; a real run writes the plans, so both report the same thing.

Exactly once is the caller's part (the migration engine records its intent before each write), with
two lookups from the target: `find_import` finds a conversation created for a draft whose answer was
lost, and `find_history` finds which of a batch of history entries the target already holds. Each
target says in its docstrings what it leaves on the vendor for those lookups.

A provider that cannot take migrated conversations says why in `import_refusal`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast, runtime_checkable

from .base import implements, unsupported
from .models import (
    Conversation,
    ConversationStatus,
    Direction,
    Feedback,
    Message,
    NewConversation,
    NewMessage,
    Participant,
    ParticipantInput,
    Role,
)


class Change(enum.Enum):
    DROPPED = "DROPPED"  # the target has no place for the value
    DEFAULTED = "DEFAULTED"  # the target holds its own default (or a stand-in) instead
    TRANSFORMED = "TRANSFORMED"  # the target holds the value in another form
    KEPT = "KEPT"  # worth saying although nothing is lost (e.g. original message times)


@dataclass(frozen=True, slots=True)
class FieldNote:
    """What happens to one field of one source object. `detail` is short and the same for every
    object it applies to, so a report can count them: "SOLVED → CLOSED", "no priority on Socialboards"."""

    field: str
    change: Change
    detail: str


@dataclass(frozen=True, slots=True)
class ImportDraft:
    """What the target will hold of one source conversation. `new` is created (without messages) and
    then has `initial_status`; `status` (what it ends with), `tags`, the assignee and the feedback
    are applied after the history, closing last."""

    source_provider: str
    source_id: str
    new: NewConversation
    status: ConversationStatus | None = None
    initial_status: ConversationStatus | None = None
    tags: tuple[str, ...] = ()
    assignee_id: str | None = None
    queue_id: str | None = None
    feedback: Feedback | None = None
    notes: tuple[FieldNote, ...] = ()

    @property
    def marker(self) -> str:
        """The idempotency marker of this source conversation (same on every run)."""
        return marker_of(self.source_provider, self.source_id)


@dataclass(frozen=True, slots=True)
class HistoryDraft:
    """One source message as the target will hold it; `key` identifies the source message."""

    key: str
    message: NewMessage
    notes: tuple[FieldNote, ...] = ()


@dataclass(frozen=True, slots=True)
class StateChange:
    """What `Imports.apply_state` changes after a conversation's history: the status from `previous`
    to the draft's, and the tags; `first`: right after the history of a new import."""

    previous: ConversationStatus | None
    first: bool = False
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    def reopens(self, status: ConversationStatus | None) -> bool:
        """Reaching `status` would reopen a conversation closed at the target (no target allows it)."""
        return self.previous is ConversationStatus.CLOSED and status is not None and status is not ConversationStatus.CLOSED


def marker_of(*parts: str) -> str:
    """A short, stable marker for a source object: the same parts give the same marker on every run."""
    return "pm-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


Known = Callable[[Sequence[str]], Awaitable[set[str]]]
# How far before the recorded start of a lost creation `find_import` looks: the vendor's clock may differ from ours.
FIND_MARGIN = timedelta(minutes=10)


@runtime_checkable
class Imports(Protocol):
    """Optional: a provider that can be a migration target.

    Writes raise ProviderError like any write: InvalidRequestError when the vendor refused the input
    (nothing was written), ProviderUnavailableError or ProviderTimeoutError when the outcome is unknown.
    """

    def history_batch(self) -> int:
        """History entries per write call: the most the vendor takes in one request."""
        ...

    def plan_conversation(self, source: Conversation) -> ImportDraft:
        """Pure: the draft for `source`, with a note for every field the target cannot hold as is."""
        ...

    def plan_message(self, source: Message, *, customer: Participant | None) -> HistoryDraft:
        """Pure: the history entry for `source` (`customer`: the source conversation's customer)."""
        ...

    async def import_conversation(self, draft: ImportDraft) -> tuple[str, tuple[FieldNote, ...]]:
        """Creates the conversation (open: status and tags come later). Returns its id and notes on
        what the target refused beyond the plan (e.g. an agent it does not know, left out)."""
        ...

    async def find_import(self, draft: ImportDraft, *, created_after: datetime, known: Known | None = None) -> list[str]:
        """Ids of conversations created after `created_after` that `import_conversation(draft)` made,
        oldest first; empty when there is none. `known(ids)` names those of `ids` that already belong
        to another source conversation: they are no orphans, and need not be read."""
        ...

    async def import_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str]:
        """Writes up to `history_batch()` entries in order; returns the target's ids in that order."""
        ...

    async def find_history(self, remote_id: str, entries: Sequence[HistoryDraft]) -> list[str | None]:
        """For each entry, the id of the target's copy when the target already holds it, else None."""
        ...

    async def apply_state(self, remote_id: str, draft: ImportDraft, change: StateChange) -> tuple[FieldNote, ...]:
        """Brings the target to `draft.status` from `change.previous` (closing last), linking and
        unlinking tags first; a `change.first` also applies the draft's assignee and feedback where
        they are not part of creation. Repeating it is harmless. Returns notes on what the target
        refused beyond the plan. InvalidRequestError when the target cannot make the change (e.g.
        reopen a closed conversation: `change.reopens`)."""
        ...


def import_target(provider: object) -> Imports:
    """`provider` as a migration target, or UnsupportedOperationError saying why it cannot be one."""
    if implements(provider, Imports):
        return cast(Imports, provider)
    name = str(getattr(provider, "name", "provider"))
    why = getattr(provider, "import_refusal", None) or "it has no way to create conversations"
    raise unsupported("migration target", str(why), provider=name)


# ---- helpers the vendors' plans share -------------------------------------------------------------


def as_input(person: Participant) -> ParticipantInput:
    """A participant read from one vendor as the input that names them to another."""
    return ParticipantInput(
        name=person.name, email=person.email, external_id=person.external_id, id=person.id,
        avatar_url=person.avatar_url, role=person.role,
    )


def history_author(source: Message, customer: Participant | None) -> ParticipantInput | None:
    """The author of a history entry: the message's own, or for a customer's message that names
    nobody, the conversation's customer."""
    author = source.author
    named = author is not None and any((author.id, author.name, author.email, author.external_id))
    if named and author is not None:
        return as_input(author)
    if (author is None or author.role is Role.CUSTOMER) and source.direction is Direction.INBOUND and customer is not None:
        return as_input(customer)
    return None if author is None else as_input(author)


def present(source: Conversation, reasons: Mapping[str, str]) -> list[FieldNote]:
    """A DROPPED note for each field in `reasons` (attribute -> why) that the source conversation has."""
    notes = []
    for name, why in reasons.items():
        value = getattr(source, name)
        if value not in (None, (), False):
            notes.append(FieldNote(FIELD_NAMES.get(name, name), Change.DROPPED, why))
    return notes


# Conversation attribute -> the field name reports use (GraphQL's).
FIELD_NAMES = {
    "initial_page_url": "url", "category_id": "categoryId", "custom_fields": "customFields", "bot_active": "botActive",
}
