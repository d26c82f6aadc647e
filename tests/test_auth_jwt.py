"""JWT clients: HS256 secrets, RS256/ES256 public keys and JSON Web Key Sets, each accepted when
good and refused, saying why and reaching no vendor, when the audience, issuer, expiry, key or
algorithm is wrong; the leeway, the `scope` claim, and weak keys refused at start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.client_settings import ClientSettings
from gateway.settings import Settings, SettingsError, load_settings

from .auth_kit import ALL_SCOPES, VENDORS, post, running, upstream

CREATE = """mutation C($provider: String!) { createConversation(input: {provider: $provider, customer: {name: "Auth", externalId: "auth-1"}}) {
  ... on ConversationPayload { conversation { id } } } }"""
NO_REQUESTS = dict.fromkeys(VENDORS, 0)


def now() -> int:
    return int(time.time())


ISSUER, AUDIENCE = "https://auth.example.test/", "parley"
HS_SECRET = "an-hs256-secret-of-at-least-32-bytes!"


def pem(private_key: Any) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "other_rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "other_ec": ec.generate_private_key(ec.SECP256R1()),
    }


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "iat": now(), "exp": now() + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def jwt_client(name: str, **credential: Any) -> ClientSettings:
    return ClientSettings(name=name, scopes=frozenset({"read", "write"}), issuer=ISSUER, audience=AUDIENCE,
                          leeway_seconds=0, **credential)


@pytest.fixture(scope="module")
def jwt_gateway(keys: dict[str, Any]) -> Iterator[TestClient]:
    rsa_jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(keys["other_rsa"].public_key(), as_dict=True), "kid": "k2"}
    ec_jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(keys["other_ec"].public_key(), as_dict=True), "kid": "k1"}
    clients = (
        jwt_client("hs", jwt_secret=HS_SECRET),
        jwt_client("rs", jwt_public_key=pem(keys["rsa"])),
        jwt_client("es", jwt_public_key=pem(keys["ec"])),
        ClientSettings(name="set", scopes=frozenset({"read"}), jwks={"keys": [ec_jwk, rsa_jwk]}, issuer="https://other.example.test/"),
    )
    with running(*clients) as client:
        yield client


def whoami(client: TestClient, token: str) -> Any:
    """The providers query's answer, or the refusal."""
    response = post(client, token, "{ providers { name } }")
    return response.json() if response.status_code == 200 else ("401", response.json()["errors"][0]["message"])


def test_jwts_signed_by_each_kind_of_configured_key_are_accepted(jwt_gateway: TestClient, keys: dict[str, Any]) -> None:
    tokens = [
        jwt.encode(claims(), HS_SECRET, algorithm="HS256"),
        jwt.encode(claims(), keys["rsa"], algorithm="RS256"),
        jwt.encode(claims(), keys["ec"], algorithm="ES256"),
        jwt.encode(claims(iss="https://other.example.test/", aud=None), keys["other_rsa"], algorithm="RS256", headers={"kid": "k2"}),
        jwt.encode(claims(iss="https://other.example.test/", aud=None), keys["other_ec"], algorithm="ES256", headers={"kid": "k1"}),
    ]
    for token in tokens:
        assert len(whoami(jwt_gateway, token)["data"]["providers"]) == 3, jwt.get_unverified_header(token)


def none_token() -> str:
    return jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]


def confused_token(keys: dict[str, Any]) -> str:
    """HS256 with the RSA client's public key as the HMAC secret (PyJWT refuses to sign that itself)."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims()).encode())
    signature = hmac.new(pem(keys["rsa"]).encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(signature)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: jwt.encode(claims(aud="someone-else"), HS_SECRET, algorithm="HS256"), "audience (aud) is not accepted"),
        (lambda k: jwt.encode(claims(exp=now() - 60), HS_SECRET, algorithm="HS256"), "the token has expired"),
        (lambda k: jwt.encode(claims(iss="https://evil.example.test/"), HS_SECRET, algorithm="HS256"), "issuer (iss) is not accepted"),
        (lambda k: jwt.encode(claims(), k["other_rsa"], algorithm="RS256"), "signature does not verify"),
        (lambda k: jwt.encode(claims(), "another-secret-that-is-32-bytes-long", algorithm="HS256"), "signature does not verify"),
        (lambda k: none_token(), "algorithm (alg) is not accepted"),
        (confused_token, "signature does not verify"),
        (lambda k: jwt.encode(claims(exp=None), HS_SECRET, algorithm="HS256"), "lacks the required exp claim"),
        (lambda k: jwt.encode(claims(nbf=now() + 600), k["ec"], algorithm="ES256"), "not valid yet"),
        (lambda k: jwt.encode(claims(iss="https://other.example.test/", aud=None), k["other_rsa"], algorithm="RS256",
                              headers={"kid": "nope"}), "names no configured key"),
        (lambda k: jwt.encode(claims(scope=["read"]), HS_SECRET, algorithm="HS256"), "scope claim must be a space-separated string"),
        (lambda k: "not.a.jwt", "neither a known API key nor a JWT"),
    ],
    ids=["wrong-audience", "expired", "wrong-issuer", "another-rsa-key", "another-secret", "alg-none",
         "hs256-with-the-public-key", "no-exp", "not-before", "unknown-kid", "scope-not-a-string", "garbage"],
)
def test_a_bad_jwt_is_refused_saying_why(jwt_gateway: TestClient, keys: dict[str, Any], make: Any, reason: str) -> None:
    upstream(jwt_gateway)
    status, message = whoami(jwt_gateway, make(keys))
    assert status == "401" and message.startswith("invalid ") and reason in message, message
    assert upstream(jwt_gateway) == NO_REQUESTS


def test_the_leeway_forgives_clock_skew_up_to_its_seconds() -> None:
    skewed = jwt.encode(claims(exp=now() - 10, iat=now() + 10), HS_SECRET, algorithm="HS256")
    for leeway, accepted in ((30.0, True), (0.0, False)):
        client_settings = ClientSettings(name="hs", scopes=ALL_SCOPES, jwt_secret=HS_SECRET, leeway_seconds=leeway)
        with running(client_settings) as client:
            assert (post(client, skewed, "{ __typename }").status_code == 200) is accepted


def test_a_jwt_scope_claim_narrows_the_client_scopes_and_never_widens_them(jwt_gateway: TestClient) -> None:
    token = jwt.encode(claims(scope="read migrate"), HS_SECRET, algorithm="HS256")  # the client has read and write
    assert whoami(jwt_gateway, token)["data"]["providers"]
    body = post(jwt_gateway, token, CREATE, {"provider": "infobip"}).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# ---- keys and settings ---------------------------------------------------------------------------


def test_weak_or_unreadable_client_keys_are_refused_when_the_gateway_is_built(keys: dict[str, Any]) -> None:
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases = [
        (ClientSettings(name="c", scopes=ALL_SCOPES, jwt_secret="short"), r"clients\.c\.jwt_secret_env: an HS256 secret needs at least 32 bytes"),
        (ClientSettings(name="c", scopes=ALL_SCOPES, jwt_public_key="-----BEGIN PUBLIC KEY-----\nMFk=\n-----END PUBLIC KEY-----\n"),
         r"clients\.c\.jwt_public_key_file: not a PEM public key"),
        (ClientSettings(name="c", scopes=ALL_SCOPES, jwt_public_key=pem(small_rsa)), r"an RSA key needs at least 2048 bits, got 1024"),
        (ClientSettings(name="c", scopes=ALL_SCOPES, jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), r"keys\[0\] is too weak for HS256"),
        (ClientSettings(name="c", scopes=ALL_SCOPES, jwks={"keys": [jwt.algorithms.ECAlgorithm.to_jwk(keys["ec"], as_dict=True)]}),
         r"keys\[0\] is a private key"),
    ]
    for client_settings, message in cases:
        with pytest.raises(SettingsError, match=message):
            create_app(Settings(clients=(client_settings,)))


def test_two_clients_with_one_api_key_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "parley.toml"
    path.write_text('[clients.a]\napi_key_env = "K"\nscopes = ["read"]\n[clients.b]\napi_key_env = "K"\nscopes = ["write"]\n')
    with pytest.raises(SettingsError, match=r"clients\.b\.api_key_env: the same API key as clients\.a"):
        load_settings({"PARLEY_CONFIG": str(path), "K": "shared"})
