"""Opaque cursors: each provider hides its own paging scheme (skip, page, vendor token) inside one.

A cursor is base64url of compact JSON `{"p": provider, "k": kind, ...state}`. Decoding checks both the
provider and the kind, so a cursor from another list or another provider is an input error, not a
wrong page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

import orjson

from .echo import echo
from .errors import InvalidRequestError

S = TypeVar("S")


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


class LazyCursors(Sequence[str], Generic[S]):
    """A page's cursors (`Page.cursors`), each encoded from its position when first read.

    Most queries read no item's cursor of a message page, or only the last (`endCursor`); encoding
    all 50 (a JSON dump and a base64 each) was a tenth of reading a page. Equal to the tuple of the
    same cursors, as the tuple it stands in for would be."""

    __slots__ = ("_states", "_encode", "_encoded")

    def __init__(self, states: Sequence[S], encode: Callable[[S], str]) -> None:
        self._states = states
        self._encode = encode
        self._encoded: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._states)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self._states))))
        position = index + len(self._states) if index < 0 else index
        cursor = self._encoded.get(position)
        if cursor is None:
            if not 0 <= position < len(self._states):
                raise IndexError("cursor index out of range")
            cursor = self._encoded[position] = self._encode(self._states[position])
        return cursor

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self._states)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"LazyCursors({tuple(self)!r})"
