"""`parley serve`'s HTTP protocol (gateway/one_write.py) writes a response's head with its first body
part: the same bytes as uvicorn's own protocol, in one write; a head whose body is late still goes
out at once; WebSockets, keep-alive, HEAD, `Expect: 100-continue` and streams work as before."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import cli, serving, tuning
from gateway.one_write import CONTINUE, HeadWithBody, OneWriteHttpProtocol
from gateway.serving import FanoutWebSocketProtocol

from .helpers import uvicorn_serving

STREAM_DELAY = 0.6  # before the first part of the slow stream


class Recorded:
    """A transport that records what is written to it, in the calls made."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, parts: Any) -> None:
        self.calls.append(("writelines", b"".join(parts)))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


async def test_a_head_and_the_body_sent_in_the_same_turn_are_one_write() -> None:
    transport = Recorded()
    shim = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    shim.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.calls == []
    shim.write(b"{}")
    assert transport.calls == [("writelines", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]
    await asyncio.sleep(0)  # the flush scheduled for the head finds nothing left to write
    shim.write(b"more")
    assert transport.calls[1:] == [("write", b"more")]


async def test_a_head_whose_body_is_late_goes_out_on_its_own_at_the_next_turn() -> None:
    transport = Recorded()
    shim = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    shim.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")]
    shim.write(b"5\r\nhello\r\n")
    assert transport.calls[1:] == [("write", b"5\r\nhello\r\n")]


async def test_100_continue_is_written_at_once_and_the_head_after_it_is_held() -> None:
    transport = Recorded()
    shim = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    shim.write(CONTINUE)
    assert transport.calls == [("write", CONTINUE)]
    shim.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert len(transport.calls) == 1
    shim.write(b"")
    assert transport.calls[1:] == [("writelines", b"HTTP/1.1 204 No Content\r\n\r\n")]


async def test_closing_writes_a_held_head_first_and_a_closing_transport_gets_no_late_head() -> None:
    transport = Recorded()
    shim = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    shim.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    shim.close()
    assert transport.calls == [("write", b"HTTP/1.1 500 Internal Server Error\r\n\r\n")] and transport.closed
    assert shim.is_closing() and shim.get_extra_info("peername") == "extra peername"

    gone = Recorded()
    late = HeadWithBody(gone, asyncio.get_running_loop())  # type: ignore[arg-type]
    late.write(b"HTTP/1.1 200 OK\r\n\r\n")
    gone.closed = True  # the client hung up before the turn ended
    await asyncio.sleep(0)
    assert gone.calls == []


# ---- under a real uvicorn server ----------------------------------------------------------------


async def json_answer(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"got": body.decode(), "path": request.url.path, "big": "x" * 200_000 if "big" in request.query_params else ""})


async def slow_stream(request: Request) -> Response:
    async def parts() -> Any:
        await asyncio.sleep(STREAM_DELAY)
        yield b"data: one\n\n"
        yield b"data: two\n\n"

    return StreamingResponse(parts(), media_type="text/event-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("echo " + await websocket.receive_text())
    await websocket.close()


APP = Starlette(routes=[
    Route("/json", json_answer, methods=["GET", "POST", "HEAD"]),
    Route("/stream", slow_stream),
    WebSocketRoute("/ws", echo),
])


def config(http: type[HttpToolsProtocol]) -> uvicorn.Config:
    return uvicorn.Config(APP, host="127.0.0.1", port=0, http=http, ws=FanoutWebSocketProtocol, log_level="warning", lifespan="off")


async def raw_exchange(origin: str, request: bytes) -> bytes:
    """Everything the server sends for `request` until it closes the connection."""
    host, port = origin.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


REQUESTS = [
    b"GET /json HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    b"GET /json?big=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    b"HEAD /json HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    b"GET /missing HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    b"GET /stream HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    # two requests in one packet, answered in order on the one connection
    b"GET /json HTTP/1.1\r\nhost: t\r\n\r\nGET /json?big=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", REQUESTS, ids=["get", "big", "head", "post", "404", "stream", "pipelined"])
async def test_the_bytes_sent_are_those_of_uvicorns_own_protocol(request_bytes: bytes) -> None:
    answers = []
    for http in (HttpToolsProtocol, OneWriteHttpProtocol):
        async with uvicorn_serving(config(http)) as origin:
            answers.append(re.sub(rb"date: [^\r]*\r\n", b"", await raw_exchange(origin, request_bytes)))
    assert answers[0] == answers[1]
    assert answers[1].startswith(b"HTTP/1.1 ")


async def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    async with uvicorn_serving(config(OneWriteHttpProtocol)) as origin:
        host, port = origin.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /json HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == CONTINUE
        writer.write(b"hello")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'"got":"hello","path":"/json","big":""}')


async def test_a_streams_head_arrives_before_its_first_part_and_keep_alive_goes_on() -> None:
    async with uvicorn_serving(config(OneWriteHttpProtocol)) as origin, httpx.AsyncClient(base_url=origin) as client:
        started = time.monotonic()
        async with client.stream("GET", "/stream") as events:
            headers_after = time.monotonic() - started
            assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
            body = b"".join([part async for part in events.aiter_bytes()])
        assert headers_after < STREAM_DELAY / 2, headers_after  # not held until the first event
        assert body == b"data: one\n\ndata: two\n\n"
        for n in range(3):  # the same kept-alive connection answers on
            answer = await client.post("/json", content=f"n{n}")
            assert answer.json()["got"] == f"n{n}"


async def test_a_websocket_upgrade_works_under_the_protocol() -> None:
    async with uvicorn_serving(config(OneWriteHttpProtocol)) as origin:
        async with websockets.connect(origin.replace("http://", "ws://") + "/ws") as socket:
            await socket.send("hi")
            assert await asyncio.wait_for(socket.recv(), 5) == "echo hi"


def test_parley_serve_runs_on_the_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> int:
        seen.update(options)
        return 0

    monkeypatch.setattr(serving, "run", run)
    monkeypatch.setattr(tuning, "_enabled", False)  # `serve` asks for it; this process's other apps must not freeze
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARLEY_CONFIG", raising=False)
    assert cli.main(["serve", "--port", "0"]) == 0
    assert seen["http"] is OneWriteHttpProtocol
