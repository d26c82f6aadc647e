"""`parley serve --workers 2`: each worker writes its metrics to a directory the CLI makes (and removes
after), and the metrics port, served by the parent, reports what every worker counted."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from .helpers import free_port
from .test_cli import ROOT, two_workers
from .test_metrics import label_values, parse, total

REQUESTS = 40


def metrics_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("parley-metrics-*"))


def test_two_workers_report_their_metrics_together_on_the_metrics_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    before = metrics_dirs()
    # PYTHONPATH: the checkout's code, also where another checkout is the one installed
    with two_workers(tmp_path, PARLEY_METRICS_PORT=str(metrics_port), PYTHONPATH=str(ROOT)) as (url, _):
        during = metrics_dirs() - before
        for _ in range(REQUESTS):  # a connection each, so the kernel hands them to either worker
            assert httpx.post(url, json={"query": "query Ping { __typename }"}, timeout=5).json() == {"data": {"__typename": "Query"}}
        on_main_port = httpx.get(url.replace("/graphql", "/metrics"), timeout=5)
        scraped = parse(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text)
    assert on_main_port.status_code == 404
    # The parent serves the port and answers no GraphQL: every count here was read from the workers' files.
    assert total(scraped, "parley_graphql_operations_total", type="query", name="Ping", outcome="ok") == REQUESTS
    assert total(scraped, "parley_graphql_operation_duration_seconds_count", name="Ping") == REQUESTS
    assert len(label_values(scraped, "parley_worker_start_time_seconds", "pid")) == 2
    assert len(during) == 1 and not (metrics_dirs() - before), "the workers' metrics directory is removed after"
