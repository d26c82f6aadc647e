"""The keys a JWT client's tokens are verified with, each with the algorithms it may verify.

The algorithms follow from the key, never from a token: an HMAC secret verifies HS256 (and HS384,
HS512 when it is long enough for them), an RSA public key RS*/PS*, an EC key the ES* of its curve, an
Ed25519/Ed448 key EdDSA. So `alg: none` and a token signed with HS256 using the public key as the
secret (algorithm confusion) are refused by PyJWT before any signature is computed. Keys too weak for
their algorithm (RFC 7518 §3.2, NIST SP 800-131A) are refused when the settings are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .setting_values import SettingsError

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # algorithm -> minimum secret bytes
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
MIN_RSA_BITS = 2048
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True)
class VerificationKey:
    key: Any  # what jwt.decode takes: bytes, a cryptography public key, or a PyJWK
    algorithms: tuple[str, ...]
    kid: str | None = None  # a JWKS key's id


def secret_key(where: str, secret: str) -> VerificationKey:
    raw = secret.encode()
    algorithms = tuple(name for name, least in HMAC_ALGORITHMS.items() if len(raw) >= least)
    if not algorithms:
        raise SettingsError(f"{where}: an HS256 secret needs at least {HMAC_ALGORITHMS['HS256']} bytes, got {len(raw)}")
    return VerificationKey(raw, algorithms)


def public_key(where: str, pem: str) -> VerificationKey:
    """A PEM public key (or the key of a PEM certificate)."""
    data = pem.encode()
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SettingsError(f"{where}: not a PEM public key or certificate") from None
    return VerificationKey(key, _algorithms_for(where, key))


def key_set(where: str, jwks: Any) -> tuple[VerificationKey, ...]:
    """The signature keys of a JSON Web Key Set (keys marked `"use": "enc"` are left out)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise SettingsError(f"{where}: expected a JSON Web Key Set with a non-empty \"keys\" list")
    found: list[VerificationKey] = []
    for index, entry in enumerate(keys):
        if not isinstance(entry, dict):
            raise SettingsError(f"{where}: keys[{index}] is not a JSON object")
        if entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise SettingsError(f"{where}: keys[{index}] is not a usable key ({exc.__class__.__name__})") from None
        weak = jwk.Algorithm.check_key_length(jwk.key)
        if weak:
            raise SettingsError(f"{where}: keys[{index}] is too weak for {jwk.algorithm_name}")
        if not isinstance(jwk.key, bytes) and hasattr(jwk.key, "private_bytes"):
            raise SettingsError(f"{where}: keys[{index}] is a private key; a key set for verifying holds public keys")
        found.append(VerificationKey(jwk, (jwk.algorithm_name,), entry.get("kid")))
    if not found:
        raise SettingsError(f"{where}: no signature key in the set")
    return tuple(found)


def _algorithms_for(where: str, key: Any) -> tuple[str, ...]:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(f"{where}: an RSA key needs at least {MIN_RSA_BITS} bits, got {key.key_size}")
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = EC_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise SettingsError(f"{where}: EC curve {key.curve.name} is not one of P-256, P-384, P-521")
        return (algorithm,)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ("EdDSA",)
    raise SettingsError(f"{where}: expected an RSA, EC or Ed25519 public key, got {type(key).__name__}")
