"""Prometheus metrics (`prometheus-client`), served at `/metrics`.

Every label has few values: GraphQL operation names are cut to `NAME_LENGTH` characters, and past
`MAX_OPERATION_NAMES` distinct ones a process counts the rest as "other" (clients choose names); vendor
operations are the method and route template (`providers._observe.Routes`); no id is ever a label.

Under `parley serve --workers N` each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(the CLI makes a temporary one; prometheus-client reads the variable itself, at import), and a scrape
of any worker merges them all: counters and histograms summed, gauges as each one's
`multiprocess_mode` says.

Who may scrape: with `server.metrics_port`, `parley serve` serves them on that port only (firewall
it), and `/metrics` on the main port is not found; else with `server.metrics_token_env` a scrape must
send `Authorization: Bearer <token>`; with neither, only loopback peers may.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sized
from dataclasses import replace
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .events import Bus, BusUnavailable, Event, SubscriberOverflow
from .settings import Settings, is_loopback

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
NAME_LENGTH = 64
MAX_OPERATION_NAMES = 200
OTHER = "other"
ANONYMOUS = "anonymous"
GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
# Seconds: a by-id read on a nearby vendor is ~10 ms, an inbox page ~100 ms, a slow vendor seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

OPERATIONS = Counter(
    "parley_graphql_operations_total", "GraphQL operations by type, name and outcome (ok, or the first error's code)",
    ["type", "name", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "parley_graphql_operation_duration_seconds", "Time to answer a query or mutation", ["type", "name", "outcome"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter("parley_http_requests_total", "HTTP requests by path and status", ["path", "status"])
VENDOR_CALLS = Counter(
    "parley_vendor_calls_total", "Vendor calls (each attempt) by provider, operation and HTTP status (or timeout, unreachable)",
    ["provider", "operation", "status"],
)
VENDOR_CALL_SECONDS = Histogram(
    "parley_vendor_call_duration_seconds", "Time of each vendor call", ["provider", "operation"], buckets=LATENCY_BUCKETS,
)
VENDOR_RETRIES = Counter("parley_vendor_retries_total", "Vendor calls sent again", ["provider", "operation"])
BREAKER_STATE = Gauge(
    "parley_breaker_state", "Circuit breaker per provider: 0 closed, 1 half-open, 2 open (the worst worker's)", ["provider"],
    multiprocess_mode="max",
)
SUBSCRIPTIONS = Gauge("parley_subscriptions_active", "Live subscriptions", multiprocess_mode="livesum")
EVENTS_PUBLISHED = Counter("parley_events_published_total", "Events published on the bus", ["kind"])
EVENTS_DELIVERED = Counter("parley_events_delivered_total", "Events handed to a subscription (one per subscription)", ["kind"])
EVENTS_DROPPED = Counter(
    "parley_events_dropped_total",
    "Events not published or not delivered: duplicate (already published from another source), "
    "bus_unavailable (the shared bus could not be reached and its outbox was full), overflow (a subscriber too far behind was cut off)",
    ["reason"],
)
BUS_OUTBOX = Gauge(
    "parley_bus_outbox_events", "Events kept in the local outbox while Redis is away, waiting to be published",
    multiprocess_mode="livesum",
)
BUS_LAG = Histogram("parley_bus_lag_seconds", "Time from publishing an event to handing it to a live subscription", buckets=LAG_BUCKETS)
MIGRATIONS_RUNNING = Gauge("parley_migrations_running", "Migration jobs running", multiprocess_mode="livesum")
MIGRATION_OBJECTS = Counter(
    "parley_migration_objects_total", "Objects a migration has handled, by kind (conversation, message, note) and result",
    ["kind", "result"],
)
WORKER_STARTED = Gauge(
    "parley_worker_start_time_seconds", "When each serving process started (one series per pid under --workers)",
    multiprocess_mode="liveall",
)

_operation_names: set[str] = set()
_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def child(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once per label set: `labels` checks and locks on every call,
    several times a request (the set of values is as small as the labels' own)."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def operation_label(name: str | None) -> str:
    """A GraphQL operation name as a label value: cut, and "other" once a process has seen too many."""
    if not name:
        return ANONYMOUS
    if not GRAPHQL_NAME.match(name):
        return OTHER
    name = name[:NAME_LENGTH]
    if name not in _operation_names:
        if len(_operation_names) >= MAX_OPERATION_NAMES:
            return OTHER
        _operation_names.add(name)
    return name


def path_label(path: str) -> str:
    """The route group of a path: /graphql, /webhooks, /sandbox, the probes, or other."""
    for known in ("/graphql", "/webhooks/", "/sandbox/", "/graphiql-assets/"):
        if path == known.rstrip("/") or path.startswith(known):
            return known.rstrip("/")
    return path if path in ("/health", "/ready", "/metrics") else OTHER


def breaker_state(provider: str, state: str) -> None:
    BREAKER_STATE.labels(provider).set(BREAKER_STATES.get(state, BREAKER_STATES["open"]))


def process_started() -> None:
    WORKER_STARTED.set(time.time())


def process_stopped() -> None:
    """Drops this process's live gauges from what the other workers report (multi-process mode)."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        multiprocess.mark_process_dead(os.getpid())


# ---- the bus, metered ----------------------------------------------------------------------------


class MeteredBus:
    """`inner` with its events counted: published, dropped, delivered, live subscriptions, and the lag
    from publishing to delivery (events carry the time they were published, across instances too)."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        outbox = getattr(inner, "outbox", None)  # the shared bus's (gateway.outbox); the in-memory bus has none
        if outbox is not None:
            outbox.on_change = BUS_OUTBOX.set

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # the inner bus's own attributes (its epoch, ...)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def ping(self) -> None:
        await self.inner.ping()

    async def publish(self, event: Event) -> Event | None:
        try:
            published = await self.inner.publish(replace(event, published_at=time.time()))
        except BusUnavailable:
            EVENTS_DROPPED.labels("bus_unavailable").inc()
            raise
        if published is None:
            EVENTS_DROPPED.labels("duplicate").inc()
        else:
            EVENTS_PUBLISHED.labels(event.kind.value).inc()
        return published

    async def subscribe(self, since: str | None = None, *, shared_by: Sized | None = None) -> AsyncIterator[Event]:
        """`shared_by`: the subscribers of a stream shared by several (gateway/live.py), each counted as
        one with a stream of its own (they count themselves among the live subscriptions)."""
        started = time.time()
        if shared_by is None:
            SUBSCRIPTIONS.inc()
        try:
            async for event in self.inner.subscribe(since):
                times = 1 if shared_by is None else len(shared_by)
                EVENTS_DELIVERED.labels(event.kind.value).inc(times)
                if event.published_at >= started:  # live, not replayed: its lag is the bus's
                    observe(BUS_LAG, max(0.0, time.time() - event.published_at), times)
                yield event
        except SubscriberOverflow:
            EVENTS_DROPPED.labels("overflow").inc(1 if shared_by is None else len(shared_by))
            raise
        finally:
            if shared_by is None:
                SUBSCRIPTIONS.dec()


def observe(histogram: Histogram, amount: float, times: int) -> None:
    """`histogram.observe(amount)` done `times` times, in one step: an event of a shared stream counts once
    per subscriber (thousands), as it would with a stream each. prometheus-client has no weighted
    observe; this adds to the sum and the bucket as its `observe` does."""
    if times == 1:
        histogram.observe(amount)
        return
    if times <= 0:
        return
    histogram._sum.inc(amount * times)
    for index, bound in enumerate(histogram._upper_bounds):
        if amount <= bound:
            histogram._buckets[index].inc(times)
            break


# ---- /metrics ------------------------------------------------------------------------------------


def render() -> bytes:
    """The exposition text: this process's metrics, or with several workers all of theirs."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    token = settings.operations.metrics_token

    async def endpoint(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            scheme, _, credentials = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
                return JSONResponse(
                    {"error": "metrics need the metrics token: Authorization: Bearer <server.metrics_token_env>"},
                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="parley-metrics"'},
                )
        elif not is_loopback(request.client.host if request.client else ""):
            return JSONResponse(
                {"error": "metrics are served to loopback peers only; set server.metrics_token_env or server.metrics_port"},
                status_code=403,
            )
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def serve_on_port(host: str, port: int) -> None:
    """Serves the metrics on their own port from a thread of this process (`parley serve` with
    `server.metrics_port`; under --workers the parent, which merges the workers' files)."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, addr=host, registry=registry)
    else:
        start_http_server(port, addr=host)
