"""Logs: one access line per request with what an operator needs, the request id on every line, JSON
off a terminal and plain text on one, the level from the settings or the flag, client mistakes at INFO
without tracebacks, and no secret printed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.cli import main
from gateway.logs import configure, redact, redact_always
from gateway.settings import Settings, load_settings
from gateway.setting_values import SettingsError

from .auth_kit import api_client, bearer, upstream

KEY = "console-key-0123456789"
INBOX = "query Inbox { conversations(first: 2) { edges { node { id topic } } } }"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Parley's log handler writing to a buffer that is not a terminal (so JSON lines), at INFO."""
    stream = io.StringIO()
    configure("info", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "parley"]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def lines(stream: io.StringIO, logger: str | None = None) -> list[dict[str, object]]:
    parsed = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if logger is None or line["logger"] == logger]


def test_one_access_line_per_request_names_operation_client_duration_vendor_calls_and_outcome(log: io.StringIO) -> None:
    with TestClient(create_app(Settings(demo_conversations=2, clients=(api_client("console", KEY),)))) as client:
        upstream(client)
        response = client.post("/graphql", json={"query": INBOX}, headers={**bearer(KEY), "X-Request-Id": "inbox-1"})
        assert "errors" not in response.json()
        calls = sum(upstream(client).values())
    (line,) = lines(log, "parley.access")
    assert {k: line[k] for k in ("level", "request_id", "method", "path", "status", "operations", "client", "vendor_calls", "codes")} == {
        "level": "info", "request_id": "inbox-1", "method": "POST", "path": "/graphql", "status": 200,
        "operations": ["query Inbox"], "client": "console", "vendor_calls": calls, "codes": [],
    }
    assert calls > 0 and isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert "POST /graphql 200" in str(line["message"]) and "query Inbox" in str(line["message"])


def test_every_line_logged_while_a_request_runs_carries_its_id(log: io.StringIO) -> None:
    seen = logging.getLogger("parley.test")

    async def noisy_check() -> None:
        seen.warning("checked")  # logged from inside the request, as any gateway module would
        return None

    app = create_app(Settings(demo_conversations=1))
    app.state.runtime.readiness_checks.append(noisy_check)
    with TestClient(app) as client:
        client.get("/ready", headers={"X-Request-Id": "probe-3"})
    (line,) = lines(log, "parley.test")
    assert line["request_id"] == "probe-3" and line["message"] == "checked"


def test_a_client_mistake_is_an_info_line_with_its_code_and_no_traceback(log: io.StringIO) -> None:
    with TestClient(create_app(Settings(demo_conversations=1))) as client:
        body = client.post("/graphql", json={"query": "query Q($id: ID!) { conversation(id: $id) { id } }", "variables": {"id": "zzz"}}).json()
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    written = lines(log)
    assert [(l["level"], l["codes"]) for l in written if l["logger"] == "parley.access"] == [("info", ["INVALID_INPUT"])]
    assert not [l for l in written if l["level"] in ("warning", "error") or "exception" in l], written


def test_lines_are_json_off_a_terminal_and_plain_on_one() -> None:
    for stream, is_json in ((io.StringIO(), True), (Terminal(), False)):
        configure("info", stream=stream)
        logging.getLogger("parley.test").info("hello %s", "there")
        text = stream.getvalue().strip()
        if is_json:
            assert orjson.loads(text) | {"time": None} == {"time": None, "level": "info", "logger": "parley.test", "message": "hello there"}
        else:
            assert text.endswith("INFO parley.test [-] hello there"), text
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "parley"]:
        root.removeHandler(handler)


def test_secrets_are_cut_from_every_line(log: io.StringIO) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    logging.getLogger("parley.test").warning(
        "bus redis://parley:hunter2@redis.internal:6379/0 and rediss://:topsecret@r:6380, "
        "Authorization: Bearer sk_live_abcdef123456 and App 0123456789abcdef, token %s, hook /webhooks/sb?secret=s3cr3t&x=1", jwt,
    )
    try:
        raise ValueError("connect to postgresql://app:pa55word@db/parley failed")
    except ValueError:
        logging.getLogger("parley.test").exception("store")
    text = log.getvalue()
    for secret in ("hunter2", "topsecret", "sk_live_abcdef123456", "0123456789abcdef", jwt, "s3cr3t", "pa55word"):
        assert secret not in text, secret
    assert "redis://parley:***@redis.internal:6379/0" in text and "?secret=***&x=1" in text


def test_redact_keeps_text_without_secrets() -> None:
    text = "POST /graphql 200 12.3 ms | query Inbox | ok | client=console vendor_calls=3 https://api.example.com/x?page=2"
    assert redact(text) == text


def test_a_bus_url_password_is_not_printed_in_a_start_up_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PARLEY_CONFIG", raising=False)
    for url in ("http://parley:hunter2@127.0.0.1:1/0", "redis://parley:hunter2@127.0.0.1:notaport/0", "redis://parley:hunter2@127.0.0.1:1/0"):
        monkeypatch.setenv("PARLEY_BUS_URL", url)
        assert main(["serve", "--port", "1"]) == 2
        error = capsys.readouterr().err
        assert "bad setting: PARLEY_BUS_URL / server.bus_url" in error, error
        assert "hunter2" not in error, error


def test_the_log_level_comes_from_the_environment_and_must_be_known() -> None:
    assert load_settings({}).operations.log_level == "info"
    assert load_settings({"PARLEY_LOG_LEVEL": "DEBUG"}).operations.log_level == "debug"
    with pytest.raises(SettingsError, match=r"PARLEY_LOG_LEVEL / server.log_level: expected one of debug, info, warning, error, got 'loud'"):
        load_settings({"PARLEY_LOG_LEVEL": "loud"})


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.cli as cli

    chosen: list[str] = []
    monkeypatch.setenv("PARLEY_LOG_LEVEL", "error")
    monkeypatch.delenv("PARLEY_CONFIG", raising=False)
    monkeypatch.setattr(cli, "configure_logging", chosen.append)
    monkeypatch.setenv("PARLEY_BUS_URL", "redis://127.0.0.1:1/0")  # refused after logging is configured: nothing is served
    assert main(["serve", "--log-level", "debug"]) == 2
    assert chosen == ["debug"]


def test_a_websocket_is_one_access_line_for_all_its_operations(log: io.StringIO) -> None:
    query = "subscription Live { messageAdded { cursor } }"
    with TestClient(create_app(Settings(demo_conversations=1))) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers={"X-Request-Id": "ws-7"}) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "query Who { __typename }"}})
            assert ws.receive_json()["type"] == "next" and ws.receive_json()["type"] == "complete"
            ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": query}})
            ws.send_json({"id": "2", "type": "complete"})
            ws.send_json({"id": "3", "type": "subscribe", "payload": {"query": "query Who { __typename }"}})
            assert ws.receive_json()["type"] == "next"
    (line,) = lines(log, "parley.access")
    assert (line["method"], line["status"], line["request_id"]) == ("WS", 101, "ws-7")
    assert sorted(line["operations"]) == ["query Who", "query Who", "subscription Live"]  # type: ignore[arg-type]


_FRAGMENTS = (
    "redis://", "u:", "pw@", "@", "://", " ", "?", "&", ";", "=", "Bearer ", "bearer ", "Basic ", "App ", "0123456789ab",
    "eyJ", "a.", "b", ".c", "secret", "SECRET", "Token", "password", "passcode", "api_key", "ApiKey", "access_token",
    "client_secret", "ſecret", "api_\u212aey", "'", '"', "/", "x", "é",
)


@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=3)), max_size=12).map("".join))
@settings(max_examples=400, deadline=None)
def test_the_pre_check_of_redact_changes_no_line(text: str) -> None:
    """`redact` skips the patterns for a line without any of the words they need: the same result as
    running them all (the access line, which holds none, is the common case)."""
    assert redact(text) == redact_always(text)


def test_the_pre_check_still_sends_a_secret_to_the_patterns() -> None:
    for text in ("x ?secret=abc", "redis://u:pw@h", "Authorization: Bearer abcdef", "App 0123456789abcdef", "eyJa.eyJb.c", "?ſecret=abc"):
        assert redact(text) != text, text


@pytest.mark.parametrize("path, status, client, codes", [
    ("/graphql", 200, None, []),
    ("/graphql", 400, "console", ["INVALID_INPUT", "GRAPHQL_ERROR"]),
    ("/webhooks/sb?secret=s3cr3t", 401, "é-client Bearer abc.def", []),
])
def test_the_access_line_written_without_a_log_record_is_the_line_logging_writes(
    log: io.StringIO, monkeypatch: pytest.MonkeyPatch, path: str, status: int, client: str | None, codes: list[str]
) -> None:
    """With Parley's JSON handler alone on the root logger the access line is written directly
    (`logs.write_json`); once anything else may see records (here a filter), logging writes it.
    The two lines are the same, byte for byte."""
    import time

    from gateway.access import AccessRecord, _log_access, logger
    from gateway.logs import _only_json_handler
    from providers._observe import request_id_scope

    monkeypatch.setattr(time, "time", lambda: 1764590000.1234)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if h.get_name() == "parley"])  # pytest's own too else
    record = AccessRecord(client=client, operations=["query List", "mutation Reply"], codes=codes, vendor_calls=3)
    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    with request_id_scope("rid-0123"):
        assert _only_json_handler(logger, logging.INFO) is not None
        _log_access(scope, record, status, 0.01234)
        everything = logging.Filter()
        logger.addFilter(everything)
        try:
            assert _only_json_handler(logger, logging.INFO) is None
            _log_access(scope, record, status, 0.01234)
        finally:
            logger.removeFilter(everything)
    direct, logged = log.getvalue().splitlines()
    assert direct == logged
    assert orjson.loads(direct)["request_id"] == "rid-0123" and "s3cr3t" not in direct
