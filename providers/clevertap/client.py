"""HTTP for the CleverTap-style Conversations API.

CleverTap publishes no conversations API; the endpoints are the project's own design in CleverTap's
conventions (docs/clevertap-api.md). The conventions come from:
- developer.clevertap.com/docs/authentication, /docs/common-api-components (region host, `/1/...json`
  paths, `X-CleverTap-Account-Id` / `X-CleverTap-Passcode` headers, JSON bodies)
- developer.clevertap.com/docs/api-errors (status codes; `status: fail` bodies; per-record
  `unprocessed` entries)
- developer.clevertap.com/docs/get-events-api (the two-step cursor: a POST answers `cursor`, GETs
  answer `records` and `next_cursor`)
- developer.clevertap.com/docs/api-rate-limit (15 concurrent requests per account, else 429 with no
  Retry-After)

Every request of one client shares one semaphore, so it never has more than `max_concurrency` in
flight. A 429 is retried by `_http.send` (jittered back-off of about 0.1 s, then 0.2 s; no Retry-After
needed) while the request keeps its slot, so a saturated account is not sent more work meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


from .._http import decode_json, error_for_status, retry_after_seconds, send
from .._wire import Client, Response, transport
from ..echo import VENDOR_TEXT_LIMIT, cut, echo
from ..errors import (
    ConflictError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    ProviderError,
    ProviderUnavailableError,
)

LISTING_PATH = "1/conversations.json"
CONVERSATION_PATH = "1/conversation.json"
MESSAGES_PATH = "1/conversation/messages.json"
CLAIM_PATH = "1/conversation/claim.json"
REPLY_PATH = "1/conversation/reply.json"
TICKET_STATUS_PATH = "1/conversation/ticket_status.json"
MAX_BATCH_SIZE = 5000
DEFAULT_MAX_CONCURRENCY = 15
ACCOUNT_HEADER = "X-CleverTap-Account-Id"
PASSCODE_HEADER = "X-CleverTap-Passcode"
HTTP_LIKE_CODES = frozenset({400, 401, 403, 404, 405, 409, 422, 429, 500, 502, 503, 504})
SERVER_RECORD_CODE = 555  # "miscellaneous server error" on a record
HEALTH_PROBE_ID = "cv_00000000000000000000000000"  # well-formed, never issued: a 404 proves the credentials


class CleverTapClient:
    """Authenticated calls; returns the record, cursor or batch of the decoded success body, or raises
    a `ProviderError`."""

    def __init__(
        self,
        http: Client,
        *,
        provider: str,
        account_id: str,
        passcode: str,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._http = transport(http)
        self._provider = provider
        self._headers = {ACCOUNT_HEADER: account_id, PASSCODE_HEADER: passcode, "Content-Type": "application/json"}
        self._slots = asyncio.Semaphore(max_concurrency)

    async def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None, idempotent: bool = True
    ) -> dict[str, Any]:
        request = self._http.build_request(method, path, params=params, json=json, headers=self._headers)
        async with self._slots:
            response = await send(self._http, request, provider=self._provider, idempotent=idempotent, operation=f"{method} {path}")
            try:
                return self._unwrap(response)
            finally:
                await response.aclose()

    def _unwrap(self, response: Response) -> dict[str, Any]:
        status = response.status_code
        try:
            body = decode_json(response, provider=self._provider) if response.content else None
        except MalformedResponseError:
            if status < 400:
                raise
            body = None  # an error page from a proxy: the status alone says what happened
        if status >= 400:
            raise self._failure(status, body, response)
        if not isinstance(body, dict):
            raise MalformedResponseError(f"HTTP {status} without a JSON object body", provider=self._provider, status_code=status)
        if body.get("status") == "fail":  # a failure the vendor answered with HTTP 2xx
            message, _ = _fail_text(body, status)
            raise self._coded_failure(_int_code(body.get("code")), message)
        unprocessed = body.get("unprocessed")
        if isinstance(unprocessed, list) and unprocessed:
            entry = unprocessed[0] if isinstance(unprocessed[0], Mapping) else {}
            code = _int_code(entry.get("code"))
            reason = entry.get("error")
            raise self._coded_failure(code, cut(str(reason), VENDOR_TEXT_LIMIT) if reason else None, "CleverTap did not process the record")
        if body.get("status") not in ("success", "partial"):
            raise MalformedResponseError(f"HTTP {status} without `status: success`", provider=self._provider, status_code=status)
        return body

    def _failure(self, status: int, body: Any, response: Response) -> ProviderError:
        message, code = _fail_text(body, status)
        return error_for_status(
            status, message, provider=self._provider, vendor_code=code, retry_after=retry_after_seconds(response)
        )

    def _coded_failure(self, code: int | None, vendor_message: str | None, message: str | None = None) -> ProviderError:
        """A failure inside a 2xx body: HTTP-like codes as their status; CleverTap's record codes
        (509-555) are input errors, except 555, its miscellaneous server error."""
        vendor_code = None if code is None else str(code)
        if code in HTTP_LIKE_CODES:
            return error_for_status(code, vendor_message, provider=self._provider, vendor_code=vendor_code, message=message)
        if code == SERVER_RECORD_CODE:
            words = message or f"the vendor failed (its code {code})"
            return ProviderUnavailableError(words, provider=self._provider, vendor_code=vendor_code, vendor_message=vendor_message)
        words = message or "the vendor refused the request" + (f" (its code {code})" if code is not None else "")
        return InvalidRequestError(words, provider=self._provider, vendor_code=vendor_code, vendor_message=vendor_message)

    # ---- operations -----------------------------------------------------------------------------

    async def probe(self) -> None:
        """A read of an id never issued; raises ProviderError unless the vendor answered about the id
        (which proves the credentials)."""
        try:
            await self.call("GET", CONVERSATION_PATH, params={"id": HEALTH_PROBE_ID})
        except (NotFoundError, InvalidRequestError):
            pass

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        return self._record(await self.call("GET", CONVERSATION_PATH, params={"id": conversation_id}))

    async def start_listing(self, body: dict[str, Any], *, batch_size: int) -> str:
        """Opens a listing; its cursor. A POST that only reads (it opens a snapshot), so it is safe to retry."""
        return self._opened(await self.call("POST", LISTING_PATH, params={"batch_size": batch_size}, json=body))

    async def read_listing(self, cursor: str) -> tuple[list[dict[str, Any]], str | None]:
        """A batch of conversation records, and the cursor of the next batch (None: the last)."""
        return self._batch(await self._read_cursor(LISTING_PATH, cursor))

    async def start_messages(self, conversation_id: str, *, batch_size: int, newest_first: bool) -> str:
        params = {"id": conversation_id, "batch_size": batch_size, "sort_order": "desc" if newest_first else "asc"}
        return self._opened(await self.call("GET", MESSAGES_PATH, params=params))

    async def read_messages(self, cursor: str) -> tuple[list[dict[str, Any]], str | None]:
        return self._batch(await self._read_cursor(MESSAGES_PATH, cursor))

    async def claim(self, body: dict[str, Any], *, agent: str) -> dict[str, Any]:
        return self._record(await self._as_agent(self.call("POST", CLAIM_PATH, json=body), agent=agent, field="agentId"))

    async def reply(self, body: dict[str, Any], *, agent: str) -> dict[str, Any]:
        """The message record of the reply."""
        try:
            answer = await self._as_agent(self.call("POST", REPLY_PATH, json=body, idempotent=False), agent=agent, field="author")
        except InvalidRequestError as exc:
            if exc.status_code != 422:
                raise
            raise InvalidRequestError(
                f"CleverTap accepts replies only within 24 hours of the user's last message, and this conversation "
                "is inactive; it reopens when the user writes again",
                provider=self._provider, status_code=422, vendor_code=exc.vendor_code, vendor_message=exc.vendor_message,
            ) from exc
        return self._record(answer)

    async def set_ticket_status(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._record(await self.call("POST", TICKET_STATUS_PATH, json=body))

    async def _read_cursor(self, path: str, cursor: str) -> dict[str, Any]:
        try:
            return await self.call("GET", path, params={"cursor": cursor})
        except InvalidRequestError as exc:
            if exc.status_code != 400:
                raise
            raise InvalidRequestError(
                f"CleverTap no longer knows this list's cursor (its cursors expire); start again from the first "
                "page",
                provider=self._provider, status_code=400, vendor_code=exc.vendor_code, field="after",
                vendor_message=exc.vendor_message,
            ) from exc

    async def _as_agent(self, call: Any, *, agent: str, field: str) -> dict[str, Any]:
        """403 here is about the agent (no Agent/Admin role, or no such dashboard user), not our
        credentials: an input error naming the agent. 409 is first-agent-wins."""
        try:
            return await call
        except ProviderError as exc:
            if exc.status_code == 403:
                raise InvalidRequestError(
                    f"CleverTap refused agent {echo(agent)}: only dashboard users with the Agent or Admin role may "
                    "take or answer conversations",
                    provider=self._provider, status_code=403, vendor_code=exc.vendor_code, field=field,
                    vendor_message=exc.vendor_message,
                ) from exc
            if isinstance(exc, ConflictError):
                raise ConflictError(
                    "another agent handles this conversation; on CleverTap the first agent to take it keeps it",
                    provider=self._provider, status_code=exc.status_code, vendor_code=exc.vendor_code,
                    vendor_message=exc.vendor_message,
                ) from exc
            raise

    # ---- answer shapes --------------------------------------------------------------------------

    def _record(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("record")
        if not isinstance(raw, dict) or raw.get("id") is None:
            raise MalformedResponseError("the vendor's answer has no `record` object with an id", provider=self._provider)
        return raw

    def _opened(self, body: dict[str, Any]) -> str:
        cursor = body.get("cursor")
        if not isinstance(cursor, str) or not cursor:
            raise self._malformed("cursor answer (no `cursor`)")
        return cursor

    def _batch(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        records, next_cursor = body.get("records"), body.get("next_cursor")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise self._malformed("cursor page (`records` must be a list of objects)")
        if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
            raise self._malformed("cursor page (`next_cursor` must be a string)")
        return records, next_cursor

    def _malformed(self, what: str) -> ProviderError:
        return MalformedResponseError(f"the vendor's {what} is not in the documented shape", provider=self._provider)


def _fail_text(body: Any, status: int) -> tuple[str | None, str | None]:
    """The vendor's text (None: it gave none) and code of a `fail` body."""
    if not isinstance(body, Mapping):
        return None, None
    code, text = body.get("code"), body.get("error")
    return (cut(str(text), VENDOR_TEXT_LIMIT) if text else None), None if code is None else str(code)


def _int_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
