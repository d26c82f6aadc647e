"""The shared sandbox kit on a minimal vendor: gate order, fault bodies, request log, clock hooks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandboxes.faults import HookInputError, parse_fault
from sandboxes.kit import SandboxClock, SandboxControls, with_latency

from .helpers import inject_fault

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def vendor_error(status: int, text: str, headers: dict[str, str]) -> Response:
    return JSONResponse({"vendorError": text}, status_code=status, headers=headers)


async def key_auth(request: Request) -> Response | None:
    if request.headers.get("x-key") != "right":
        return JSONResponse({"vendorError": "bad key"}, status_code=401)
    return None


async def echo(request: Request) -> Response:
    return JSONResponse({"ok": True, "body": (await request.body()).decode()})


def make_app() -> tuple[Starlette, SandboxControls]:
    controls = SandboxControls(SandboxClock(lambda: T0))
    routes = [*controls.routes(), Route("/api/things", echo, methods=["GET", "POST"]), Route("/login", echo, methods=["POST"])]
    gate = Middleware(controls.gate, render_error=vendor_error, authenticate=key_auth, public_paths=frozenset({"/login"}))
    return Starlette(routes=routes, middleware=[gate]), controls


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app, _ = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit", headers={"x-key": "right"}) as client:
        yield client


async def test_requests_pass_with_auth_and_fail_without(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/things")).json()["ok"] is True
    refused = await api.get("/api/things", headers={"x-key": "wrong"})
    assert (refused.status_code, refused.json()) == (401, {"vendorError": "bad key"})
    assert (await api.post("/login", headers={"x-key": ""})).status_code == 200  # public path


async def test_a_fault_with_times_is_used_up_then_removed(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=500, times=2)
    assert [(await api.get("/api/things")).status_code for _ in range(3)] == [500, 500, 200]
    assert (await api.get("/_sandbox/faults")).json() == {"faults": []}


async def test_a_fault_without_times_lasts_until_cleared(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=500)
    assert [(await api.get("/api/things")).status_code for _ in range(3)] == [500, 500, 500]
    assert (await api.delete("/_sandbox/faults")).json() == {"faults": []}
    assert (await api.get("/api/things")).status_code == 200


async def test_other_statuses_use_the_vendor_error_body_and_retry_after_only_on_429_and_503(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=429, retryAfter=7, times=1)
    await inject_fault(api, status=400, retryAfter=7, times=1)
    limited, bad = await api.get("/api/things"), await api.get("/api/things")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert limited.json() == {"vendorError": "injected fault: HTTP 429"}
    assert bad.status_code == 400 and "retry-after" not in bad.headers


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_statuses_answer_an_html_page(api: httpx.AsyncClient, status: int) -> None:
    await inject_fault(api, status=status, retryAfter=3, times=1)
    response = await api.get("/api/things")
    assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    assert ("retry-after" in response.headers) is (status == 503)


async def test_malformed_is_truncated_json_with_status_200(api: httpx.AsyncClient) -> None:
    await inject_fault(api, malformed=True, times=1)
    response = await api.get("/api/things")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


async def test_latency_delays_then_answers_normally(api: httpx.AsyncClient) -> None:
    await inject_fault(api, latencyMs=80, times=1)
    started = time.perf_counter()
    response = await api.get("/api/things")
    assert response.status_code == 200 and time.perf_counter() - started >= 0.07


async def test_path_contains_picks_which_requests_a_fault_hits(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=404, pathContains="/login")
    assert (await api.get("/api/things")).status_code == 200
    assert (await api.post("/login")).status_code == 404


async def test_method_picks_which_requests_a_fault_hits(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=409, method="post", pathContains="/api/things", times=1)
    assert (await api.get("/api/things")).status_code == 200
    assert (await api.post("/login")).status_code == 200
    assert (await api.post("/api/things")).status_code == 409
    assert (await api.post("/api/things")).status_code == 200


async def test_faults_come_before_auth(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=503, times=1)
    assert (await api.get("/api/things", headers={"x-key": "wrong"})).status_code == 503


async def test_the_log_records_every_vendor_request_even_failed_ones_but_no_control_calls(api: httpx.AsyncClient) -> None:
    await api.post("/api/things?a=1&b=2&b=3", json={"x": 1})
    await api.get("/api/things", headers={"x-key": "wrong"})
    await api.post("/login", data={"user": "u"})
    log = (await api.get("/_sandbox/requests")).json()["requests"]
    assert log == [
        {"method": "POST", "path": "/api/things", "query": {"a": "1", "b": ["2", "3"]}, "body": {"x": 1}},
        {"method": "GET", "path": "/api/things", "query": {}, "body": None},
        {"method": "POST", "path": "/login", "query": {}, "body": {"user": "u"}},
    ]
    assert (await api.delete("/_sandbox/requests")).json() == {"requests": []}
    assert (await api.get("/_sandbox/requests")).json() == {"requests": []}


async def test_the_route_still_receives_the_body_the_gate_read(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/things", content=b"hello")).json()["body"] == "hello"


async def test_the_clock_reports_and_moves_forward(api: httpx.AsyncClient) -> None:
    assert (await api.get("/_sandbox/clock")).json() == {"now": "2025-01-02T03:04:05.000Z"}
    assert (await api.post("/_sandbox/clock", json={"advanceSeconds": 90.5})).json() == {"now": "2025-01-02T03:05:35.500Z"}


@pytest.mark.parametrize("body", [{"advanceSeconds": -1}, {"advanceSeconds": True}, {}, [], "x"])
async def test_bad_clock_moves_are_refused_by_name(api: httpx.AsyncClient, body: object) -> None:
    response = await api.post("/_sandbox/clock", json=body)
    assert response.status_code == 400 and "advanceSeconds" in response.json()["error"]


async def test_a_control_body_that_is_not_json_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/_sandbox/faults", content=b"{nope")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": 200}, "between 400 and 599"),
        ({}, "at least one of status, malformed, commitThenDrop or latencyMs"),
        ({"commitThenDrop": True, "status": 500}, "takes no status, malformed or retryAfter"),
        ({"commitThenDrop": True, "malformed": True}, "takes no status, malformed or retryAfter"),
        ({"commitThenDrop": True, "retryAfter": 2}, "takes no status, malformed or retryAfter"),
        ({"commitThenDrop": "yes"}, "body.commitThenDrop must be true or false"),
        ({"status": 500, "method": "FETCH"}, "body.method='FETCH' must be one of GET, HEAD, POST"),
        ({"status": 500, "method": 1}, "body.method must be an HTTP method name"),
        ({"status": 500, "times": 0}, "times=0 must be at least 1"),
        ({"status": 500, "malformed": True}, "either body.status or body.malformed"),
        ({"status": "500"}, "body.status must be an integer"),
        ({"status": True}, "body.status must be an integer"),
        ({"latencyMs": -5}, "must not be negative"),
        ({"status": 500, "retryAfter": -1}, "must not be negative"),
        ({"status": 500, "colour": "red"}, "unknown field(s) colour"),
        ([1], "body must be a JSON object"),
    ],
)
def test_fault_bodies_are_validated_by_name(body: object, message: str) -> None:
    with pytest.raises(HookInputError) as caught:
        parse_fault(body)
    assert message in str(caught.value)


async def test_an_invalid_fault_is_answered_400_and_not_queued(api: httpx.AsyncClient) -> None:
    response = await api.post("/_sandbox/faults", json={"status": 200})
    assert response.status_code == 400 and "between 400 and 599" in response.json()["error"]
    assert (await api.get("/_sandbox/faults")).json() == {"faults": []}


async def test_queued_faults_are_listed_in_wire_names(api: httpx.AsyncClient) -> None:
    await inject_fault(api, status=429, retryAfter=1, times=3, pathContains="/api")
    assert (await api.get("/_sandbox/faults")).json() == {
        "faults": [
            {"status": 429, "retryAfter": 1, "malformed": False, "latencyMs": 0, "times": 3, "pathContains": "/api",
             "method": None, "commitThenDrop": False}
        ]
    }
    await inject_fault(api, commitThenDrop=True, method="post")
    assert (await api.get("/_sandbox/faults")).json()["faults"][1] == {
        "status": None, "retryAfter": None, "malformed": False, "latencyMs": 0, "times": None, "pathContains": None,
        "method": "POST", "commitThenDrop": True,
    }


async def _timed_get(client: httpx.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    assert (await client.get(path)).status_code == 200
    return time.perf_counter() - started


async def test_with_latency_delays_vendor_requests_but_not_sandbox_hooks() -> None:
    app, _ = make_app()
    transport = httpx.ASGITransport(app=with_latency(app, 200))
    async with httpx.AsyncClient(transport=transport, base_url="http://kit", headers={"x-key": "right"}) as client:
        assert await _timed_get(client, "/api/things") >= 0.19
        assert await _timed_get(client, "/_sandbox/requests") < 0.15


def test_with_latency_zero_is_the_app_itself_and_negative_is_refused() -> None:
    app, _ = make_app()
    assert with_latency(app, 0) is app
    with pytest.raises(ValueError, match="must not be negative"):
        with_latency(app, -1)
