"""The GraphQL objects `from_model` makes without their dataclass `__init__` (`types._made`) against
the ones `__init__` makes from the same model: the same attributes, values and class."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from strawberry.scalars import JSON

from gateway import types as t
from gateway.ids import conversation_node_id, message_node_id
from providers import models as m

from .test_models_fast import CONVERSATION_FIELDS, MESSAGE_FIELDS


def general_message(msg: m.Message) -> t.Message:
    """Message.from_model as it was written before its fast path: through the dataclass's `__init__`."""
    return t.Message(
        id=message_node_id(msg.provider, msg.conversation_remote_id, msg.remote_id), remote_id=msg.remote_id,
        provider=msg.provider, text=msg.text, author=t.Participant.from_model(msg.author), direction=msg.direction,
        channel=msg.channel, created_at=msg.created_at, imported=msg.imported, vendor_data=JSON(msg.vendor_data), _model=msg,
    )


def general_conversation(c: m.Conversation) -> t.Conversation:
    """Conversation.from_model as it was written before its fast path."""
    return t.Conversation(
        id=conversation_node_id(c.provider, c.remote_id), remote_id=c.remote_id, provider=c.provider, vendor=c.vendor,
        topic=c.topic, summary=c.summary, status=c.status, vendor_status=c.vendor_status, priority=c.priority,
        channel=c.channel, customer=t.Participant.from_model(c.customer), assignee=t.Participant.from_model(c.assignee),
        queue=t.Queue(id=c.queue.id, position=c.queue.position, wait_minutes=c.queue.wait_minutes) if c.queue else None,
        bot_active=c.bot_active, tags=list(c.tags),
        feedback=t.Feedback(positive=c.feedback.positive, comment=c.feedback.comment) if c.feedback else None,
        initial_page_url=c.initial_page_url, latest_page_url=c.latest_page_url, sentiment=c.sentiment,
        category_id=c.category_id,
        custom_fields=[t.CustomField(id=f.id, value=f.value) for f in c.custom_fields] if c.custom_fields is not None else None,
        campaign=t.Campaign(id=c.campaign.id, name=c.campaign.name) if c.campaign else None, active=c.active,
        created_at=c.created_at, updated_at=c.updated_at, last_message_at=c.last_message_at,
        message_count=c.message_count, vendor_data=JSON(c.vendor_data), _model=c,
    )


def same(made: Any, built: Any) -> None:
    assert type(made) is type(built)
    assert list(vars(made)) == list(vars(built))  # every attribute `__init__` sets, none more
    assert vars(made) == vars(built) and made == built


@given(MESSAGE_FIELDS)
def test_message_from_model_makes_what_its_init_makes(fields: dict[str, Any]) -> None:
    msg = m.Message(**fields)
    same(t.Message.from_model(msg), general_message(msg))
    same(t.Message.from_model(msg, {}), general_message(msg))  # with the page's shared authors


@given(CONVERSATION_FIELDS)
def test_conversation_from_model_makes_what_its_init_makes(fields: dict[str, Any]) -> None:
    conversation = m.Conversation(**fields)
    same(t.Conversation.from_model(conversation), general_conversation(conversation))


def test_messages_of_a_page_share_their_author_object() -> None:
    author = m.Participant(id="447700900001", name=None, role=m.Role.CUSTOMER)
    first, second = (m.Message(provider="ib", remote_id=n, conversation_remote_id="c", text=n, author=author,
                               direction=m.Direction.INBOUND, created_at=None) for n in ("m1", "m2"))
    authors: dict[int, t.Participant | None] = {}
    made = [t.Message.from_model(msg, authors) for msg in (first, second)]
    assert made[0].author is made[1].author and made[0].author == t.Participant.from_model(author)
