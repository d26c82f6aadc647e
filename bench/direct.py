"""The vendors without Parley: what a good frontend team would write against the three vendor APIs
(docs/socialboards.md, docs/infobip.md, docs/clevertap-api.md) to show the same inbox and the same
conversation page. One shared `httpx.AsyncClient`, everything independent in `asyncio.gather`, and
only the reads the page needs. It imports nothing of Parley's adapters on purpose.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

try:
    from orjson import loads
except ImportError:  # orjson is a Parley dependency, but the benchmark does not need it
    from json import loads

CLEVERTAP_MAX_IN_FLIGHT = 15  # the documented per-account concurrency limit
# Calls in flight per vendor to choose from: httpx's pool costs more CPU per request the more requests
# wait in it, so a cap helps with no upstream latency and hurts with some. The runner tries each and
# measures with the best (`VendorApi.limit`).
IN_FLIGHT_CHOICES = (4, 16, 64)
SOCIALBOARDS_MAX_TAKE = 50


class VendorError(Exception):
    """A vendor answered an error status, or a body outside its documented envelope."""


@dataclasses.dataclass(frozen=True)
class InboxRow:
    vendor: str
    id: str
    topic: str | None
    status: str
    updated_at: datetime
    customer: str | None = None
    tags: tuple[str, ...] = ()
    last_text: str | None = None
    last_at: datetime | None = None


class VendorApi:
    """Authenticated calls to each vendor, checked against its envelope; each returns the payload."""

    def __init__(self, http: httpx.AsyncClient, sandboxes: dict[str, str], socialboards_token: str) -> None:
        self._http = http
        self._urls = sandboxes
        self._socialboards_auth = {"Authorization": f"Bearer {socialboards_token}"}
        self.limit(IN_FLIGHT_CHOICES[0])

    def limit(self, in_flight: int) -> None:
        """At most `in_flight` calls at once per vendor (CleverTap: never over its documented 15)."""
        self.in_flight = in_flight
        self._slots = {vendor: asyncio.Semaphore(in_flight) for vendor in self._urls}
        self._slots["clevertap"] = asyncio.Semaphore(min(in_flight, CLEVERTAP_MAX_IN_FLIGHT))

    @classmethod
    async def connect(cls, http: httpx.AsyncClient, sandboxes: dict[str, str]) -> VendorApi:
        form = {"grant_type": "refresh_token", "client_id": "sandbox-client", "refresh_token": "sandbox-refresh"}
        token = decode(await http.post(sandboxes["socialboards"] + "token", data=form))["access_token"]
        return cls(http, sandboxes, token)

    async def socialboards(self, method: str, path: str, **options: Any) -> Any:
        url = self._urls["socialboards"] + path
        async with self._slots["socialboards"]:
            body = decode(await self._http.request(method, url, headers=self._socialboards_auth, **options))
        if body.get("errorCode") != -1:
            raise VendorError(f"socialboards {path}: errorCode {body.get('errorCode')}: {body.get('errorText')}")
        return body["data"]

    async def infobip(self, method: str, path: str, **options: Any) -> Any:
        url = self._urls["infobip"] + "ccaas/1/" + path
        async with self._slots["infobip"]:
            return decode(await self._http.request(method, url, headers={"Authorization": "App sandbox-key"}, **options))

    async def clevertap(self, method: str, path: str, **options: Any) -> Any:
        headers = {"X-CleverTap-Account-Id": "SANDBOX-ACCOUNT", "X-CleverTap-Passcode": "sandbox-passcode"}
        async with self._slots["clevertap"]:
            response = await self._http.request(method, self._urls["clevertap"] + "1/" + path, headers=headers, **options)
        body = decode(response)
        if body.get("status") != "success":
            raise VendorError(f"clevertap {path}: {body.get('error')}")
        return body


def decode(response: httpx.Response) -> Any:
    if response.is_error:
        raise VendorError(f"HTTP {response.status_code} from {response.request.method} {response.url.path}: {response.text[:160]}")
    return loads(response.content)


def _time(raw: str) -> datetime:
    """Socialboards writes 7 fractional digits, Infobip `+0000`: Python 3.11's ISO parser reads both."""
    return datetime.fromisoformat(raw)


# -- the inbox: the `first` most recently updated conversations of all three vendors -----------------


async def inbox(api: VendorApi, first: int = 20) -> list[InboxRow]:
    listed = await asyncio.gather(_socialboards_rows(api, first), _infobip_rows(api, first), _clevertap_rows(api, first))
    newest = sorted((row for rows in listed for row in rows), key=lambda row: row.updated_at, reverse=True)[:first]
    return list(await asyncio.gather(*(_complete(api, row) for row in newest)))


async def _socialboards_rows(api: VendorApi, first: int) -> list[InboxRow]:
    body = {"take": min(first, SOCIALBOARDS_MAX_TAKE), "orderBy": "last_modified_time_desc"}
    tickets = await api.socialboards("POST", "tickets/list", json=body)
    return [
        InboxRow("socialboards", str(t["id"]), t["title"], "closed" if t["isClosed"] else "open", _time(t["lastModifiedTime"]))
        for t in tickets
    ]


async def _infobip_rows(api: VendorApi, first: int) -> list[InboxRow]:
    page = await api.infobip("GET", "conversations", params={"limit": first, "orderBy": "updatedAt:desc"})
    return [InboxRow("infobip", c["id"], c["topic"], c["status"], _time(c["updatedAt"])) for c in page["conversations"]]


async def _clevertap_rows(api: VendorApi, first: int) -> list[InboxRow]:
    records = await _clevertap_listing(api, "conversations.json", {"batch_size": first}, start_method="POST")
    return [
        InboxRow(
            "clevertap", c["id"], c["campaign_name"], c["ticket_status"], datetime.fromtimestamp(c["updated_ts"], UTC),
            customer=c["user_name"], tags=tuple(c["labels"]),
            last_text=(c["last_message"] or {}).get("text"),
            last_at=datetime.fromtimestamp(c["last_message"]["ts"], UTC) if c["last_message"] else None,
        )
        for c in records
    ]


async def _complete(api: VendorApi, row: InboxRow) -> InboxRow:
    """Adds what the vendor's listing leaves out: CleverTap's records carry everything already."""
    if row.vendor == "socialboards":
        path = f"chat/conversations/{row.id}"
        conversation, latest = await asyncio.gather(
            api.socialboards("GET", path),
            api.socialboards("GET", path + "/messages", params={"take": 1, "orderBy": "creation_time_desc"}),
        )
        last = latest[0] if latest else None
        return dataclasses.replace(
            row, customer=conversation["author"]["name"],
            last_text=last and last["message"], last_at=last and _time(last["creationTime"]),
        )
    if row.vendor == "infobip":
        path = f"conversations/{row.id}"
        tags, first_inbound, latest = await asyncio.gather(
            api.infobip("GET", path + "/tags"),
            api.infobip("GET", path + "/messages", params={"direction": "INBOUND", "orderBy": "createdAt:asc", "limit": 1}),
            api.infobip("GET", path + "/messages", params={"orderBy": "createdAt:desc", "limit": 1}),
        )
        customer = first_inbound["messages"][0]["from"] if first_inbound["messages"] else None
        last = latest["messages"][0] if latest["messages"] else None
        return dataclasses.replace(
            row, customer=customer, tags=tuple(t["name"] for t in tags["tags"]),
            last_text=last and last["content"].get("text"), last_at=last and _time(last["createdAt"]),
        )
    return row


# -- one conversation with its first messages --------------------------------------------------------


async def conversation(api: VendorApi, vendor: str, remote_id: str, messages: int = 50) -> tuple[Any, Sequence[Any]]:
    """The conversation and its oldest `messages` messages, read concurrently."""
    if vendor == "socialboards":
        path = f"chat/conversations/{remote_id}"
        return await asyncio.gather(
            api.socialboards("GET", path),
            api.socialboards("GET", path + "/messages", params={"take": messages, "orderBy": "creation_time_asc"}),
        )
    if vendor == "infobip":
        path = f"conversations/{remote_id}"
        found, page = await asyncio.gather(
            api.infobip("GET", path),
            api.infobip("GET", path + "/messages", params={"limit": messages, "orderBy": "createdAt:asc"}),
        )
        return found, page["messages"]
    found, records = await asyncio.gather(
        api.clevertap("GET", "conversation.json", params={"id": remote_id}),
        _clevertap_listing(api, "conversation/messages.json", {"id": remote_id, "batch_size": messages}),
    )
    return found["record"], records


async def _clevertap_listing(api: VendorApi, path: str, params: dict[str, Any], start_method: str = "GET") -> list[Any]:
    """Step 1 opens a cursor, step 2 reads its first page (enough: `batch_size` is what is shown)."""
    cursor = (await api.clevertap(start_method, path, params=params))["cursor"]
    records: list[Any] = (await api.clevertap("GET", path, params={"cursor": cursor}))["records"]
    return records
