"""When two events are the same one: the key a bus publishes an event under at most once.

The same change reaches the bus from two sources: the mutation that made it (published once the
vendor accepted it) and the vendor's webhook of it; and a vendor may deliver a webhook again.

- A message is the same message when it has the same provider and vendor message id.
- A conversation change is the same change when it leaves the same provider's conversation in the
  same state. The state is a fingerprint of what a mutation's answer and a webhook's conversation
  both carry alike: status, the vendor's own status, the vendor's update time (every vendor moves it
  on each change) and the fields a write can change. Left out: what one side has and the other has
  not (a webhook's conversation comes without messages and Socialboards' without custom fields:
  `last_message`, `last_message_at`, `message_count`, `custom_fields`), the vendor's raw object
  (`vendor_data` differs between a REST answer and a webhook body), and values computed when read
  (a queue position, CleverTap's 24-hour `active`).

A conversation that returns to a state it had, at the same vendor update time, within the bus's
de-duplication window is taken for that earlier state and not announced again; with update times
to the millisecond (Socialboards, Infobip) that cannot happen, with CleverTap's whole seconds only
within one second.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime

import orjson

from providers import Conversation, Message, Participant

FINGERPRINT_BYTES = 12


def message_key(message: Message) -> str:
    return f"{len(message.provider)}:{message.provider}:{message.remote_id}"


def conversation_key(c: Conversation) -> str:
    """Distinct from every message key, which starts with a digit."""
    return f"conversation:{len(c.provider)}:{c.provider}:{fingerprint(c)}:{c.remote_id}"


def fingerprint(c: Conversation) -> str:
    state = (
        c.status, c.vendor_status, _utc(c.updated_at), _utc(c.created_at), c.topic, c.summary, c.priority, c.channel,
        _who(c.assignee), c.queue.id if c.queue else None, c.bot_active, sorted(c.tags),
        (c.feedback.positive, c.feedback.comment) if c.feedback else None, c.initial_page_url, c.latest_page_url,
        c.sentiment, c.category_id, c.campaign.id if c.campaign else None,
    )
    raw = orjson.dumps([value.value if isinstance(value, enum.Enum) else value for value in state])
    return hashlib.blake2b(raw, digest_size=FINGERPRINT_BYTES).hexdigest()


def _utc(moment: datetime | None) -> str | None:
    """One text per instant: a webhook and a REST answer may write the same time in other offsets."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def _who(person: Participant | None) -> str | None:
    return None if person is None else person.id
