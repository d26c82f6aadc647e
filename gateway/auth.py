"""Who is calling: the `Principal` a request acts as, with its scopes and the providers it may touch.

Clients (`Settings.clients`) send `Authorization: Bearer <token>`; the token is a client's API key or
a JWT (`Authenticator`). With no clients configured every request is `ANONYMOUS` (the bind check
refuses that on an address other machines reach).

Scopes: `read` for Query fields, `write` for Mutation fields, `subscribe` for Subscription fields,
`migrate` for migration fields (`NeedsMigrate`, or `require_scope(info, "migrate")`). A JWT's `scope`
claim (space-separated, as RFC 9068) narrows the client's configured scopes to those it names; it
never adds one. A client scoped to some providers sees only those: the request context holds only
them (`visible_providers`), so every other provider answers as one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson
import strawberry
from strawberry.permission import BasePermission, PermissionExtension

from .client_settings import ClientSettings
from .errors import ErrorCode, client_error
from .principal import ANONYMOUS, NOBODY, SCOPES, AuthenticationError, Principal, granted_scopes  # noqa: F401 - where callers import them

if TYPE_CHECKING:
    from .jwt_auth import JwtVerifier

T = TypeVar("T")


def visible_providers(providers: Mapping[str, T], principal: Principal) -> Mapping[str, T]:
    """The providers `principal` may touch (the mapping itself when it may touch all)."""
    if principal.providers is None:
        return providers
    return {name: provider for name, provider in providers.items() if name in principal.providers}


# ---- authentication ------------------------------------------------------------------------------

class Authenticator:
    """Turns an `Authorization` header value into a `Principal`, or raises `AuthenticationError`."""

    def __init__(self, clients: Sequence[ClientSettings]) -> None:
        self.open = not clients
        self._api_keys = [(_digest(c.api_key), c) for c in clients if c.api_key is not None]
        signed = [c for c in clients if c.uses_jwt]
        if signed:  # PyJWT and cryptography (about 9 MiB) are loaded only by a gateway with JWT clients
            from .jwt_auth import JwtVerifier

            self._jwt: JwtVerifier | None = JwtVerifier(signed)
        else:
            self._jwt = None

    def authenticate(self, authorization: str | None) -> Principal:
        if self.open:
            return ANONYMOUS
        token = bearer_token(authorization)
        client = self._api_key_client(token)
        if client is not None:
            return Principal(client=client.name, scopes=client.scopes, providers=client.providers)
        if self._jwt is None:
            raise AuthenticationError("invalid credentials: not a known API key")
        header, claims = _peek(token)
        return self._jwt.principal(token, header, claims)

    def _api_key_client(self, token: str) -> ClientSettings | None:
        """Compares the token's digest with every key's, all of them every time, so how long it takes
        says nothing about which key (or how much of one) matched."""
        digest = _digest(token)
        found = None
        for key, client in self._api_keys:
            if hmac.compare_digest(digest, key) and found is None:
                found = client
        return found

def bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise AuthenticationError("missing credentials: send `Authorization: Bearer <API key or JWT>`", given=False)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("invalid credentials: expected `Authorization: Bearer <API key or JWT>`")
    return token.strip()


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and claims, unverified: only to choose which clients and keys verify it (PyJWT's
    own unverified reads cost ten times as much)."""
    try:
        header, claims = (orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in token.split(".")[:2])
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        header = claims = None
    if token.count(".") != 2 or not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthenticationError("invalid credentials: neither a known API key nor a JWT")
    return header, claims


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


# ---- scopes --------------------------------------------------------------------------------------


class ScopePermission(BasePermission):
    """A field that needs `scope`: without it the field alone answers FORBIDDEN (at its path)."""

    scope: ClassVar[str] = ""
    error_extensions = {"code": ErrorCode.FORBIDDEN.value}

    def has_permission(self, source: Any, info: strawberry.Info[Any, Any], **kwargs: Any) -> bool:
        return self.scope in info.context.principal.scopes


def _needs(scope: str) -> str:
    return f"forbidden: this field needs the `{scope}` scope, which these credentials do not grant"


class NeedsRead(ScopePermission):
    scope = "read"
    message = _needs("read")


class NeedsWrite(ScopePermission):
    scope = "write"
    message = _needs("write")


class NeedsSubscribe(ScopePermission):
    scope = "subscribe"
    message = _needs("subscribe")


class NeedsMigrate(ScopePermission):
    """For migration fields: `@strawberry.field(permission_classes=[NeedsMigrate])`. A root field that
    declares a scope permission of its own does not get its root type's (see `guard_root_fields`)."""

    scope = "migrate"
    message = _needs("migrate")


SCOPE_PERMISSIONS: dict[str, type[ScopePermission]] = {p.scope: p for p in (NeedsRead, NeedsWrite, NeedsSubscribe, NeedsMigrate)}
ROOT_SCOPES = {"Query": "read", "Mutation": "write", "Subscription": "subscribe"}


def require_scope(info: strawberry.Info[Any, Any], scope: str) -> None:
    """For a resolver that needs a scope only on some path (raises FORBIDDEN at its field)."""
    if scope not in info.context.principal.scopes:
        raise client_error(_needs(scope), ErrorCode.FORBIDDEN)


def guard_root_fields(*roots: type) -> None:
    """Gives every field of the root types (Query, Mutation, Subscription) its root's scope, unless the
    field declares a `ScopePermission` of its own. Done where the schema is built, so a field added
    later cannot be forgotten; calling it again changes nothing."""
    for root in roots:
        definition = root.__strawberry_definition__  # type: ignore[attr-defined]
        permission = SCOPE_PERMISSIONS[ROOT_SCOPES[definition.name]]
        for field in definition.fields:
            if any(issubclass(p, ScopePermission) for p in field.permission_classes):
                continue
            field.permission_classes.append(permission)
            field.extensions.append(PermissionExtension([permission()], use_directives=False))
