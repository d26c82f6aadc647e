"""What the locked-down schema (introspection off) changes: `__schema` and `__type` are refused, and no
error says "Did you mean …?", so a client learns no name it did not already send.

graphql-core can leave suggestions out (`hide_suggestions`) of validation and of variable coercion, but
strawberry passes it to neither; its own `disable_field_suggestions` trims only unknown-field messages,
leaving unknown arguments, types, enum values and input fields to name the real ones. So the locked
schema validates through `QuietValidationCache` (strawberry's ValidationCache with the flag set, cached
the same way) and executes with an executor class built with it (`quiet_executor`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ValidationCache
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

NO_INTROSPECTION_RULES: list[type[ASTValidationRule]] = [NoSchemaIntrospectionCustomRule]
# What strawberry's `validate_document` appends to every rule list; the quiet validation must run the same rules.
STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)

Validator = Callable[[GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...]], list[GraphQLError]]


@functools.cache
def quiet_validator(maxsize: int) -> Validator:
    """One LRU per size, shared by every request (as strawberry's ValidationCache does): the key is the
    schema, the parsed document (the same object for the same text, from ParserCache) and the rules."""

    @functools.lru_cache(maxsize=maxsize)
    def validate_quietly(
        schema: GraphQLSchema, document: DocumentNode, rules: Collection[type[ASTValidationRule]]
    ) -> list[GraphQLError]:
        return validate(schema, document, (*rules, *STRAWBERRY_RULES), hide_suggestions=True)

    return validate_quietly


class _Same:
    """A document as a cache key by identity: hashing a DocumentNode hashes its whole tree (graphql-core's
    nodes are dataclasses), a few µs per node on every request. The key keeps the document alive, so
    its id cannot be reused by another while the entry is kept."""

    __slots__ = ("document",)

    def __init__(self, document: DocumentNode) -> None:
        self.document = document

    def __hash__(self) -> int:
        return id(self.document)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.document is self.document


class SameDocumentValidator:
    """`validate` (an LRU keyed by the document's structure) behind an LRU keyed by the document object,
    which is the same object for the same text (ParserCache): a document seen before is answered without
    hashing it; another one, equal or not, goes to `validate` as before."""

    def __init__(self, validate: Validator, maxsize: int) -> None:
        self._validate = validate
        self.by_object = functools.lru_cache(maxsize=maxsize)(self._by_object)

    def _by_object(self, schema: GraphQLSchema, same: _Same, rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        return self._validate(schema, same.document, rules)

    def __call__(self, schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        return self.by_object(schema, _Same(document), rules)


@functools.cache
def same_document_validator(validate: Validator, maxsize: int) -> SameDocumentValidator:
    return SameDocumentValidator(validate, maxsize)  # one per validator, shared by every request


class DocumentValidationCache(ValidationCache):
    """ValidationCache whose cache is first asked by the document object (`SameDocumentValidator`)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.cached_validate_document = same_document_validator(self.cached_validate_document, maxsize)


class QuietValidationCache(ValidationCache):
    """ValidationCache whose validation leaves suggestions out (asked by the document object first)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.cached_validate_document = same_document_validator(quiet_validator(maxsize), maxsize)


class _HidesSuggestions:
    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        # `build` coerces the variables (where enum values and input fields would be suggested) and
        # hands the flag on to the executor it makes, for subscriptions' per-event executions too.
        return super().build(*args, **{**kwargs, "hide_suggestions": True})  # type: ignore[misc]


def quiet_executor(executor: type[Any] | None) -> type[Any]:
    """`executor` (None: strawberry's own) built with `hide_suggestions`."""
    base = executor or StrawberryGraphQLCoreExecutionContext
    return type(f"Quiet{base.__name__}", (_HidesSuggestions, base), {})
