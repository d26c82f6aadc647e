"""The one place `ProviderError`s become GraphQL.

Expected outcomes of a mutation (not found, unsupported, conflict, invalid input) are typed members
of its result union. Infrastructure failures (vendor down, timeout, auth, rate limit) are top-level
errors with a stable `extensions.code` and `extensions.provider`. Anything else is masked as INTERNAL.
"""

from __future__ import annotations

import enum
import logging

import strawberry
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case

from providers import cut
from providers import errors as perr

logger = logging.getLogger("parley.errors")
MESSAGE_LIMIT = 500  # characters of an error message answered or logged


@strawberry.enum(description="Stable machine-readable error codes.")
class ErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    UNSUPPORTED = "UNSUPPORTED"
    CONFLICT = "CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_TIMEOUT = "PROVIDER_TIMEOUT"
    PROVIDER_AUTH = "PROVIDER_AUTH"
    INTERNAL = "INTERNAL"
    # What one request may cost (gateway/limits.py)
    COST_LIMIT = "COST_LIMIT"
    VENDOR_CALL_LIMIT = "VENDOR_CALL_LIMIT"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"


VENDOR_MESSAGE = (
    "The vendor's own text about the failure, when it gave one: for people, in the vendor's words and "
    "language, which change without notice. `message` says what happened in Parley's words."
)


@strawberry.interface(description="An expected failure of a mutation.")
class Error:
    code: ErrorCode
    message: str


@strawberry.type
class NotFoundError(Error):
    provider: str | None = None
    vendor_message: str | None = strawberry.field(default=None, description=VENDOR_MESSAGE)


@strawberry.type
class UnsupportedError(Error):
    provider: str | None = None
    operation: str | None = None


@strawberry.type
class ConflictError(Error):
    provider: str | None = None
    vendor_message: str | None = strawberry.field(default=None, description=VENDOR_MESSAGE)


@strawberry.type
class InvalidInputError(Error):
    field: str | None = None
    provider: str | None = None
    vendor_message: str | None = strawberry.field(default=None, description=VENDOR_MESSAGE)


ResultError = NotFoundError | UnsupportedError | ConflictError | InvalidInputError

CODE_FOR: list[tuple[type[perr.ProviderError], ErrorCode]] = [
    (perr.CallBudgetExceededError, ErrorCode.VENDOR_CALL_LIMIT),
    (perr.DeadlineExceededError, ErrorCode.REQUEST_TIMEOUT),  # the request ran out of time, not the vendor
    (perr.ProviderTimeoutError, ErrorCode.PROVIDER_TIMEOUT),
    (perr.ProviderUnavailableError, ErrorCode.PROVIDER_UNAVAILABLE),
    (perr.ProviderAuthError, ErrorCode.PROVIDER_AUTH),
    (perr.RateLimitedError, ErrorCode.RATE_LIMITED),
    (perr.NotFoundError, ErrorCode.NOT_FOUND),
    (perr.InvalidRequestError, ErrorCode.INVALID_INPUT),
    (perr.UnsupportedOperationError, ErrorCode.UNSUPPORTED),
    (perr.ConflictError, ErrorCode.CONFLICT),
]


def code_for(exc: perr.ProviderError) -> ErrorCode:
    return next((code for cls, code in CODE_FOR if isinstance(exc, cls)), ErrorCode.PROVIDER_UNAVAILABLE)


def result_error(exc: perr.ProviderError) -> ResultError | None:
    """The typed result member for an expected failure, or None for an infrastructure failure."""
    message, said = str(exc), exc.vendor_message
    if isinstance(exc, perr.NotFoundError):
        return NotFoundError(code=ErrorCode.NOT_FOUND, message=message, provider=exc.provider, vendor_message=said)
    if isinstance(exc, perr.UnsupportedOperationError):
        return UnsupportedError(code=ErrorCode.UNSUPPORTED, message=message, provider=exc.provider, operation=exc.operation)
    if isinstance(exc, perr.ConflictError):
        return ConflictError(code=ErrorCode.CONFLICT, message=message, provider=exc.provider, vendor_message=said)
    if isinstance(exc, perr.InvalidRequestError):
        field = to_camel_case(exc.field) if exc.field else None  # as clients name it, whatever the adapter wrote
        return InvalidInputError(code=ErrorCode.INVALID_INPUT, message=message, field=field, provider=exc.provider, vendor_message=said)
    return None


def graphql_error(exc: perr.ProviderError) -> GraphQLError:
    """A top-level error for a provider failure, with code and provider in `extensions`."""
    extensions: dict[str, object] = {"code": code_for(exc).value, "provider": exc.provider}
    if exc.vendor_message is not None:
        extensions["vendorMessage"] = exc.vendor_message
    if exc.vendor_code is not None:
        extensions["vendorCode"] = exc.vendor_code
    if isinstance(exc, perr.RateLimitedError | perr.CircuitOpenError) and exc.retry_after is not None:
        extensions["retryAfter"] = exc.retry_after  # seconds; for an open breaker, until its next probe
    if isinstance(exc, perr.CallBudgetExceededError):
        extensions["limit"] = exc.limit
    return GraphQLError(str(exc), extensions=extensions, original_error=None)


def client_error(message: str, code: ErrorCode = ErrorCode.INVALID_INPUT, **extra: object) -> GraphQLError:
    """A top-level error about the request itself (bad id, bad cursor, unknown provider)."""
    return GraphQLError(message, extensions={"code": code.value, **extra})


def invalid_input(message: str, field: str | None = None, provider: str | None = None) -> InvalidInputError:
    return InvalidInputError(code=ErrorCode.INVALID_INPUT, message=message, field=field, provider=provider)


def not_found(message: str, provider: str | None = None) -> NotFoundError:
    return NotFoundError(code=ErrorCode.NOT_FOUND, message=message, provider=provider)


def unsupported(provider: str, operation: str) -> UnsupportedError:
    message = f"{provider}: {operation} is not supported by this provider (see Provider.capabilities)"
    return UnsupportedError(code=ErrorCode.UNSUPPORTED, message=message, provider=provider, operation=operation)


def should_mask(error: GraphQLError) -> bool:
    """Mask only unexpected exceptions; errors built for clients (and vendors' failures, which the
    error boundary turns into coded errors) pass through."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError | perr.ProviderError)


def log_errors(errors: list[GraphQLError]) -> None:
    """Only the unexpected is an ERROR with its traceback; a client's mistake or a vendor's failure
    is answered with a coded error and logged as one line, its echoes cut."""
    for error in errors:
        if should_mask(error):
            logger.error("unexpected error", exc_info=error.original_error)
        else:
            logger.info("request error: %s", cut(error.message, MESSAGE_LIMIT))


def for_client(error: GraphQLError) -> GraphQLError:
    """`error` as answered: a message cut to `MESSAGE_LIMIT` (graphql-core repeats a request's
    literals whole), and INVALID_INPUT for what graphql-core refused before running anything (a
    document or value the schema does not allow), which carries no code of its own."""
    if should_mask(error):
        return error
    extensions = error.extensions or {}
    code = extensions.get("code") or (ErrorCode.INVALID_INPUT.value if error.path is None else None)
    message = cut(error.message, MESSAGE_LIMIT)
    if message == error.message and code == extensions.get("code"):
        return error
    coded = {**extensions, "code": code} if code else extensions
    return GraphQLError(message, error.nodes, error.source, error.positions, error.path, error.original_error, coded)

