"""The strawberry schema and its extensions.

Validation rules are built once at import: as extension factories, QueryDepthLimiter and
MaxAliasesLimiter would create new rule classes per request and defeat ValidationCache.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from providers import ProviderError

from .errors import ErrorCode, graphql_error, should_mask
from .execution import PlainExecutor
from strawberry.tools import merge_types

from .migrate.graphql import MigrationMutation, MigrationQuery, MigrationSubscription
from .mutations import Mutation as GatewayMutation
from .queries import Query as GatewayQuery
from .subscriptions import Subscription as GatewaySubscription
from .types import Conversation, Message

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000
CACHE_SIZE = 1024
Query = merge_types("Query", (GatewayQuery, MigrationQuery))
Mutation = merge_types("Mutation", (GatewayMutation, MigrationMutation))
Subscription = merge_types("Subscription", (GatewaySubscription, MigrationSubscription))
GUARD_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


class ErrorBoundary(MaskErrors):
    """Provider failures become coded errors; partial failures are appended; the unexpected is masked;
    notices (e.g. a provider left out because it cannot apply a filter) go into `extensions`."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message="Internal error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return super()._process_errors([_translate(e) for e in errors])

    def _process_result(self, result: object) -> None:
        context = self.execution_context.context
        partial = getattr(context, "partial_errors", None)
        if partial and hasattr(result, "errors"):
            extra = [GraphQLError(e.message, path=path.as_list(), extensions=e.extensions) for e, path in partial]
            result.errors = [*(result.errors or []), *extra]
            partial.clear()
        super()._process_result(result)

    def get_results(self) -> dict[str, object]:
        notices = getattr(self.execution_context.context, "notices", None)
        return {"notices": list(notices)} if notices else {}

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL.value}
        return masked


def _translate(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, ProviderError):
        coded = graphql_error(original)
        return GraphQLError(coded.message, nodes=error.nodes, path=error.path, extensions=coded.extensions)
    return error


def build_schema(*, executor: type[Any] | None = PlainExecutor) -> strawberry.Schema:
    """`executor`: the execution context class (None: strawberry's own, which tests compare with)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Conversation, Message],
        config=StrawberryConfig(disable_field_suggestions=False),
        execution_context_class=executor,
        extensions=[
            lambda: AddValidationRules(GUARD_RULES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            ErrorBoundary,
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
        ],
    )


schema = build_schema()
