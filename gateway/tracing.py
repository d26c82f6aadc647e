"""OpenTelemetry traces, off unless `opentelemetry-api` is installed and the process has a tracer
provider (an SDK's: e.g. `opentelemetry-instrument parley serve` with the `OTEL_*` variables, or one
the embedding code sets up before `create_app`).

Then each GraphQL operation is a server span (`query Inbox`, with its type, name and outcome; an
error status when it has errors), each vendor call a client span under it (`GET ccaas/1/conversations/{id}`,
with the provider and the HTTP status), and every vendor call carries the W3C trace context
(`traceparent`) of the operation, so a vendor that traces sees its work as part of Parley's.
Vendor-call spans are recorded when the call has ended, with its real start and end times.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from providers._observe import VendorCall, add_header_source

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # not installed: no spans, no trace context sent
    trace = None  # type: ignore[assignment]

_tracer: Any = None


def setup(provider: Any = None) -> bool:
    """Traces to `provider`, else to the process's tracer provider when one is configured; returns
    whether spans are made. Without opentelemetry, or with the API alone (no SDK set up), nothing is."""
    global _tracer
    if trace is None:
        return False
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            return _tracer is not None  # none configured for the process: a provider given before still holds
    _tracer = provider.get_tracer("parley")
    add_header_source(_trace_context)
    return True


def stop() -> None:
    """No more spans (until `setup` again)."""
    global _tracer
    _tracer = None


def _trace_context() -> dict[str, str]:
    carrier: dict[str, str] = {}
    if _tracer is not None:
        propagate.inject(carrier)
    return carrier


_NO_SPAN: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()  # reusable: nothing to enter


def operation_span() -> contextlib.AbstractContextManager[Any]:
    """The current span while an operation runs (named once its type and name are known), or None
    (then at no more cost than a `with` of nothing: every operation asks)."""
    if _tracer is None:
        return _NO_SPAN
    return _span()


@contextlib.contextmanager
def _span() -> Iterator[Any]:
    with _tracer.start_as_current_span("graphql", kind=SpanKind.SERVER) as span:
        yield span


def end_operation(span: Any, kind: str, name: str, codes: list[str]) -> None:
    if span is None:
        return
    span.update_name(f"{kind} {name}")
    span.set_attributes({"graphql.operation.type": kind, "graphql.operation.name": name, "parley.outcome": codes[0] if codes else "ok"})
    if codes:
        span.set_status(Status(StatusCode.ERROR, ", ".join(codes)))


def vendor_call(call: VendorCall) -> None:
    if _tracer is None:
        return
    end = time.time_ns()
    method = call.operation.split(" ", 1)[0]
    attributes: dict[str, Any] = {"parley.provider": call.provider, "http.request.method": method, "parley.vendor.status": call.status}
    if call.status.isdigit():
        attributes["http.response.status_code"] = int(call.status)
    span = _tracer.start_span(call.operation, kind=SpanKind.CLIENT, start_time=end - int(call.seconds * 1e9), attributes=attributes)
    if not call.status.isdigit() or int(call.status) >= 500:
        span.set_status(Status(StatusCode.ERROR, call.status))
    span.end(end_time=end)
