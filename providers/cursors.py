"""Opaque cursors: each provider hides its own paging scheme (skip, page, vendor token) inside one.

A cursor is base64url of compact JSON `{"p": provider, "k": kind, ...state}`. Decoding checks both the
provider and the kind, so a cursor from another list or another provider is an input error, not a
wrong page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from .echo import echo
from .errors import InvalidRequestError


def encode_cursor(provider: str, kind: str, **state: Any) -> str:
    raw = orjson.dumps({"p": provider, "k": kind, **state})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(provider: str, kind: str, cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise _invalid(provider, cursor) from exc
    if not isinstance(state, dict) or state.get("p") != provider or state.get("k") != kind:
        raise _invalid(provider, cursor)
    return state


def _invalid(provider: str, cursor: str) -> InvalidRequestError:
    return InvalidRequestError(f"invalid cursor {echo(cursor)}: it was not issued for this list", provider=provider, field="after")
