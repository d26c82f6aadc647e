"""The store's statements on its hot path (a few per conversation), built once: SQLAlchemy then
reuses each one's compiled form and cache key instead of building and hashing a new statement per
call. Values come as parameters (`bindparam` names)."""

from __future__ import annotations

from sqlalchemy import BindParameter, bindparam, delete, insert, select, update

from .tables import conversations, intents, messages, notes, progress

SOURCE: BindParameter[str] = bindparam("s")
SOURCE_ID: BindParameter[str] = bindparam("sid")
TARGET: BindParameter[str] = bindparam("t")

MAPPED = select(conversations).where(
    conversations.c.source_provider == SOURCE, conversations.c.source_id == SOURCE_ID, conversations.c.target_provider == TARGET
)
PENDING = select(intents.c.kind, intents.c.started_at, intents.c["items"]).where(
    intents.c.source_provider == SOURCE, intents.c.source_id == SOURCE_ID, intents.c.target_provider == TARGET
)
END_INTENT = delete(intents).where(
    intents.c.source_provider == SOURCE, intents.c.source_id == SOURCE_ID, intents.c.target_provider == TARGET,
    intents.c.kind == bindparam("kind"),
)
ADD_INTENT = insert(intents)
ADD_CONVERSATION = insert(conversations)
ADD_MESSAGES = insert(messages)
ADD_PROGRESS = insert(progress)
ADD_NOTES = insert(notes)
SET_STATE = update(conversations).where(
    conversations.c.source_provider == SOURCE, conversations.c.source_id == SOURCE_ID, conversations.c.target_provider == TARGET
).values(status=bindparam("new_status"), tags=bindparam("new_tags"))
HANDLED = select(progress.c.source_id).where(progress.c.job_id == bindparam("job"), progress.c.source_id.in_(bindparam("ids", expanding=True)))
MAPPED_MESSAGES = select(messages.c.source_id).where(
    messages.c.source_provider == SOURCE, messages.c.source_conversation == SOURCE_ID, messages.c.target_provider == TARGET,
    messages.c.source_id.in_(bindparam("ids", expanding=True)),
)
