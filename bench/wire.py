"""The load generator's own HTTP client for Parley: one keep-alive HTTP/1.1 connection per simulated
client, requests written as bytes and answers read by Content-Length (or chunks).

It stands for the frontends, which run on other machines in production. On one 2-core machine the
load generator competes with Parley and the sandboxes for CPU, and httpx spent about 1.5 ms per
GraphQL request doing it; this spends a tenth of that, so more of the machine goes to what is
measured. (The direct baseline keeps its httpx client: that client is what it measures.)
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

try:
    from orjson import dumps as _dumps
except ImportError:  # orjson is a Parley dependency, but the benchmark does not need it
    import json

    def _dumps(value: object) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


class WireError(Exception):
    """The server closed the connection or answered something that is not HTTP/1.1."""


class Connection:
    """One keep-alive connection; `post_json` sends one request and returns (status, body)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      "Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: ").encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, payload: object) -> tuple[int, bytes]:
        body = _dumps(payload)
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile is opened again once
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            try:
                self._writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
                return await self._answer()
            except (ConnectionError, asyncio.IncompleteReadError, WireError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        if not status_line.startswith(b"HTTP/1.1 "):
            raise WireError(f"not an HTTP/1.1 answer: {status_line[:40]!r}")
        length, chunked, closing = None, False, False
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                closing = b"close" in value.lower()
        if chunked:
            body = await self._chunks()
        elif length is not None:
            body = await self._reader.readexactly(length)
        else:
            body, closing = await self._reader.read(), True
        if closing:
            self.close()
        return int(status_line[9:12]), body

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts = []
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)
        await self._reader.readuntil(b"\r\n")  # no trailers are sent to it
        return b"".join(parts)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """Connections to one URL, each used by one request at a time (a closed-loop client holds one)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._idle: list[Connection] = []

    async def post_json(self, payload: object) -> tuple[int, bytes]:
        connection = self._idle.pop() if self._idle else Connection(self._url)
        try:
            answer = await connection.post_json(payload)
        except BaseException:
            connection.close()
            raise
        self._idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
