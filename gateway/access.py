"""Request ids, the access log and the GraphQL operation metrics.

- `RequestScope` (ASGI middleware, outermost): takes the request's `X-Request-Id` when it is a short
  printable token (else makes one), returns it on the response (and on a WebSocket's handshake), makes
  it the id every vendor call of the request sends and every log line of it carries, and writes one
  access line when the request ends: `parley.access` at INFO (probes at DEBUG), with the operation
  type and name, the client, the status, the duration, the vendor calls made and the error codes. A
  WebSocket is one request: one id and one line, when it closes, for all its operations.
- `OperationMetrics` (schema extension): each operation's type, name and outcome into the metrics
  and into the access line.
- `SubscriptionAccount`: the same for a subscriber of a shared stream (gateway/live.py), whose own
  stream closes once admitted: counted when it leaves, as its own stream would have been then.
- `with_request_id`: `extensions.requestId` on GraphQL errors.
- `VendorObserver`: vendor calls, retries and breaker states into the metrics and the access line.
- Both make OpenTelemetry spans when tracing is on (gateway/tracing.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from providers._observe import REQUEST_ID_HEADER, VendorCall, current_request_id, request_id_scope

from . import metrics, tracing
from .logs import write_json

logger = logging.getLogger("parley.access")
VALID_REQUEST_ID = re.compile(r"^[!-~]{1,128}$")  # visible ASCII, no spaces: safe in a header and a log line
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # probes and scrapes: DEBUG, not INFO
OK = "ok"
CLIENT_CLOSED = 499  # the status logged for a request whose client went away before an answer (nginx's)
CANCELLED = "cancelled"  # a query or mutation stopped before its answer (its client left, or its deadline passed)
ACCESS_LINE = "%s %s %s %.1f ms | %s | %s | client=%s vendor_calls=%d"
UNCODED = "GRAPHQL_ERROR"  # an error without extensions.code: graphql-core's syntax and validation errors


@dataclass
class AccessRecord:
    """What the access line says about one request, filled in while it runs."""

    client: str | None = None
    operations: list[str] = field(default_factory=list)  # "query Inbox", "subscription anonymous"
    codes: list[str] = field(default_factory=list)  # error codes, once each, in order
    vendor_calls: int = 0

    def add_codes(self, codes: Iterable[str]) -> None:
        for code in codes:
            if code not in self.codes:
                self.codes.append(code)


_record: ContextVar[AccessRecord | None] = ContextVar("parley_access_record", default=None)


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if VALID_REQUEST_ID.match(given):
                return given
            break
    return uuid.uuid4().hex


class RequestScope:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        record = AccessRecord()
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), header]}
                status = message.get("status", 101)
            elif kind in ("websocket.close", "websocket.http.response.start") and not status:
                status = message.get("status", 403)  # refused before the handshake
            await send(message)

        token = _record.set(record)
        try:
            with request_id_scope(request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                except asyncio.CancelledError:
                    status = status or CLIENT_CLOSED
                    raise
                except Exception:
                    status = status or 500
                    raise
                finally:
                    _log_access(scope, record, status, time.perf_counter() - started)
        finally:
            _record.reset(token)


def _log_access(scope: Scope, record: AccessRecord, status: int, seconds: float) -> None:
    path = scope.get("path", "")
    method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
    client = record.client or _client_of(scope)
    metrics.child(metrics.HTTP_REQUESTS, metrics.path_label(path), str(status)).inc()
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not logger.isEnabledFor(level):
        return
    operations = ", ".join(record.operations) or "-"
    outcome = ",".join(record.codes) or (OK if status < 400 else "-")
    arguments = (method, path, status, seconds * 1000, operations, outcome, client or "-", record.vendor_calls)
    extra = {
        "method": method, "path": path, "status": status, "duration_ms": round(seconds * 1000, 1),
        "operations": record.operations, "client": client, "vendor_calls": record.vendor_calls, "codes": record.codes,
    }
    if not write_json(logger, level, ACCESS_LINE % arguments, extra):  # the same line, written without a LogRecord
        logger.log(level, ACCESS_LINE, *arguments, extra=extra)


def _client_of(scope: Scope) -> str | None:
    principal = scope.get(_principal_key())
    return getattr(principal, "client", None)


@functools.cache
def _principal_key() -> str:
    from .admission import PRINCIPAL  # the HTTP entry leaves the principal in the scope (imported once: it imports this)

    return PRINCIPAL


# ---- GraphQL errors and operations ----------------------------------------------------------------


def with_request_id(errors: list[GraphQLError] | None) -> None:
    """Adds `extensions.requestId` to each error, so a client can quote it, and their codes to the
    access line (also those of errors made outside the schema, e.g. REQUEST_TIMEOUT)."""
    request_id = current_request_id()
    if request_id is None or not errors:
        return
    record = _record.get()
    if record is not None:
        record.add_codes(codes_of(errors))
    for error in errors:
        if (error.extensions or {}).get("requestId") != request_id:
            error.extensions = {**(error.extensions or {}), "requestId": request_id}


def codes_of(errors: Iterable[GraphQLError] | None) -> list[str]:
    return [str((error.extensions or {}).get("code") or UNCODED) for error in errors or ()]


class OperationMetrics(SchemaExtension):
    """Counts each operation by type, name and outcome (ok, or its first error's code), and times
    queries and mutations. First among the schema's extensions: it leaves last, after the errors have
    their codes."""

    def __init__(self) -> None:
        self._codes: list[str] = []

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        self._codes = []
        with tracing.operation_span() as span:
            try:
                yield
            except (asyncio.CancelledError, GeneratorExit):
                # A subscription ends this way when its client stops it; a query or mutation when its client
                # goes away or its deadline passes (REQUEST_TIMEOUT is answered outside the schema).
                self._observe(started, span, cancelled=True)
                raise
            self._observe(started, span, cancelled=False)

    def _observe(self, started: float, span: Any, *, cancelled: bool) -> None:
        context = self.execution_context
        if getattr(context.context, "shared", False):
            return  # a stream shared by subscribers: each subscriber's own admission is what counts
        try:
            kind = context.operation_type.value
        except Exception:  # no operation could be found in the document: refused as a bad request
            kind = "unknown"
        name = metrics.operation_label(context.operation_name)
        result = context.result
        codes = [*self._codes, *codes_of(getattr(result, "errors", None) or context.pre_execution_errors)]
        tracing.end_operation(span, kind, name, codes)
        principal = getattr(context.context, "principal", None)
        account = getattr(context.context, "account", None)
        if isinstance(account, SubscriptionAccount):  # it joined a shared stream: counted when it leaves that
            account.admitted(kind, name, codes, getattr(principal, "client", None))
            return
        subscription = kind == OperationType.SUBSCRIPTION.value
        outcome = codes[0] if codes else CANCELLED if cancelled and not subscription else OK
        metrics.child(metrics.OPERATIONS, kind, name, outcome).inc()
        if not subscription:
            metrics.child(metrics.OPERATION_SECONDS, kind, name, outcome).observe(time.perf_counter() - started)
        record = _record.get()
        if record is not None:
            record.operations.append(f"{kind} {name}")
            record.add_codes(codes)
            record.client = record.client or getattr(principal, "client", None)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        yield
        self._codes.extend(code for code in codes_of(getattr(result, "errors", None)) if code not in self._codes)


class SubscriptionAccount:
    """What `OperationMetrics` and the bus's metering count for a subscription with a stream of its own,
    for a subscriber of a shared one (gateway/live.py): made in the subscriber's own task (its
    connection's access line and request id), filled in by `OperationMetrics` when its own stream
    closes at admission, counted among the live subscriptions while it is a member, and settled when it
    leaves: its operation and outcome (its first error's code) into the metrics and its access line.
    What the shared stream delivers is counted per member by the bus (`MeteredBus.subscribe`)."""

    __slots__ = ("record", "request_id", "kind", "name", "client", "codes", "live", "settled")

    def __init__(self) -> None:
        self.record = _record.get()
        self.request_id = current_request_id()
        self.kind, self.name = OperationType.SUBSCRIPTION.value, metrics.ANONYMOUS
        self.client: str | None = None
        self.codes: list[str] = []
        self.live = self.settled = False

    def admitted(self, kind: str, name: str, codes: list[str], client: str | None) -> None:
        self.kind, self.name, self.client = kind, name, client
        self.note(codes)

    def open(self) -> None:
        metrics.SUBSCRIPTIONS.inc()
        self.live = True

    def note(self, codes: list[str], vendor_calls: int = 0) -> None:
        """Errors in what was sent to this subscriber, and vendor calls made to produce it."""
        self.codes.extend(code for code in codes if code not in self.codes)
        if self.record is not None:
            self.record.add_codes(codes)
            self.record.vendor_calls += vendor_calls

    def overflowed(self, code: str) -> None:
        """Cut off for falling behind, as the bus cuts off a subscriber of its own."""
        metrics.EVENTS_DROPPED.labels("overflow").inc()
        self.note([code])

    def settle(self) -> None:
        if self.settled:
            return
        self.settled = True
        if self.live:
            metrics.SUBSCRIPTIONS.dec()
        metrics.OPERATIONS.labels(self.kind, self.name, self.codes[0] if self.codes else OK).inc()
        if self.record is not None:
            self.record.operations.append(f"{self.kind} {self.name}")
            self.record.add_codes(self.codes)
            self.record.client = self.record.client or self.client


def shared_record() -> AccessRecord:
    """A record for a shared stream's task (its vendor calls, handed to each member's line); call it in
    that task's own context."""
    record = AccessRecord()
    _record.set(record)
    return record


class VendorObserver:
    """`providers._observe.Observer` for the metrics and the running request's access line."""

    def vendor_call(self, call: VendorCall) -> None:
        metrics.child(metrics.VENDOR_CALLS, call.provider, call.operation, call.status).inc()
        metrics.child(metrics.VENDOR_CALL_SECONDS, call.provider, call.operation).observe(call.seconds)
        tracing.vendor_call(call)
        record = _record.get()
        if record is not None:
            record.vendor_calls += 1

    def retry(self, provider: str, operation: str) -> None:
        metrics.VENDOR_RETRIES.labels(provider, operation).inc()

    def breaker_state(self, provider: str, state: str) -> None:
        metrics.breaker_state(provider, state)
