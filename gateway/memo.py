"""Results of the per-request checks that depend only on what repeats between requests: the parsed
document (the parser cache hands out one object per document text), the schema and providers, and
small variables. Clients send the same few documents again and again; checking each once is enough."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from graphql import DocumentNode, GraphQLSchema

from providers import Provider

from . import cost, sizes
from .identity import MISSING, Memo

ESTIMATES = 1024  # (document, variables) pairs: a few documents, each with its recent variables
DOCUMENTS = 1024  # as many as the parser and validation caches keep (gateway.schema.CACHE_SIZE)
MAX_VARIABLES_BYTES = 1024  # larger variables are checked every time: a key that size would hold memory


def variables_key(variables: Any) -> bytes | None:
    """Bytes that stand for `variables` exactly (keys sorted), or None when they cannot: too large, not
    JSON, or not given back equal by JSON (a NaN, a tuple: values JSON would merge with others)."""
    try:
        key = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    if len(key) > MAX_VARIABLES_BYTES:
        return None
    return key


def round_trips(key: bytes, variables: Any) -> bool:
    """Whether `key` (from `variables_key`) reads back as `variables`: checked before a result is kept."""
    return bool(orjson.loads(key) == variables)


_estimates = Memo(ESTIMATES)
_literals = Memo(DOCUMENTS)


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    providers: Sequence[Provider],
) -> int | None:
    """`gateway.cost.estimate`, kept per schema, document, providers, operation name and (small)
    variables: it is a function of those alone."""
    key = variables_key(variables)
    if key is None:
        return cost.estimate(schema, document, operation_name, variables, providers)
    objects = (schema, document, *providers)
    found = _estimates.get(objects, (operation_name, key))
    if found is MISSING:
        found = cost.estimate(schema, document, operation_name, variables, providers)
        if round_trips(key, variables):
            _estimates.put(objects, (operation_name, key), found)
    return cast("int | None", found)


def oversized_literal(document: DocumentNode, max_list: int, max_string: int) -> str | None:
    """`gateway.sizes.oversized_literal`, kept per document and limits."""
    found = _literals.get((document,), (max_list, max_string))
    if found is MISSING:
        found = sizes.oversized_literal(document, max_list, max_string)
        _literals.put((document,), (max_list, max_string), found)
    return cast("str | None", found)
