"""The vendor wire: a `Transport` builds one request and sends it once, nothing more.

Two transports: `VendorHttp`, the lean pooled client on aiohttp that `parley serve` talks to vendors
with, and `HttpxWire`, an `httpx.AsyncClient` seen the same way (tests put an in-process sandbox or
a mock behind one). Clients build `WireRequest`s and read `Response`s whichever it is; retries,
timeouts and error translation are `_http`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import httpx
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _observe

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0, pool=2.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)


class WireRequest:
    """One vendor call, ready for the wire: method, absolute URL (already percent-encoded), headers and body."""

    __slots__ = ("method", "url", "headers", "body")

    def __init__(self, method: str, url: str, headers: CIMultiDict[str], body: bytes | None) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body


class Response(Protocol):
    """The parts of an answer the adapters read, as `httpx.Response` names them. The body has been
    read whole: `aclose` only releases what the transport still holds."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """What a vendor client sends through. `build_request` takes the arguments of
    `httpx.AsyncClient.build_request` that clients use (lists in `params` repeat the key, True is
    "true", None is empty); `send` sends once, following no redirects, and raises httpx's transport
    errors (`httpx.TimeoutException`, `httpx.TransportError`)."""

    @property
    def base_url(self) -> str: ...

    @property
    def timeout(self) -> httpx.Timeout: ...

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> WireRequest: ...

    async def send(self, request: WireRequest) -> Response: ...


Client = httpx.AsyncClient | Transport  # what a provider is built from: an httpx client, or a transport


def transport(http: Client) -> Transport:
    """`http` as a `Transport`: an httpx client is wrapped, a transport is itself."""
    return HttpxWire(http) if isinstance(http, httpx.AsyncClient) else http


class WireResponse:
    """An answer `VendorHttp` read whole."""

    __slots__ = ("status_code", "headers", "content", "request")

    def __init__(self, status_code: int, headers: CIMultiDictProxy[str], content: bytes, request: WireRequest) -> None:
        self.status_code, self.headers, self.content, self.request = status_code, headers, content, request

    def json(self) -> Any:
        return orjson.loads(self.content)

    async def aclose(self) -> None:
        """Nothing to release: the body was read whole and the connection went back to the pool."""


# ---- httpx --------------------------------------------------------------------------------------


class _HttpxRequest(WireRequest):
    """A request `HttpxWire` built: it keeps httpx's own request, which is what it sends."""

    __slots__ = ("built",)

    def __init__(self, built: httpx.Request) -> None:
        super().__init__(built.method, str(built.url), CIMultiDict(built.headers.multi_items()), built.read() or None)
        self.built = built


class HttpxWire:
    """An `httpx.AsyncClient` as a `Transport`: httpx builds and sends each request as it always
    would, with the client's base URL, headers, timeouts and transport. The client's owner closes it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    @property
    def timeout(self) -> httpx.Timeout:
        return self._client.timeout

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> WireRequest:
        headers = _observe.outgoing_headers(headers)
        return _HttpxRequest(self._client.build_request(method, url, params=params, json=json, headers=headers, data=data))

    async def send(self, request: WireRequest) -> Response:
        if isinstance(request, _HttpxRequest):
            built = request.built
        else:  # built by another transport: its method, URL, headers and body as they are
            built = self._client.build_request(request.method, request.url, headers=list(request.headers.items()), content=request.body)
        return await self._client.send(built)


# ---- aiohttp ------------------------------------------------------------------------------------

# Paths whose bytes httpx would send as they are: unreserved characters, "/" (not "//" first) and
# percent escapes, and no "." or ".." segment (httpx resolves those). Anything else httpx builds.
_PLAIN_PATH = re.compile(r"(?!//)(?:[A-Za-z0-9\-._~/]|%[0-9A-Fa-f]{2})*")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_SCALARS = (str, int, float)


class VendorHttp:
    """A pooled keep-alive client for one vendor account, on aiohttp's connection pool.

    Measured on this machine against a sandbox on loopback: httpx's own transport (httpcore on anyio)
    spends 1.4 ms of CPU per call and aiohttp 0.26 ms; and building an `httpx.Request` (URL parsing
    and normalising) was a quarter of what was left of a vendor read. So requests are built here:
    the adapters call `build_request` as on an `httpx.AsyncClient`, with the same URL and query
    encoding (lists repeat the key, True is "true", None is empty), and read a `WireResponse`.
    Requests this does not build byte for byte the way httpx would (a form body, an absolute URL, a
    path with characters to escape or dot segments) are built by httpx and sent from its result.
    Sending follows no redirects, runs no auth flow (credentials are headers) and keeps no cookies.
    aiohttp errors become the httpx errors `send` handles; gzip and deflate answers are decoded.
    """

    def __init__(
        self, base_url: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT, headers: Mapping[str, str] | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self._headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self._limits = limits
        self._wait = aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect, sock_read=timeout.read)
        self._session: aiohttp.ClientSession | None = None
        self._httpx: httpx.AsyncClient | None = None  # builds the unusual requests; made on first need

    def build_request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> WireRequest:
        headers = _observe.outgoing_headers(headers)
        query = _query(params)
        if query is None or data is not None or not _PLAIN_PATH.fullmatch(url) or _DOT_SEGMENT.search(url):
            return self._built_by_httpx(method, url, params=params, json=json, headers=headers, data=data)
        merged = self._headers.copy()
        if headers:
            merged.update(headers)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            merged["Content-Type"] = "application/json"
        return WireRequest(method, self.base_url + url.lstrip("/") + query, merged, body)

    def _built_by_httpx(self, method: str, url: str, **options: Any) -> WireRequest:
        if self._httpx is None:
            self._httpx = httpx.AsyncClient(base_url=self.base_url, headers=self._headers)
        request = self._httpx.build_request(method, url, **options)
        given = CIMultiDict(options.get("headers") or {})
        headers = CIMultiDict(request.headers.multi_items())
        for implied in ("host", "content-length", "connection", "user-agent", "accept", "accept-encoding"):
            if implied not in self._headers and implied not in given:
                headers.popall(implied, None)  # httpx's defaults: aiohttp sets its own for its connection
        return WireRequest(method, str(request.url), headers, request.read() or None)

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running event loop
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 15,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def send(self, request: WireRequest) -> WireResponse:
        try:
            async with self._pool().request(
                request.method, URL(request.url, encoded=True), headers=request.headers, data=request.body,
                allow_redirects=False, timeout=self._wait,
            ) as answer:
                content = await answer.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        except aiohttp.ClientError as exc:  # the server hung up, a broken body, a socket error
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        return WireResponse(answer.status, answer.headers, content, request)

    async def request(self, method: str, url: str, **options: Any) -> WireResponse:
        """`build_request` and `send` in one, without retries (those are `_http.send`'s)."""
        return await self.send(self.build_request(method, url, **options))

    async def aclose(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> VendorHttp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _query(params: Mapping[str, Any] | None) -> str | None:
    """"?a=1&b=x" as httpx encodes `params` ("" for none), or None for values it would not take the same way."""
    if not params:
        return ""
    if not isinstance(params, Mapping):
        return None
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        for one in value if isinstance(value, (list, tuple)) else (value,):
            if one is None:
                items.append((key, ""))
            elif one is True or one is False:
                items.append((key, "true" if one else "false"))
            elif isinstance(one, _SCALARS):
                items.append((key, str(one)))
            else:
                return None
    return "?" + urlencode(items) if items else None
