"""Global ids: Relay GlobalIDs whose node id is `<provider>:<remote id>` (messages add the
conversation: `<provider>:<conversation id>:<message id>`)."""

from __future__ import annotations

from strawberry.relay import GlobalID, GlobalIDValueError

from providers import cut, echo

from .errors import client_error


def conversation_node_id(provider: str, remote_id: str) -> str:
    return f"{provider}:{remote_id}"


def message_node_id(provider: str, conversation_id: str, message_id: str) -> str:
    return f"{provider}:{conversation_id}:{message_id}"


def split_conversation_node_id(node_id: str) -> tuple[str, str]:
    provider, sep, remote_id = node_id.partition(":")
    if not sep or not provider or not remote_id:
        raise client_error(f"malformed Conversation id {echo(node_id)}", field="id")
    return provider, remote_id


def split_message_node_id(node_id: str) -> tuple[str, str, str]:
    parts = node_id.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise client_error(f"malformed Message id {echo(node_id)}", field="id")
    return parts[0], parts[1], parts[2]


def decode_global_id(raw: str, *, expected: str | None = None, argument: str = "id") -> GlobalID:
    """Decodes a client-supplied id; a malformed id or one of another type is an INVALID_INPUT error."""
    try:
        gid = GlobalID.from_id(raw)
    except GlobalIDValueError:
        raise client_error(f"{argument}: {echo(raw)} is not a valid id", field=argument) from None
    if expected is not None and gid.type_name != expected:
        raise client_error(
            f"{argument}: expected a {expected} id, got a {cut(gid.type_name)} id", field=argument
        )
    return gid


def parse_conversation_id(raw: str, *, argument: str = "id") -> tuple[str, str]:
    gid = decode_global_id(raw, expected="Conversation", argument=argument)
    return split_conversation_node_id(gid.node_id)
