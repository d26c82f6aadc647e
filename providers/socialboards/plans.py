"""What Socialboards keeps of a conversation migrated from elsewhere. Pure functions: no I/O.

A Socialboards conversation is created with its author (the customer), title, page URL, sentiment,
category, custom fields and bot flag; history is added as message context with the original
`creationTime` (the docs' "next line of support" case). Its status is derived: queued until an
agent (or the bot) has it, closed when closed. Users are matched by email or `customIdentifier`
(never by another account's user id), so a customer or agent who has neither is identified by their
source id as `customIdentifier`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..imports import Change, FieldNote, HistoryDraft, ImportDraft, history_author, marker_of, present
from ..models import Channel, Conversation, ConversationStatus, Message, NewConversation, NewMessage, Participant, ParticipantInput, Role
from . import mapping

NO_TEXT = "(a message without text)"
STAND_IN_CUSTOMER = "Unknown customer"
STAND_IN_AGENT = "Agent"
NOT_ON_SOCIALBOARDS = {
    "summary": "Socialboards conversations have no summary",
    "priority": "Socialboards conversations have no priority",
    "tags": "Socialboards chat conversations have no tags",
    "campaign": "Socialboards conversations belong to no campaign",
}
# The status a migrated conversation ends with, by the source's status (OPEN needs an agent or the bot).
STATUS_ON_SOCIALBOARDS = {
    ConversationStatus.NEW: ConversationStatus.NEW,
    ConversationStatus.OPEN: ConversationStatus.NEW,
    ConversationStatus.PENDING: ConversationStatus.NEW,
    ConversationStatus.SOLVED: ConversationStatus.CLOSED,
    ConversationStatus.CLOSED: ConversationStatus.CLOSED,
    ConversationStatus.UNKNOWN: ConversationStatus.NEW,
}


def plan_conversation(source: Conversation) -> ImportDraft:
    same_vendor = source.vendor == mapping.VENDOR
    notes = present(source, NOT_ON_SOCIALBOARDS)
    customer = identity(source.customer)
    if customer is None:
        customer = ParticipantInput(name=STAND_IN_CUSTOMER, external_id=f"{source.provider}-{source.remote_id}")
        notes.append(FieldNote("customer", Change.DEFAULTED, "none at the source → a stand-in customer"))
    elif _by_source_id(source.customer):
        notes.append(FieldNote("customer", Change.TRANSFORMED, "identified by the source's id as customIdentifier"))
    if source.channel not in (None, Channel.LIVE_CHAT):
        notes.append(FieldNote("channel", Change.DEFAULTED, f"{source.channel.value} → LIVE_CHAT"))
    if source.queue is not None and source.queue.id is not None:
        notes.append(FieldNote("queue", Change.DROPPED, "Socialboards has one queue, without ids"))
    assignee = source.assignee.id if source.assignee is not None and same_vendor else None
    if source.assignee is not None and not same_vendor:
        notes.append(FieldNote("assignee", Change.DROPPED, "agents are users of the source account"))
    bot = bool(source.bot_active) and same_vendor
    status = STATUS_ON_SOCIALBOARDS[source.status]
    if source.status is ConversationStatus.OPEN and (assignee is not None or bot):
        status = ConversationStatus.OPEN  # an agent (taking over) or the bot has it
    if status is not source.status:
        change = Change.DEFAULTED if source.status is ConversationStatus.UNKNOWN else Change.TRANSFORMED
        notes.append(FieldNote("status", change, f"{source.status.value} → {status.value}"))
    new = NewConversation(
        customer=customer,
        topic=source.topic,
        url=source.initial_page_url if same_vendor else None,
        sentiment=source.sentiment if same_vendor else None,
        category_id=source.category_id if same_vendor else None,
        custom_fields=(source.custom_fields or ()) if same_vendor else (),
        bot_active=bot,
    )
    return ImportDraft(
        source_provider=source.provider, source_id=source.remote_id, new=new, status=status,
        initial_status=ConversationStatus.OPEN if bot else ConversationStatus.NEW,
        assignee_id=assignee, feedback=source.feedback if same_vendor else None, notes=tuple(notes),
    )


def plan_message(source: Message, *, customer: Participant | None) -> HistoryDraft:
    """A source message as message context: its text, its author, its original time."""
    key = marker_of(source.provider, source.conversation_remote_id, source.remote_id)
    notes: list[FieldNote] = []
    text = source.text if source.text and source.text.strip() else None
    if text is None:
        notes.append(FieldNote("message.text", Change.DEFAULTED, f"no text → {NO_TEXT!r}"))
    if source.created_at is None:
        notes.append(FieldNote("message.createdAt", Change.DEFAULTED, "none at the source → the time of the migration"))
    else:
        notes.append(FieldNote("message.createdAt", Change.KEPT, "original time kept"))
    author = _author(source, customer, notes)
    return HistoryDraft(key=key, message=NewMessage(text=text or NO_TEXT, author=author, created_at=source.created_at), notes=tuple(notes))


def _author(source: Message, customer: Participant | None, notes: list[FieldNote]) -> ParticipantInput:
    found = history_author(source, customer)
    if found is None:
        inbound = source.direction.value == "INBOUND"
        notes.append(FieldNote("message.author", Change.DEFAULTED, "none at the source → a stand-in " + ("customer" if inbound else "agent")))
        if inbound:
            return identity(customer) or ParticipantInput(name=STAND_IN_CUSTOMER, external_id=f"{source.provider}-{source.conversation_remote_id}")
        return ParticipantInput(name=STAND_IN_AGENT, external_id=f"{source.provider}-agent", role=Role.AGENT)
    if found.role is Role.BOT:
        if found.name:
            notes.append(FieldNote("message.author", Change.TRANSFORMED, "a bot → the Socialboards bot"))
        return ParticipantInput(role=Role.BOT)
    if found.role is Role.SYSTEM:
        notes.append(FieldNote("message.author", Change.TRANSFORMED, "SYSTEM → a team member"))
    person = Participant(id=found.id, name=found.name, role=found.role, email=found.email, external_id=found.external_id, avatar_url=found.avatar_url)
    named = identity(person)
    if named is None:
        return ParticipantInput(name=STAND_IN_AGENT, external_id=f"{source.provider}-agent", role=Role.AGENT)
    return named if found.role is not Role.SYSTEM else ParticipantInput(
        name=named.name, email=named.email, external_id=named.external_id, avatar_url=named.avatar_url, role=Role.AGENT
    )


def identity(person: Participant | None) -> ParticipantInput | None:
    """How Socialboards is to know this person: email or customIdentifier, else their source id as
    customIdentifier (another account's user id means nothing here); None when nothing names them."""
    if person is None:
        return None
    external = person.external_id or (person.id if not person.email else None)
    if not (person.email or external):
        return None
    avatar = person.avatar_url if person.avatar_url and urlsplit(person.avatar_url).scheme in ("http", "https") else None
    return ParticipantInput(name=person.name, email=person.email, external_id=external, avatar_url=avatar, role=person.role)


def _by_source_id(person: Participant | None) -> bool:
    return person is not None and not person.email and not person.external_id and person.id is not None
