"""What one request may cost, enforced before any vendor call (`RequestLimits`, a schema extension
that runs for every query, mutation and subscription on every transport), with a runtime backstop.

In order, each refusal an error with `extensions.code`:
1. requests per client and window (`server.rate_limit`): RATE_LIMITED with `retryAfter` seconds, and
   on plain HTTP status 429 with a Retry-After header;
2. which document runs (`gateway.documents`: persisted and trusted documents);
3. lists and strings in the variables (`max_list_length`, `max_string_length`): INVALID_INPUT
   naming the variable's path; the document's tokens, comments included (`max_tokens`), before it
   is parsed: INVALID_INPUT;
4. after validation: lists and strings written in the document, then the estimated vendor calls
   (`gateway.cost`) against `max_cost`: COST_LIMIT naming both, and against the client's
   `cost_rate_limit`: RATE_LIMITED;
5. while it executes, at most `max_vendor_calls` vendor calls (`providers.call_budget`): the answer
   keeps what was read and gets one VENDOR_CALL_LIMIT error;
6. the whole query or mutation within `request_timeout`, however many vendor calls it makes in a row:
   each vendor call's timeout, and each retry, is cut to the time left (`providers.deadline`,
   `vendor_time`), so a call still out then fails its own field with REQUEST_TIMEOUT and the rest of
   the answer is kept; on both HTTP paths `within_deadline` stops whatever else is left at the
   deadline itself: REQUEST_TIMEOUT, data null (not PROVIDER_TIMEOUT: that names one vendor slower
   than `upstream_timeout`; here the request as a whole ran out of time). Over WebSockets the vendor
   calls are cut the same way, from when the operation starts executing.

A refusal before parsing swaps the document for a trivial one, so every transport reports it as it
reports a validation error (an exception from an extension would escape strawberry's streaming
transports). `extensions.cost` reports the estimate and the calls made when the request asks for it:
`"extensions": {"cost": true}` in the request, or the header `X-Parley-Cost: 1`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from providers import CallBudget, call_budget, deadline

from .errors import ErrorCode, client_error
from .guard import Guard, client_of, rate_key
from .memo import estimate, oversized_literal
from .sizes import oversized_variable, too_many_tokens

logger = logging.getLogger("parley.limits")
COST_HEADER = "x-parley-cost"
NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
DEADLINE_MARGIN = 0.1  # seconds between the end of a request's vendor calls and its deadline


class RequestLimits(SchemaExtension):
    """The limits of `context.guard` (`gateway.guard.Guard`); a context without one is not limited.
    Comes after ValidationCache in the schema's extensions: it reads the validation's outcome."""

    def __init__(self) -> None:
        self._refusal: GraphQLError | None = None
        self._cost: int | None = None
        self._budget: CallBudget | None = None

    async def on_operation(self) -> AsyncIterator[None]:
        guard = self._guard()
        if guard is not None:
            try:
                await self._admit(guard)
            except GraphQLError as refusal:
                self._refuse(refusal)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        guard = self._guard()
        if self._refusal is None and guard is not None and context.pre_execution_errors == []:
            try:
                await self._check(guard)
            except GraphQLError as refusal:
                self._refusal = refusal
        if self._refusal is not None:
            context.pre_execution_errors = [self._refusal]
        yield

    def on_execute(self) -> Iterator[None]:
        guard = self._guard()
        if guard is None or self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            yield
            return
        with call_budget(guard.limits.max_vendor_calls) as budget, deadline(vendor_time(guard.limits.request_timeout)):
            self._budget = budget
            yield

    def get_results(self) -> dict[str, Any]:
        guard = self._guard()
        if guard is None or not self._cost_asked():
            return {}
        limits = guard.limits
        spent = self._budget.spent if self._budget is not None else 0
        return {"cost": {
            "estimated": self._cost, "limit": limits.max_cost, "vendorCalls": spent, "vendorCallLimit": limits.max_vendor_calls,
        }}

    # ---- the checks ------------------------------------------------------------------------------

    async def _admit(self, guard: Guard) -> None:
        """Before parsing: the request rate, the document to run, the variables' sizes, the tokens."""
        context, limits = self.execution_context, guard.limits
        wait = await guard.rates.hit_request(rate_key(context.context))
        if wait is not None:
            raise self._rate_limited(wait, f"{limits.rate_limit} requests (server.rate_limit)")
        context.query = await guard.documents.document(context.query, context.operation_extensions, client_of(context.context))
        problem = oversized_variable(context.variables, limits.max_list_length, limits.max_string_length)
        if problem is not None:
            raise client_error(problem, field="variables")
        if context.query is not None and too_many_tokens(context.query, limits.max_tokens):
            raise client_error(f"the document has more than {limits.max_tokens} tokens, comments included (server.max_tokens)")

    async def _check(self, guard: Guard) -> None:
        """After validation: the document's own values, then its estimated cost."""
        context, limits = self.execution_context, guard.limits
        assert context.graphql_document is not None
        problem = oversized_literal(context.graphql_document, limits.max_list_length, limits.max_string_length)
        if problem is not None:
            raise client_error(problem)
        principal = getattr(context.context, "principal", None)
        providers = [p for name, p in getattr(context.context, "providers", {}).items()
                     if principal is None or principal.may_touch(name)]
        document, name = context.graphql_document, context.operation_name
        self._cost = estimate(context.schema._schema, document, name, context.variables, providers)
        if self._cost is None:
            return  # variables that do not coerce: execution refuses them before any call
        if self._cost > limits.max_cost:
            raise client_error(
                f"this request may make {self._cost} vendor calls, over the limit of {limits.max_cost} (server.max_cost); "
                "ask for fewer or smaller pages, or fewer fields that need their own reads",
                ErrorCode.COST_LIMIT, cost=self._cost, maxCost=limits.max_cost,
            )
        wait = await guard.rates.hit_cost(rate_key(context.context), self._cost)
        if wait is not None:
            raise self._rate_limited(wait, f"{limits.cost_rate_limit} estimated vendor calls (server.cost_rate_limit)")

    # ---- helpers --------------------------------------------------------------------------------

    def _guard(self) -> Guard | None:
        guard = getattr(self.execution_context.context, "guard", None)
        return guard if isinstance(guard, Guard) else None

    def _refuse(self, refusal: GraphQLError) -> None:
        """Keeps the refusal for `on_validate`, and gives the parser a trivial document in place of one
        that is missing, too long or not to run (named as asked, so the same operation is found)."""
        self._refusal = refusal
        context = self.execution_context
        name = context.operation_name  # before parsing: the name the request gave, if any
        context.query = f"query {name} {{ __typename }}" if name and NAME.match(name) else "{ __typename }"

    def _rate_limited(self, wait: float, limit: str) -> GraphQLError:
        seconds = int(wait)
        context = self.execution_context.context
        response = getattr(context, "response", None)
        if isinstance(getattr(context, "request", None), Request) and isinstance(response, Response):
            response.status_code = 429
            response.headers["retry-after"] = str(seconds)
        return client_error(
            f"this client is over its limit of {limit}; retry after {seconds} s", ErrorCode.RATE_LIMITED, retryAfter=seconds
        )

    def _cost_asked(self) -> bool:
        if (self.execution_context.operation_extensions or {}).get("cost") is True:
            return True
        request = getattr(self.execution_context.context, "request", None)
        header = request.headers.get(COST_HEADER, "") if request is not None else ""
        return header.lower() in ("1", "true")


async def within_deadline(guard: Guard | None, run: Awaitable[ExecutionResult]) -> ExecutionResult:
    """`run` (a query or mutation) within the request deadline; past it, a REQUEST_TIMEOUT answer.
    The vendor calls still in flight are abandoned; a mutation may have taken effect at the vendor."""
    if guard is None:
        return await run
    seconds = guard.limits.request_timeout
    try:
        with deadline(vendor_time(seconds)):
            async with asyncio.timeout(seconds) as scope:
                return await run
    except TimeoutError:
        if not scope.expired():
            raise
    logger.warning("a request was stopped at its deadline of %g s (server.request_timeout)", seconds)
    message = (f"the request took longer than {seconds:g} s (server.request_timeout) and was stopped; "
               "a mutation may have taken effect at the vendor")
    return ExecutionResult(data=None, errors=[client_error(message, ErrorCode.REQUEST_TIMEOUT)])


def vendor_time(request_timeout: float) -> float:
    """How long a request's vendor calls may run: a little less than the request, so that an answer
    made of what they returned (or of their REQUEST_TIMEOUT errors) is sent within the deadline."""
    return request_timeout - min(DEADLINE_MARGIN, request_timeout / 10)


def one_budget_error(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Every vendor call refused for the request's budget failed its own field; the answer keeps one
    error for all of them, about the request."""
    spent = [e for e in errors if (e.extensions or {}).get("code") == ErrorCode.VENDOR_CALL_LIMIT.value]
    if not spent:
        return errors
    limit = (spent[0].extensions or {}).get("limit")
    first = next(i for i, e in enumerate(errors) if e is spent[0])
    kept = [e for e in errors if all(e is not s for s in spent)]
    message = f"this request made its limit of {limit} vendor calls (server.max_vendor_calls); what it read before is returned"
    kept.insert(min(first, len(kept)), client_error(message, ErrorCode.VENDOR_CALL_LIMIT, limit=limit))
    return kept
