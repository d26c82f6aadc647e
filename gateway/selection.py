"""Which `Conversation` fields a query selects, so providers read only what it asks for.

The result names fields of `providers.models.Conversation` (the `fields=` of provider reads):
`id` and `remoteId` are `remote_id`, other GraphQL fields are their snake_case names, and `messages`
(its own vendor call) and `__typename` need nothing. Fragments are followed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from .identity import MISSING, Memo

NEED_NOTHING = frozenset({"messages", "__typename"})
MODEL_NAMES = {"id": "remote_id", "remoteId": "remote_id"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def conversation_fields(selections: Iterable[Selection]) -> frozenset[str]:
    """The model fields selected directly under a Conversation."""
    return frozenset(name for field in _fields(selections) if (name := model_field(field.name)) is not None)


@functools.lru_cache(maxsize=256)  # field names: a schema has a bounded few
def model_field(name: str) -> str | None:
    """The model field a GraphQL field of Conversation reads (None: none, e.g. `messages`)."""
    if name in NEED_NOTHING:
        return None
    return MODEL_NAMES.get(name) or _CAMEL.sub("_", name).lower()


def named(selections: Iterable[Selection], name: str) -> list[SelectedField]:
    """The fields called `name` directly in `selections` (fragments followed)."""
    return [field for field in _fields(selections) if field.name == name]


def under(selections: Iterable[Selection], path: Sequence[str]) -> list[Selection]:
    """The selections found by following field names `path` (e.g. edges, node) from `selections`."""
    current = list(selections)
    for name in path:
        current = [s for field in _fields(current) if field.name == name for s in field.selections]
    return current


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _fields(selection.selections)


ListSelection = tuple[frozenset[str], bool]  # (conversation_fields under edges.node, a cursor under edges)
# A `conversations` field's AST nodes (by identity: a cached document comes back as the same objects,
# and a node's fragments are those of the one document holding it) -> what they select.
_list_selections = Memo(1024)


def list_selection(selections: Iterable[Selection]) -> ListSelection:
    """What a `conversations` field selects: the model fields of its nodes, and whether any edge's
    cursor is read (fragments and aliases followed; directives are not evaluated, as everywhere here)."""
    listed = list(selections)
    return conversation_fields(under(listed, ("edges", "node"))), bool(named(under(listed, ("edges",)), "cursor"))


def cached_list_selection(field_nodes: Sequence[object], convert: Callable[[], Iterable[Selection]]) -> ListSelection:
    """`list_selection(convert())`, remembered per set of field nodes: strawberry's `selected_fields`
    converts the whole AST again on every request (~60 µs under cProfile), and the answer depends only
    on field names and fragments, never on variables."""
    nodes = tuple(field_nodes)
    found: ListSelection = _list_selections.get(nodes, None)
    if found is MISSING:
        found = list_selection(convert())
        _list_selections.put(nodes, None, found)
    return found
