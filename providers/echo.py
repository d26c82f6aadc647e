"""Values a request (or a vendor) sent, shown back in errors and logs: cut to a short prefix.

An error names what was wrong, but a client's 5 MB "id" must not come back whole in the response,
nor fill a log line; a vendor's error text may itself repeat what Parley sent. Every message that
echoes such a value goes through `echo` (quoted) or `cut` (plain text).
"""

from __future__ import annotations

ECHO_LIMIT = 64  # characters of a request value shown (ids, provider names, texts, cursors)
VENDOR_TEXT_LIMIT = 300  # characters of a vendor's own error text
ELLIPSIS = "…"


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text`, or its first `limit` characters and "…"."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A value quoted as `repr` shows a string (`'abc'`), cut to `limit` characters of it (`'abc'…`)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + ELLIPSIS
