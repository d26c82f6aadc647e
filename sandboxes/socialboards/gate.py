"""Socialboards' side of the shared sandbox gate (sandboxes/gate.py): bearer-token auth
against tokens from ``POST /token``, and injected faults rendered as the error envelope.

Injected fault bodies: 429 → code 30 (``Retry-After`` when set); other 5xx → code 50; other 4xx →
the code for that status (401 → 10, 404 → 20, 405 → 22, else 1). 502/503/504 and malformed bodies
are ``sandboxes/faults.py``'s.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from .model import ErrorCode, JsonDict, SandboxError, error_response

FAULT_CODE_BY_STATUS: dict[int, ErrorCode] = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.CONVERSATION_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    429: ErrorCode.RATE_LIMITED,
}


class OAuthError(Exception):
    """A refused token request, answered OAuth2 style (RFC 6749 §5.2), outside the envelope."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class TokenStore:
    """Access tokens issued by ``POST /token`` for one client and when each one expires."""

    def __init__(self, client_id: str, refresh_token: str, ttl: timedelta, now: Callable[[], datetime]) -> None:
        self.client_id = client_id
        self.refresh_token = refresh_token
        self.ttl = ttl
        self._now = now
        self._expiry: dict[str, datetime] = {}

    def grant(self, form: Mapping[str, str]) -> JsonDict:
        """The token response for a ``grant_type=refresh_token`` form; every mismatch is ``invalid_grant``."""
        if form.get("grant_type") != "refresh_token":
            raise OAuthError(
                "invalid_grant", f"grant_type {form.get('grant_type')!r} is not supported; use 'refresh_token'"
            )
        if not secrets.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError("invalid_grant", f"client_id {form.get('client_id')!r} is not known")
        if not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            # Never echo a secret back, not even a wrong one.
            raise OAuthError("invalid_grant", "refresh_token is not valid for this client_id")
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._now() + self.ttl
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self.ttl.total_seconds())}

    def check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("missing 'Authorization: Bearer <access token>' header", "invalid_request")
        expiry = self._expiry.get(token.strip())
        if expiry is None:
            raise _unauthorized("access token is not recognised; get one from POST /token", "invalid_token")
        if self._now() >= expiry:
            raise _unauthorized("access token has expired; get a new one from POST /token", "invalid_token")


def _unauthorized(text: str, oauth_error: str) -> SandboxError:
    challenge = f'Bearer error="{oauth_error}", error_description="{text}"'
    return SandboxError(ErrorCode.UNAUTHORIZED, text, headers={"WWW-Authenticate": challenge})


def render_fault(status: int, text: str, headers: dict[str, str]) -> Response:
    default = ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.INVALID_REQUEST
    code = FAULT_CODE_BY_STATUS.get(status, default)
    return error_response(SandboxError(code, text, headers=headers), status=status)


def bearer_auth(tokens: TokenStore) -> Callable[[Request], Awaitable[Response | None]]:
    async def authenticate(request: Request) -> Response | None:
        try:
            tokens.check(request.headers.get("authorization"))
        except SandboxError as error:
            return error_response(error)
        return None

    return authenticate
