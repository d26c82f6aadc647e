"""JWT verification for `auth.Authenticator`, imported only when a client is configured with a JWT
secret, public key or key set: PyJWT and cryptography cost every process about 9 MiB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.types import Options

from .principal import AuthenticationError, Principal, granted_scopes
from .client_settings import ClientSettings
from .jwt_keys import VerificationKey, key_set, public_key, secret_key

# Why a JWT was refused, most telling first: a claim error means the signature verified, so it
# describes the token better than another client's key failing on it; a signature that did not verify
# with a key of the token's kind better than keys of another kind.
REFUSALS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat is in the future)"),
    (jwt.InvalidAudienceError, "the token's audience (aud) is not accepted"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not accepted"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidIssuedAtError, "the token's iat claim is not a number"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token's algorithm (alg) is not accepted"),
    (jwt.InvalidKeyError, "the token's algorithm (alg) is not accepted"),
    (jwt.PyJWTError, "the token is malformed"),
]


@dataclass(frozen=True)
class _JwtClient:
    settings: ClientSettings
    keys: tuple[VerificationKey, ...]

    def keys_for(self, kid: Any) -> list[VerificationKey]:
        """A key set's key named by the token's `kid` (every key of the set when the token names none)."""
        if self.settings.jwks is None or kid is None:
            return list(self.keys)
        return [key for key in self.keys if key.kid == kid]


def _jwt_client(client: ClientSettings) -> _JwtClient:
    where = f"clients.{client.name}"
    if client.jwt_secret is not None:
        keys: tuple[VerificationKey, ...] = (secret_key(f"{where}.jwt_secret_env", client.jwt_secret),)
    elif client.jwt_public_key is not None:
        keys = (public_key(f"{where}.jwt_public_key_file", client.jwt_public_key),)
    else:
        keys = key_set(f"{where}.jwks_file", client.jwks)
    return _JwtClient(client, keys)


class JwtVerifier:
    """The clients that sign in with a JWT, and the check of a token against them."""

    def __init__(self, clients: Sequence[ClientSettings]) -> None:
        self.clients = [_jwt_client(c) for c in clients]

    def principal(self, token: str, header: dict[str, Any], claims: dict[str, Any]) -> Principal:
        issuer = claims.get("iss")
        candidates = [c for c in self.clients if c.settings.issuer in (None, issuer)] or self.clients
        errors: list[jwt.PyJWTError] = []
        for candidate in candidates:
            client = candidate.settings
            options: Options = {"require": ["exp"], "verify_aud": client.audience is not None, "enforce_minimum_key_length": True}
            for key in candidate.keys_for(header.get("kid")):
                if header.get("alg") not in key.algorithms:  # PyJWT would refuse it too, at many times the cost
                    errors.append(jwt.InvalidAlgorithmError(header.get("alg")))
                    continue
                try:
                    verified = jwt.decode(
                        token, key.key, algorithms=list(key.algorithms), audience=client.audience, issuer=client.issuer,
                        leeway=client.leeway_seconds, options=options,
                    )
                except jwt.PyJWTError as exc:
                    errors.append(exc)
                    continue
                return Principal(client=client.name, scopes=granted_scopes(client.scopes, verified), providers=client.providers)
        if not errors:
            raise AuthenticationError("invalid token: its key id (kid) names no configured key")
        raise AuthenticationError(f"invalid token: {_refusal(errors)}")


def _refusal(errors: list[jwt.PyJWTError]) -> str:
    for kind, reason in REFUSALS:
        for error in errors:
            if isinstance(error, kind):
                if isinstance(error, jwt.MissingRequiredClaimError):
                    return f"the token lacks the required {error.claim} claim"
                return reason
    return "the token is not accepted"
