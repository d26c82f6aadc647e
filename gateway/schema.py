"""The strawberry schema and its extensions.

Validation rules are built once at import: as extension factories, QueryDepthLimiter and
MaxAliasesLimiter would create new rule classes per request and defeat ValidationCache.
"""

from __future__ import annotations

import functools
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from providers import ProviderError

from .access import OperationMetrics, with_request_id
from .auth import guard_root_fields
from .errors import ErrorCode, for_client, graphql_error, should_mask
from .execution import PlainExecutor
from .limits import RequestLimits, one_budget_error
from .lockdown import NO_INTROSPECTION_RULES, DocumentValidationCache, QuietValidationCache, quiet_executor
from .migrate.graphql import MigrationMutation, MigrationQuery, MigrationSubscription
from .mutations import Mutation as GatewayMutation
from .queries import Query as GatewayQuery
from .safety import AnsweredParserCache, GatewaySchema
from .scalars import SCALAR_MAP
from .subscriptions import Subscription as GatewaySubscription
from .types import Conversation, Message

MAX_DEPTH = 12
MAX_ALIASES = 30
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
        return super()._process_errors([for_client(_translate(e)) for e in errors])

    def _process_result(self, result: object) -> None:
        context = self.execution_context.context
        partial = getattr(context, "partial_errors", None)
        if partial and hasattr(result, "errors"):
            extra = [GraphQLError(e.message, path=path.as_list(), extensions=e.extensions) for e, path in partial]
            result.errors = [*(result.errors or []), *extra]
            partial.clear()
        errors = getattr(result, "errors", None)
        if errors:  # MaskErrors' own test, without its isinstance of a runtime Protocol (~10 µs an operation)
            result.errors = one_budget_error(self._process_errors(errors))  # type: ignore[attr-defined]
            with_request_id(result.errors)  # type: ignore[attr-defined]

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


def build_schema(*, executor: type[Any] | None = PlainExecutor, introspection: bool = True) -> strawberry.Schema:
    """`executor`: the execution context class (None: strawberry's own, which tests compare with).
    `introspection=False`: the locked-down variant, without introspection or suggestions (lockdown.py)."""
    guard_root_fields(Query, Mutation, Subscription)  # read, write, subscribe
    rules = GUARD_RULES if introspection else [*GUARD_RULES, *NO_INTROSPECTION_RULES]
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Conversation, Message],
        config=StrawberryConfig(disable_field_suggestions=not introspection, scalar_map=SCALAR_MAP),
        execution_context_class=executor if introspection else quiet_executor(executor),
        extensions=[
            OperationMetrics,  # first: it leaves last, when the errors have their codes
            lambda: AddValidationRules(rules),
            ErrorBoundary,
            lambda: AnsweredParserCache(maxsize=CACHE_SIZE),
            (lambda: DocumentValidationCache(CACHE_SIZE)) if introspection else (lambda: QuietValidationCache(CACHE_SIZE)),
            RequestLimits,  # after ValidationCache: it acts on a validated document (and counts tokens itself)
        ],
    )


schema = build_schema()


def schema_for(*, introspection: bool) -> strawberry.Schema:
    """What a gateway serves: `schema`, or its locked-down twin (built once, on first use)."""
    return schema if introspection else _locked_schema()


@functools.cache
def _locked_schema() -> strawberry.Schema:
    return build_schema(introspection=False)
