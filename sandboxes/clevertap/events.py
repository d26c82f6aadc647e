"""Conversation events, POSTed as JSON to a configured URL (a Parley convention: CleverTap documents
no conversation webhooks).

Body: ``{"event": <name>, "ts": <epoch seconds>, "record": <Conversation>, "message"?: <Message>}``
(``message`` only on ``conversation.user_replied``), header ``X-CleverTap-Account-Id``.
Delivery (in order, never blocking the API call) is ``sandboxes/webhooks.py``'s ``WebhookSender``.
"""

from __future__ import annotations

import logging

from .model import JsonDict

USER_REPLIED = "conversation.user_replied"
TICKET_STATUS_CHANGED = "conversation.ticket_status_changed"
CLAIMED = "conversation.claimed"
ACCOUNT_HEADER = "X-CleverTap-Account-Id"

logger = logging.getLogger("sandboxes.clevertap")


def event_body(event: str, ts: int, record: JsonDict, message: JsonDict | None = None) -> JsonDict:
    body: JsonDict = {"event": event, "ts": ts, "record": record}
    if message is not None:
        body["message"] = message
    return body
