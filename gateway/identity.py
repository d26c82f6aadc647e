"""`Memo`: the most recent results of a pure function of objects compared by identity (a parsed
document and its nodes, which the parser cache hands out once per text; a schema; providers) and of
values compared by equality. Used by the per-document checks (`gateway.memo`) and by what a
`conversations` field selects (`gateway.selection`)."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

MISSING: Any = object()


class Memo:
    """The most recent `size` results of a pure function of `objects`, compared by identity (held by
    the memo, so their ids stay theirs), and of `values`, compared by equality."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[tuple[int, ...], Hashable], tuple[tuple[object, ...], Any]] = OrderedDict()

    def get(self, objects: tuple[object, ...], values: Hashable) -> Any:
        """The result kept for these, or `MISSING`."""
        key = (tuple(map(id, objects)), values)
        entry = self._entries.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], objects, strict=True)):
            return MISSING
        with contextlib.suppress(KeyError):  # dropped meanwhile by a put in another thread (TestClient runs apps in threads)
            self._entries.move_to_end(key)
        return entry[1]

    def put(self, objects: tuple[object, ...], values: Hashable, result: Any) -> None:
        self._entries[(tuple(map(id, objects)), values)] = (objects, result)
        if len(self._entries) > self.size:
            with contextlib.suppress(KeyError):
                self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
