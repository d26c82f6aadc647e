"""Injected faults: what ``POST /_sandbox/faults`` takes, and what a fault answers instead of the API.

Injected fault bodies look like what a client meets in production: 502/503/504 are an HTML page
from a "load balancer"; other statuses are the vendor's own error body (``render_error``), with
``Retry-After`` on 429 and 503 when the fault sets ``retryAfter``; ``malformed`` is HTTP 200 with
an ``application/json`` content type and a truncated JSON body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import HTMLResponse, Response

MALFORMED_BODY = b'{"status": "success", "conversations": [{"id": "7f3c", "topic": "Ord'
GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
GATEWAY_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"

JsonDict = dict[str, Any]
RenderError = Callable[[int, str, dict[str, str]], Response]


class HookInputError(ValueError):
    """A control request (``/_sandbox/...``) the kit cannot act on; the message names the field."""


@dataclass(slots=True)
class Fault:
    status: int | None = None
    retry_after: int | None = None
    malformed: bool = False
    latency_ms: int = 0
    times: int | None = None
    path_contains: str | None = None

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    def to_json(self) -> JsonDict:
        names = {"retry_after": "retryAfter", "latency_ms": "latencyMs", "path_contains": "pathContains"}
        return {names.get(key, key): value for key, value in asdict(self).items()}


def _field(obj: dict[str, object], key: str, kind: type, label: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    if not isinstance(value, kind):
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    return value


def parse_fault(raw: object) -> Fault:
    if not isinstance(raw, dict):
        raise HookInputError(f"body must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"status", "retryAfter", "malformed", "latencyMs", "times", "pathContains"})
    if unknown:
        raise HookInputError(f"body has unknown field(s) {', '.join(unknown)}")
    fault = Fault(
        status=_field(raw, "status", int, "an integer"),
        retry_after=_field(raw, "retryAfter", int, "an integer"),
        malformed=bool(_field(raw, "malformed", bool, "true or false")),
        latency_ms=_field(raw, "latencyMs", int, "an integer") or 0,
        times=_field(raw, "times", int, "an integer"),
        path_contains=_field(raw, "pathContains", str, "a string"),
    )
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise HookInputError(f"body.status={fault.status} must be an HTTP error status between 400 and 599")
    if fault.status is not None and fault.malformed:
        raise HookInputError("set either body.status or body.malformed, not both")
    if fault.status is None and not fault.malformed and fault.latency_ms == 0:
        raise HookInputError("a fault needs at least one of status, malformed or latencyMs")
    if fault.latency_ms < 0 or (fault.retry_after or 0) < 0:
        raise HookInputError("body.latencyMs and body.retryAfter must not be negative")
    if fault.times is not None and fault.times < 1:
        raise HookInputError(f"body.times={fault.times} must be at least 1, or null for until cleared")
    return fault


class FaultQueue:
    """Queued faults; a request gets the first one whose ``pathContains`` matches."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def take(self, path: str) -> Fault | None:
        fault = next((item for item in self.faults if item.matches(path)), None)
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self.faults.remove(fault)
        return fault


def fault_response(fault: Fault, render_error: RenderError) -> Response | None:
    """What the fault answers instead of the API, or None when it only adds latency."""
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
    if fault.status is None:
        return None
    headers = {}
    if fault.retry_after is not None and fault.status in (429, 503):
        headers["Retry-After"] = str(fault.retry_after)
    reason = GATEWAY_REASONS.get(fault.status)
    if reason is not None:
        page = GATEWAY_PAGE.format(status=fault.status, reason=reason)
        return HTMLResponse(page, status_code=fault.status, headers=headers)
    return render_error(fault.status, f"injected fault: HTTP {fault.status}", headers)
