"""The error boundary's result step (gateway.schema.ErrorBoundary._process_result) does what it did
through MaskErrors' own `_process_result` (whose runtime-Protocol isinstance cost ~10 µs an operation):
the same errors, masked, coded, budget-merged and with request ids, for every kind of result."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionResult

from gateway.errors import ErrorCode, client_error
from gateway.limits import one_budget_error
from gateway.access import with_request_id
from gateway.schema import ErrorBoundary
from providers import ProviderUnavailableError
from providers._observe import request_id_scope


class Reference(ErrorBoundary):
    """The boundary as it was: MaskErrors' `_process_result`, then the budget merge and request ids."""

    def _process_result(self, result: object) -> None:
        MaskErrors._process_result(self, result)
        if hasattr(result, "errors") and result.errors:
            result.errors = one_budget_error(result.errors)
            with_request_id(result.errors)


def boundary(kind: type[ErrorBoundary]) -> ErrorBoundary:
    extension = kind()
    extension.execution_context = SimpleNamespace(context=SimpleNamespace(partial_errors=[]))  # type: ignore[assignment]
    return extension


def results() -> list[Any]:
    unexpected = GraphQLError("boom", path=["a"], original_error=RuntimeError("secret detail"))
    vendor = GraphQLError("down", path=["b"], original_error=ProviderUnavailableError("vendor down", provider="sb"))
    spent = [client_error("spent", ErrorCode.VENDOR_CALL_LIMIT, limit=3) for _ in range(2)]
    return [
        ExecutionResult(data={"a": 1}, errors=None),
        ExecutionResult(data={"a": 1}, errors=[]),
        ExecutionResult(data=None, errors=[unexpected, vendor, GraphQLError("Cannot query field 'x'."), *spent]),
        SimpleNamespace(data=None),  # a result without errors at all
    ]


def test_the_result_step_matches_the_one_through_mask_errors() -> None:
    def shown(result: Any) -> Any:
        errors = getattr(result, "errors", "absent")
        return errors if errors in (None, [], "absent") else [e.formatted for e in errors]

    with request_id_scope("rid-7"):
        for ours, theirs in zip(results(), results(), strict=True):
            boundary(ErrorBoundary)._process_result(ours)
            boundary(Reference)._process_result(theirs)
            assert shown(ours) == shown(theirs)
        masked = results()[2]
        boundary(ErrorBoundary)._process_result(masked)
    assert [e.message for e in masked.errors][0] == "Internal error." and all(e.extensions["requestId"] == "rid-7" for e in masked.errors)
    assert sum(e.extensions["code"] == "VENDOR_CALL_LIMIT" for e in masked.errors) == 1
