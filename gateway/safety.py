"""What keeps a client's mistake an answer rather than a crash in the log: the schema class, whose
error log holds only the unexpected, and a parser cache that leaves syntax errors to be answered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache
from strawberry.extensions.runner import SchemaExtensionsRunner

from .errors import log_errors
from .hooks import KnownHooksRunner


class GatewaySchema(strawberry.Schema):
    def create_extensions_runner(self, execution_context: Any, extensions: list[Any]) -> SchemaExtensionsRunner:
        return KnownHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        log_errors(errors)  # strawberry's own logs every error, a client's typo too, as an ERROR with traceback


class AnsweredParserCache(ParserCache):
    """ParserCache, except that a document it cannot parse is left for strawberry to parse again:
    raised here, a syntax error would escape the operation and skip the error boundary (no code)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            pass
        yield
