"""The ``commitThenDrop`` fault: the vendor carries a write out, then the client gets no answer at all.

Checked for every object a migration creates in a vendor (conversations and messages in Socialboards
and Infobip, Infobip notes, CleverTap replies: CleverTap has no API that creates a conversation), in
the three ways a client meets a sandbox: under uvicorn on loopback through httpx and through aiohttp
(the gateway's socket client), and in-process through httpx.ASGITransport. Each time the client sees a
dropped connection, and the vendor's own read shows the object exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from sandboxes.clevertap import app as ct_sandbox
from sandboxes.faults import ConnectionDropped
from sandboxes.infobip import app as ib_sandbox
from sandboxes.socialboards import app as sb_sandbox

from .helpers import uvicorn_serving

Json = dict[str, Any]
DROPPED = "Server disconnected without sending a response."

SB_TOKEN_FORM = {"grant_type": "refresh_token", "client_id": "sandbox-client", "refresh_token": "sandbox-refresh"}
IB_AUTH = {"Authorization": "App sandbox-key"}
IB = "/ccaas/1/conversations"
CT_AUTH = {"X-CleverTap-Account-Id": "SANDBOX-ACCOUNT", "X-CleverTap-Passcode": "sandbox-passcode"}
CT_AGENT = {"email": "asha.rao@example.com"}


@dataclass(frozen=True)
class Write:
    """One kind of object a migration writes into a vendor, and how to find it again."""

    name: str
    make_app: Callable[[], Starlette]
    headers: dict[str, str]
    path_contains: str
    prepare: Callable[[httpx.AsyncClient], Awaitable[str | None]]  # signs in; the conversation written to
    request: Callable[[str | None, str], tuple[str, object]]  # (conversation, marker) -> path, JSON body
    count: Callable[[httpx.AsyncClient, str | None, str], Awaitable[int]]  # objects carrying the marker


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


# -- Socialboards ----------------------------------------------------------------------------------


async def sb_sign_in(client: httpx.AsyncClient) -> None:
    token = _data(await client.post("/token", data=SB_TOKEN_FORM))["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"


async def sb_conversation(client: httpx.AsyncClient) -> str | None:
    await sb_sign_in(client)
    body = {"author": {"name": "Ann", "email": "ann@example.com"}, "title": "History"}
    return str(_data(await client.post("/chat/conversations", json=body))["data"]["id"])


async def sb_signed_in(client: httpx.AsyncClient) -> str | None:
    await sb_sign_in(client)
    return None


async def sb_titled(client: httpx.AsyncClient, _: str | None, marker: str) -> int:
    tickets = _data(await client.post("/tickets/list", json={"take": 50}))["data"]
    return sum(ticket["title"] == marker for ticket in tickets)


async def sb_messages(client: httpx.AsyncClient, conversation: str | None, marker: str) -> int:
    messages = _data(await client.get(f"/chat/conversations/{conversation}/messages", params={"take": 50}))["data"]
    return sum(item["message"] == marker for item in messages)


SB_AUTHOR = {"name": "Ann", "email": "ann@example.com"}


# -- Infobip ---------------------------------------------------------------------------------------


async def ib_conversation(client: httpx.AsyncClient) -> str | None:
    return str(_data(await client.post(IB, json={"topic": "History"}))["id"])


async def ib_nothing(client: httpx.AsyncClient) -> str | None:
    return None


async def ib_topics(client: httpx.AsyncClient, _: str | None, marker: str) -> int:
    conversations = _data(await client.get(IB, params={"limit": 999}))["conversations"]
    return sum(item["topic"] == marker for item in conversations)


async def ib_messages(client: httpx.AsyncClient, conversation: str | None, marker: str) -> int:
    messages = _data(await client.get(f"{IB}/{conversation}/messages", params={"limit": 999}))["messages"]
    return sum(item["content"] == {"text": marker} for item in messages)


async def ib_notes(client: httpx.AsyncClient, conversation: str | None, marker: str) -> int:
    notes = _data(await client.get(f"{IB}/{conversation}/notes", params={"limit": 999}))["notes"]
    return sum(item["content"] == marker for item in notes)


def ib_message(conversation: str | None, marker: str) -> tuple[str, object]:
    body = {"from": "447700900000", "to": "447700900123", "channel": "WHATSAPP", "contentType": "TEXT",
            "content": {"text": marker}}  # fmt: skip
    return f"{IB}/{conversation}/messages", body


# -- CleverTap -------------------------------------------------------------------------------------


async def ct_conversation(client: httpx.AsyncClient) -> str | None:
    body = {"identity": "emma.hansen@example.com", "campaign_id": 1700000102, "text": "Where is my order?"}
    return str(_data(await client.post("/1/conversation/inbound.json", json=body))["record"]["id"])


async def ct_replies(client: httpx.AsyncClient, conversation: str | None, marker: str) -> int:
    params: Json = {"id": conversation, "batch_size": 100}
    cursor = _data(await client.get("/1/conversation/messages.json", params=params))["cursor"]
    records = _data(await client.get("/1/conversation/messages.json", params={"cursor": cursor}))["records"]
    return sum(item["text"] == marker for item in records)


WRITES = [
    Write("socialboards conversation", sb_sandbox.create_app, {}, "/chat/conversations", sb_signed_in,
          lambda _, marker: ("/chat/conversations", {"author": SB_AUTHOR, "title": marker}), sb_titled),
    Write("socialboards message", sb_sandbox.create_app, {}, "/messages", sb_conversation,
          lambda c, marker: (f"/chat/conversations/{c}/messages", [{"author": SB_AUTHOR, "message": marker}]),
          sb_messages),
    Write("infobip conversation", ib_sandbox.create_app, IB_AUTH, IB, ib_nothing,
          lambda _, marker: (IB, {"topic": marker}), ib_topics),
    Write("infobip message", ib_sandbox.create_app, IB_AUTH, "/messages", ib_conversation, ib_message, ib_messages),
    Write("infobip note", ib_sandbox.create_app, IB_AUTH, "/notes", ib_conversation,
          lambda c, marker: (f"{IB}/{c}/notes", {"content": marker}), ib_notes),
    Write("clevertap reply", ct_sandbox.create_app, CT_AUTH, "/reply.json", ct_conversation,
          lambda c, marker: ("/1/conversation/reply.json", {"id": c, "agent": CT_AGENT, "message": {"text": marker}}),
          ct_replies),
]  # fmt: skip


# -- how a client reaches the sandbox --------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(app: Starlette, http: str = "auto") -> AsyncIterator[str]:
    """``app`` under uvicorn on a free loopback port (its log left to propagate, so tests can read it)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning", lifespan="off", http=http)
    async with uvicorn_serving(config) as origin:
        yield origin


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured(*names: str) -> Iterator[list[logging.LogRecord]]:
    """Records of the named loggers, read at the logger itself (uvicorn may stop them propagating)."""
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(recorder)
    try:
        yield recorder.records
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)


async def send_over_aiohttp(base_url: str, headers: dict[str, str], path: str, body: object) -> None:
    async with aiohttp.ClientSession(base_url) as session:
        async with session.post(path, json=body, headers=headers) as response:
            await response.read()


async def add_fault(client: httpx.AsyncClient, write: Write) -> None:
    fault = {"commitThenDrop": True, "pathContains": write.path_contains, "method": "POST", "times": 1}
    assert (await client.post("/_sandbox/faults", json=fault)).status_code == 200


async def check_write_is_kept_once(client: httpx.AsyncClient, write: Write, send: Callable[[str, object], Awaitable[None]]) -> None:
    conversation = await write.prepare(client)
    await add_fault(client, write)
    path, body = write.request(conversation, "migrated #1")
    with captured("sandboxes.faults") as records:
        await send(path, body)
    assert await write.count(client, conversation, "migrated #1") == 1
    assert [record.getMessage() for record in records] == [
        f"injected commitThenDrop fault: POST {path} answered 200; the client gets no answer"
    ]
    assert (await client.get("/_sandbox/faults")).json() == {"faults": []}
    path, body = write.request(conversation, "migrated #2")  # the fault is used up: answered as usual
    assert (await client.post(path, json=body)).status_code == 200
    assert await write.count(client, conversation, "migrated #2") == 1


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.name)
async def test_in_process_the_client_gets_a_remote_protocol_error_and_the_object_exists_once(write: Write) -> None:
    transport = httpx.ASGITransport(app=write.make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=write.headers) as client:

        async def send(path: str, body: object) -> None:
            with pytest.raises(httpx.RemoteProtocolError, match=DROPPED) as dropped:
                await client.post(path, json=body)
            assert isinstance(dropped.value, ConnectionDropped)
            assert dropped.value.request.url.path == path  # httpx fills in the request, as for a socket

        await check_write_is_kept_once(client, write, send)


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.name)
async def test_over_uvicorn_httpx_sees_a_dropped_connection_and_the_object_exists_once(write: Write) -> None:
    async with served(write.make_app()) as url, httpx.AsyncClient(base_url=url, headers=write.headers) as client:

        async def send(path: str, body: object) -> None:
            with captured("uvicorn.error") as server_log, pytest.raises(httpx.RemoteProtocolError, match=DROPPED):
                await client.post(path, json=body)
            # One line, no traceback: the drop is no crash of the app.
            assert [(record.getMessage(), record.exc_info) for record in server_log] == [
                ("ASGI callable returned without completing response.", None)
            ]

        await check_write_is_kept_once(client, write, send)


@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_both_uvicorn_protocols_drop_without_sending_a_byte(http: str) -> None:
    write = WRITES[4]  # an Infobip note
    async with served(write.make_app(), http) as url, httpx.AsyncClient(base_url=url, headers=write.headers) as client:
        conversation = await write.prepare(client)
        await add_fault(client, write)
        path, body = write.request(conversation, "migrated")
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        payload = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: App sandbox-key\r\n"
        writer.write(f"{head}Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed, not one byte of an answer
        writer.close()
        assert await write.count(client, conversation, "migrated") == 1


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.name)
async def test_over_uvicorn_aiohttp_sees_a_dropped_connection_and_the_object_exists_once(write: Write) -> None:
    async with served(write.make_app()) as url, httpx.AsyncClient(base_url=url, headers=write.headers) as client:

        async def send(path: str, body: object) -> None:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await send_over_aiohttp(url, dict(client.headers), path, body)

        await check_write_is_kept_once(client, write, send)


async def test_a_dropped_write_still_sends_the_vendors_webhook() -> None:
    received: list[Json] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(httpx.Response(200, content=request.content).json())
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as hooks:
        app = ib_sandbox.create_app(webhook_url="http://hooks/in", webhook_client=hooks)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ib", headers=IB_AUTH) as client:
            await add_fault(client, WRITES[2])
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(IB, json={"topic": "Lost answer"})
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.005)
    assert [(body["type"], body["payload"]["conversation"]["topic"]) for body in received] == [
        ("CONVERSATION_CREATED", "Lost answer")
    ]


async def test_a_refused_write_is_dropped_too_and_commits_nothing() -> None:
    transport = httpx.ASGITransport(app=ib_sandbox.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ib", headers=IB_AUTH) as client:
        await add_fault(client, WRITES[2])
        with captured("sandboxes.faults") as records, pytest.raises(httpx.RemoteProtocolError):
            await client.post(IB, json={"topic": "x" * 256})
        assert _data(await client.get(IB))["conversations"] == []
    assert "answered 400" in records[0].getMessage()


async def test_method_keeps_the_fault_off_reads_of_the_same_path() -> None:
    transport = httpx.ASGITransport(app=ib_sandbox.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ib", headers=IB_AUTH) as client:
        await add_fault(client, WRITES[2])
        assert _data(await client.get(IB))["conversations"] == []
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(IB, json={"topic": "Kept"})
        assert [item["topic"] for item in _data(await client.get(IB))["conversations"]] == ["Kept"]
