"""HTTP for the Infobip Conversations API (`ccaas/1`, relative to the account's API root).

Implements (www.infobip.com/docs/api/customer-engagement/conversations/...; the older dev.infobip.com
/conversations pages for full examples): get-conversations, create-conversation, get-conversation,
update-conversation (PUT), patch-conversation, change-assignment (PUT/DELETE `…/assignee`),
route-conversation, add/remove tag to conversation, get/create tags, get-messages, create-message,
create-note (and the notes list the notes-over-api guide names; its path inferred, see notes.py).
Authentication: www.infobip.com/docs/essentials/api-essentials/api-authentication (`App <key>`).

Errors come in two shapes: the Conversations service's `{"statusCode": "ERROR", "message"}` and
the platform's `{"requestError": {"serviceException": {"messageId", "text"}}}` (auth, throttling).
Paths the docs leave open are the constants below, as pinned in docs/infobip.md.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote


from .._http import decode_json, error_for_status, retry_after_seconds, send
from .._observe import Routes
from .._wire import Client, Response, transport
from .._time import EARLIEST, parse_datetime
from ..echo import VENDOR_TEXT_LIMIT, cut
from ..errors import ConflictError, InvalidRequestError, MalformedResponseError
from .mapping import LATEST_MS

ROOT = "ccaas/1"
CONVERSATIONS = f"{ROOT}/conversations"
CONVERSATION = f"{CONVERSATIONS}/{{id}}"
ASSIGNEE = f"{CONVERSATION}/assignee"
ROUTE = f"{CONVERSATION}/route"
CONVERSATION_TAGS = f"{CONVERSATION}/tags"
CONVERSATION_TAG = f"{CONVERSATION}/tags/{{tag}}"
MESSAGES = f"{CONVERSATION}/messages"
NOTES = f"{CONVERSATION}/notes"
TAGS = f"{ROOT}/tags"
ROUTES = Routes(CONVERSATIONS, CONVERSATION, ASSIGNEE, ROUTE, CONVERSATION_TAGS, CONVERSATION_TAG, MESSAGES, TAGS)
MAX_LIMIT = 999
# A 404 naming another entity than the conversation (`Invalid agentId 'x' given! ...`) is bad input.
UNKNOWN_REFERENCE = re.compile(r"Invalid (agentId|queueId|tagName) '")
MAX_SCAN_ROUNDS = 4  # vendor list pages one page of Parley's may read
BEHIND_SLACK = 20  # extra rows per read: a widened window may return rows of the millisecond before
MILLISECOND = timedelta(milliseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS = (EARLIEST - EPOCH) // MILLISECOND
MAX_MS = (LATEST_MS - EPOCH) // MILLISECOND


class InfobipClient:
    """Authenticated calls; returns the decoded JSON body or raises a `ProviderError`: NotFoundError
    for an unknown conversation, InvalidRequestError (`field` agentId, queueId or tagName) for an
    unknown agent, queue or account tag."""

    def __init__(self, http: Client, *, provider: str, api_key: str) -> None:
        self._http = transport(http)
        self._provider = provider
        self._headers = {"authorization": f"App {api_key}", "accept": "application/json"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "PATCH")  # PATCH sets values: safe to repeat
        query = None if params is None else wire_params(params)
        request = self._http.build_request(method, path, params=query, json=json, headers=self._headers)
        response = await send(self._http, request, provider=self._provider, idempotent=idempotent,
                              operation=ROUTES.name(method, path))
        return self._unwrap(response)

    def _unwrap(self, response: Response) -> Any:
        status = response.status_code
        if status < 400:
            body = decode_json(response, provider=self._provider) if response.content else None
            if isinstance(body, dict) and body.get("statusCode") == "ERROR":
                status = 400  # an error body with a success status: the vendor refused it all the same
            else:
                return body
        message, code = _error_text(response)
        reference = UNKNOWN_REFERENCE.match(message or "") if status == 404 else None
        if reference is not None:
            raise InvalidRequestError(
                f"the vendor knows no such {reference.group(1)}", provider=self._provider, status_code=status,
                vendor_code=code, field=reference.group(1), vendor_message=message,
            )
        raise error_for_status(
            status, message, provider=self._provider, vendor_code=code, retry_after=retry_after_seconds(response)
        )

    async def probe(self) -> None:
        """One cheap authenticated read (a one-row list); raises ProviderError when it fails."""
        await self.list_conversations({"limit": 1})

    # ---- conversations --------------------------------------------------------------------------

    async def list_conversations(self, params: dict[str, Any]) -> list[Any]:
        """Rows of one vendor page; `params` may hold datetimes (see `wire_params`)."""
        return _rows(await self.call("GET", CONVERSATIONS, params=params), "conversations", self._provider)

    async def get_conversation(self, conversation_id: str) -> Any:
        return await self.call("GET", _path(CONVERSATION, conversation_id))

    async def create_conversation(self, body: dict[str, Any]) -> Any:
        return await self.call("POST", CONVERSATIONS, json=body)

    async def patch_conversation(self, conversation_id: str, body: dict[str, Any]) -> Any:
        return await self.call("PATCH", _path(CONVERSATION, conversation_id), json=body)

    async def replace_conversation(self, conversation_id: str, body: dict[str, Any]) -> Any:
        return await self.call("PUT", _path(CONVERSATION, conversation_id), json=body)

    async def assign(self, conversation_id: str, agent_id: str) -> Any:
        return await self.call("PUT", _path(ASSIGNEE, conversation_id), json={"agentId": agent_id})

    async def unassign(self, conversation_id: str) -> Any:
        return await self.call("DELETE", _path(ASSIGNEE, conversation_id))

    async def route(self, conversation_id: str) -> Any:
        return await self.call("POST", _path(ROUTE, conversation_id))

    # ---- tags -----------------------------------------------------------------------------------

    async def conversation_tags(self, conversation_id: str) -> Any:
        return await self.call("GET", _path(CONVERSATION_TAGS, conversation_id), params={"limit": MAX_LIMIT})

    async def link_tag(self, conversation_id: str, tag: str) -> Any:
        # Linking a linked tag answers SUCCESS again, so a repeat is harmless.
        return await self.call("POST", _path(CONVERSATION_TAGS, conversation_id), json={"tagName": tag}, idempotent=True)

    async def unlink_tag(self, conversation_id: str, tag: str) -> Any:
        return await self.call("DELETE", _path(CONVERSATION_TAG, conversation_id, tag=tag))

    async def create_tag(self, name: str) -> None:
        """Creates an account tag; one that someone created meanwhile is no error."""
        try:
            await self.call("POST", TAGS, json={"name": name})
        except (InvalidRequestError, ConflictError) as exc:
            if "already exists" not in (exc.vendor_message or "").casefold():
                raise

    # ---- messages -------------------------------------------------------------------------------

    async def list_messages(self, conversation_id: str, params: dict[str, Any]) -> list[Any]:
        """Rows of one vendor page; `params` may hold datetimes (see `wire_params`)."""
        return _rows(await self.call("GET", _path(MESSAGES, conversation_id), params=params), "messages", self._provider)

    async def message_head(self, conversation_id: str, query: Mapping[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
        """The first message `query` lists (None: none) and how many it lists (`pagination.totalItems`,
        None when the vendor does not say)."""
        body = await self.call("GET", _path(MESSAGES, conversation_id), params={**query, "limit": 1})
        rows, pagination = _rows(body, "messages", self._provider), body.get("pagination")
        total = pagination.get("totalItems") if isinstance(pagination, dict) else None
        count = total if isinstance(total, int) and not isinstance(total, bool) else None
        if rows and (not isinstance(rows[0], dict) or rows[0].get("id") is None):
            raise MalformedResponseError("the vendor's message is not in the documented shape", provider=self._provider)
        return (rows[0] if rows else None), count

    async def send_message(self, conversation_id: str, body: dict[str, Any]) -> Any:
        return await self.call("POST", _path(MESSAGES, conversation_id), json=body)

    # ---- notes (internal; never delivered to the customer) -------------------------------------

    async def create_note(self, conversation_id: str, body: dict[str, Any]) -> Any:
        return await self.call("POST", _path(NOTES, conversation_id), json=body)

    async def list_notes(self, conversation_id: str, *, page: int, limit: int = MAX_LIMIT) -> list[Any]:
        """One page of a conversation's notes (in the vendor's default order)."""
        params = {"limit": limit, "page": page}
        return _rows(await self.call("GET", _path(NOTES, conversation_id), params=params), "notes", self._provider)


def unknown_tag(exc: InvalidRequestError) -> bool:
    """Whether the vendor refused a tag name because the account has no such tag."""
    return exc.field == "tagName"


def _path(template: str, conversation_id: str, **parts: str) -> str:
    """Ids and tag names are path segments: a `/` or `?` in them must not change the path."""
    return template.format(id=quote(conversation_id, safe=""), **{k: quote(v, safe="") for k, v in parts.items()})


def _rows(body: Any, key: str, provider: str) -> list[Any]:
    rows = body.get(key) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise MalformedResponseError(f"expected an object with {key}[]", provider=provider)
    return rows


def _error_text(response: Response) -> tuple[str | None, str | None]:
    """The vendor's message (None: it gave none) and code from either error shape; never the whole body."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    text, code = None, None
    if isinstance(body, dict):
        exception = body.get("requestError", {}).get("serviceException") if isinstance(body.get("requestError"), dict) else None
        if isinstance(exception, dict):
            text, code = exception.get("text"), exception.get("messageId")
        else:
            text = body.get("message")
    if not isinstance(text, str) or not text:
        return None, None if code is None else str(code)
    return cut(text, VENDOR_TEXT_LIMIT), None if code is None else str(code)


# ---- query parameters and keyset paging ---------------------------------------------------------


def wire_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Times as `yyyy-MM-dd'T'HH:mm:ss.SSS+0000`, widened to whole milliseconds outwards (`…After`
    down, `…Before` up) so the vendor's exclusive millisecond bounds keep what was asked for; lists
    stay lists (httpx sends repeated keys)."""
    wire: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, datetime):
            value = format_time(ceil_ms(value) if name.endswith("Before") else floor_ms(value))
        wire[name] = value
    return wire


def format_time(moment: datetime) -> str:
    utc = floor_ms(moment).astimezone(UTC)  # four-digit years: strftime's %Y writes year 1 as "1"
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def to_ms(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def floor_ms(moment: datetime) -> datetime:
    return from_ms(to_ms(moment))


def ceil_ms(moment: datetime) -> datetime:
    floored = floor_ms(moment)
    return floored if floored == moment else floored + MILLISECOND


Snapshot = tuple[int | None, list[str] | None, int]  # a Keyset's (at, passed, how many of passed)
Keyed = tuple[dict[str, Any], datetime, int]  # a listed row, its sort time, and that time in epoch ms


@dataclass(slots=True)
class Keyset:
    """A position in a list sorted by a time field: the last key read (epoch ms) and the ids read at it.

    The next window is narrowed with the field's exclusive bound widened by 1 ms (so rows sharing the
    last key come back) and rows already passed are skipped. Rows that arrive or change meanwhile
    sort outside the window instead of shifting it, so nothing older repeats or is skipped.
    """

    field: str  # "createdAt" | "updatedAt"
    descending: bool
    at: int | None = None
    passed: list[str] | None = None

    @classmethod
    def restore(cls, field: str, descending: bool, state: Mapping[str, Any]) -> Keyset:
        at, passed = state.get("t"), state.get("ids")
        if at is not None and (not isinstance(at, int) or isinstance(at, bool)):
            raise ValueError("t")
        if at is not None and not MIN_MS <= at <= MAX_MS:
            raise ValueError("t")
        if not isinstance(passed, list) or not all(isinstance(i, str) for i in passed) or (at is None) != (not passed):
            raise ValueError("ids")
        return cls(field, descending, at, list(passed))

    def state(self) -> dict[str, Any]:
        return state_of(self.snapshot())

    def snapshot(self) -> Snapshot:
        """This position, kept for `state_of` later at the cost of a tuple: `passed` is only ever
        appended to (`advance` starts a new list when the key moves), so its first `n` ids stay put."""
        return self.at, self.passed, len(self.passed) if self.passed is not None else 0

    def window(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` with this position's bound, or the caller's own bound where that is narrower."""
        if self.at is None:
            return dict(params)
        prefix = self.field.removesuffix("At")
        name = f"{prefix}Before" if self.descending else f"{prefix}After"
        bound = from_ms(min(max(self.at + 1 if self.descending else self.at - 1, MIN_MS), MAX_MS))
        given = params.get(name)
        if given is not None:
            bound = min(bound, given) if self.descending else max(bound, given)
        return {**params, name: bound}

    def moment(self, raw: Mapping[str, Any]) -> datetime:
        moment = parse_datetime(raw.get(self.field))
        if moment is None:
            raise ValueError(f"a row without {self.field}")
        return moment

    def key(self, raw: Mapping[str, Any]) -> int:
        return to_ms(self.moment(raw))

    def behind(self, raw: Mapping[str, Any]) -> bool:
        """Already passed: sorts before the position, or is at it and was read. (A vendor that keeps
        finer than milliseconds puts rows of the previous millisecond into the widened window.)"""
        return self.at is not None and self.behind_at(self.key(raw), raw)

    def behind_at(self, key: int, raw: Mapping[str, Any]) -> bool:
        """`behind` for a row whose key is known."""
        if self.at is None:
            return False
        before = key > self.at if self.descending else key < self.at
        return before or (key == self.at and str(raw.get("id")) in (self.passed or ()))

    def advance(self, raw: Mapping[str, Any]) -> None:
        self.advance_to(self.key(raw), str(raw.get("id")))

    def advance_to(self, key: int, row_id: str) -> None:
        if key == self.at and self.passed is not None:
            self.passed.append(row_id)
        else:
            self.at, self.passed = key, [row_id]


def state_of(snapshot: Snapshot) -> dict[str, Any]:
    """The cursor state of a position `Keyset.snapshot` kept."""
    at, passed, count = snapshot
    return {"t": at, "ids": passed[:count] if passed is not None else []}


async def scan(
    fetch: Callable[[dict[str, Any]], Awaitable[list[Any]]],
    position: Keyset,
    params: dict[str, Any],
    *,
    provider: str,
    need: Callable[[], int],
    batch: Callable[[], int],
    consume: Callable[[list[Keyed]], Awaitable[int]],
) -> bool:
    """Reads the window after `position`, at most MAX_SCAN_ROUNDS vendor pages, handing the rows not
    yet passed to `consume` (which passes some, advancing `position`, and returns how many), each
    with its sort time read once. `need` is how many items the page still lacks, `batch` how many
    rows to ask for beyond the passed ones. True when more may follow the page."""
    page = 0
    for _ in range(MAX_SCAN_ROUNDS):
        slack = BEHIND_SLACK if position.at is not None else 0
        limit = min(MAX_LIMIT, len(position.passed or ()) + slack + batch() + 1)
        rows = await fetch({**position.window(params), "limit": limit, "page": page})
        keyed = _keyed(rows, position, provider)
        fresh = keyed if position.at is None else [k for k in keyed if not position.behind_at(k[2], k[0])]
        if await consume(fresh) < len(fresh):
            return True  # the page is full and rows are left
        if len(rows) < limit:
            return False
        if need() == 0:
            return True
        page = 0 if fresh else page + 1  # a window of passed rows only: read on in the same window
    return True  # the bound: a shorter page that resumes where it stopped


def _keyed(rows: list[Any], position: Keyset, provider: str) -> list[Keyed]:
    field = position.field  # `Keyset.moment` and `to_ms` in line: parse_datetime's times are aware
    keyed: list[Keyed] = []
    for row in rows:
        if not isinstance(row, dict) or row.get("id") is None:
            raise MalformedResponseError("a list row without an id", provider=provider)
        moment = parse_datetime(row.get(field))
        if moment is None:
            raise MalformedResponseError(f"list: a row without {field}", provider=provider)
        keyed.append((row, moment, (moment - EPOCH) // MILLISECOND))
    return keyed
