"""OpenTelemetry (optional): with a tracer provider, each operation is a server span and each vendor
call a client span under it, and vendors receive the operation's W3C trace context; without one,
nothing is traced or sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from gateway import tracing
from gateway.app import create_app

from .helpers import SB_PROVIDER, gateway_settings

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed (pip install -e '.[test]')")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

INBOX = "query Inbox { conversations(first: 2) { edges { node { id topic } } } }"


class Recording(httpx.AsyncBaseTransport):
    """The sandbox in-process, keeping the headers of every request it was sent."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert tracing.setup(provider)
    yield exporter
    tracing.stop()


@pytest.fixture
async def recorded(sb_app: Starlette) -> AsyncIterator[tuple[httpx.AsyncClient, Recording]]:
    wire = Recording(sb_app)
    app = create_app(gateway_settings(SB_PROVIDER), transports={"sb": wire})
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
            yield client, wire


async def test_an_operation_and_its_vendor_calls_are_spans_of_one_trace_sent_upstream(
    spans: InMemorySpanExporter, recorded: tuple[httpx.AsyncClient, Recording]
) -> None:
    client, wire = recorded
    assert "errors" not in (await client.post("/graphql", json={"query": INBOX})).json()
    finished = spans.get_finished_spans()
    (operation,) = [s for s in finished if s.kind is SpanKind.SERVER]
    calls = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert operation.name == "query Inbox"
    assert operation.attributes is not None and operation.attributes["parley.outcome"] == "ok"
    assert [s.name for s in calls] == ["POST token", "POST tickets/list"]  # the ticket list carries id and topic
    assert len(calls) == len(wire.headers)
    assert all(s.parent is not None and s.parent.span_id == operation.context.span_id for s in calls)
    trace_id = f"{operation.context.trace_id:032x}"
    assert [h["traceparent"].split("-")[1] for h in wire.headers] == [trace_id] * len(wire.headers)
    assert all(s.start_time is not None and s.end_time is not None and s.start_time <= s.end_time for s in calls)


async def test_an_operation_with_errors_is_an_error_span(spans: InMemorySpanExporter, recorded: tuple[httpx.AsyncClient, Recording]) -> None:
    client, _ = recorded
    query = "query One($id: ID!) { conversation(id: $id) { id } }"
    await client.post("/graphql", json={"query": query, "variables": {"id": "bm9wZQ=="}})
    (operation,) = spans.get_finished_spans()
    assert operation.name == "query One" and operation.status.status_code is StatusCode.ERROR
    assert operation.status.description == "INVALID_INPUT"


async def test_without_a_tracer_provider_nothing_is_traced_or_sent(recorded: tuple[httpx.AsyncClient, Recording]) -> None:
    client, wire = recorded
    assert not tracing.setup()  # the API alone, as in this process: no SDK is configured globally
    assert "errors" not in (await client.post("/graphql", json={"query": INBOX})).json()
    assert wire.headers and not [h for h in wire.headers if "traceparent" in h]
