"""The one exception tree every adapter raises; no httpx exception leaves `providers/`.

    ProviderError
    ├── ProviderUnavailableError      vendor down, 5xx, connection refused
    │   ├── ProviderTimeoutError      no answer within the timeout
    │   │   └── DeadlineExceededError the request's deadline came first (nothing blamed on the vendor)
    │   ├── CircuitOpenError          not called: its breaker is open; `retry_after` until the next try
    │   └── MalformedResponseError    an answer that is not what the vendor documents
    ├── ProviderAuthError             the vendor refused our credentials
    ├── RateLimitedError              429; `retry_after` in seconds when the vendor said
    ├── NotFoundError                 unknown conversation or message
    ├── InvalidRequestError           the vendor (or the adapter, before calling) refused the input
    ├── UnsupportedOperationError     outside the provider's declared capabilities
    ├── ConflictError                 the vendor's state forbids it (another agent owns it)
    └── CallBudgetExceededError       the request that made the call has spent its vendor calls

Each error carries the provider name and, where known, the HTTP status and the vendor's own code
and text. The message is Parley's own words, saying what happened; the vendor's text (cut short) is
kept apart in `vendor_message`, for a reader who wants the vendor's reason: a vendor's wording and
language change without notice, so clients must not have to parse it. Messages never contain
credentials or whole response bodies.
"""

from __future__ import annotations


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        vendor_code: str | None = None,
        field: str | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.vendor_code = vendor_code
        self.field = field
        self.vendor_message = vendor_message

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


class ProviderUnavailableError(ProviderError):
    pass


class ProviderTimeoutError(ProviderUnavailableError):
    pass


class DeadlineExceededError(ProviderTimeoutError):
    """The request the call was for ran out of time (`providers._deadline`): the call was cut short,
    or not made. A write cut short may still have taken effect at the vendor."""


class CircuitOpenError(ProviderUnavailableError):
    """Not called: the provider's circuit breaker is open after repeated failures (`providers._breaker`).
    `retry_after` is the number of seconds until it lets a call through again."""

    def __init__(self, message: str, *, provider: str, retry_after: float) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class MalformedResponseError(ProviderUnavailableError):
    pass


class ProviderAuthError(ProviderError):
    pass


class RateLimitedError(ProviderError):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_after: float | None = None,
        status_code: int | None = None,
        vendor_code: str | None = None,
        field: str | None = None,
        vendor_message: str | None = None,
    ) -> None:
        super().__init__(
            message, provider=provider, status_code=status_code, vendor_code=vendor_code, field=field, vendor_message=vendor_message
        )
        self.retry_after = retry_after


class NotFoundError(ProviderError):
    pass


class InvalidRequestError(ProviderError):
    pass


class UnsupportedOperationError(ProviderError):
    def __init__(self, message: str, *, provider: str, operation: str) -> None:
        super().__init__(message, provider=provider)
        self.operation = operation


class ConflictError(ProviderError):
    pass


class CallBudgetExceededError(ProviderError):
    """Raised instead of making a vendor call once the request has made `limit` of them (see
    `providers._budget`); nothing was sent."""

    def __init__(self, message: str, *, provider: str, limit: int) -> None:
        super().__init__(message, provider=provider)
        self.limit = limit
