"""`[clients.*]` and the `[server]` exposure and limit settings: read, checked, refused with a message
naming the setting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.client_settings import ClientSettings
from gateway.limit_settings import DEFAULT_MAX_COST, Limits
from gateway.settings import Settings, SettingsError, check_exposure, load_settings


def load(tmp_path: Path, text: str, **env: str) -> Settings:
    path = tmp_path / "parley.toml"
    path.write_text(text)
    return load_settings({"PARLEY_CONFIG": str(path), **env})


def test_an_api_key_client_reads_its_key_from_the_environment(tmp_path: Path) -> None:
    settings = load(tmp_path, '[clients.console]\napi_key_env = "CONSOLE_KEY"\nscopes = ["read", "write"]\n', CONSOLE_KEY="k-123")
    assert settings.clients == (ClientSettings(name="console", scopes=frozenset({"read", "write"}), api_key="k-123"),)
    assert settings.anonymous is False
    assert settings.embedded is True  # clients alone still run the embedded sandboxes


OCT_KEY = {"kty": "oct", "k": "dGhpcnR5LXR3by1ieXRlcy1vZi1obWFjLXNlY3JldCEh"}  # 32 bytes


def ec_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_jwt_clients_read_secrets_keys_and_key_sets(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text(ec_public_pem())
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [OCT_KEY]}))
    document = "{ providers { name } }"
    (tmp_path / "manifest.json").write_text(json.dumps({hashlib.sha256(document.encode()).hexdigest(): document}))
    text = """
[server]
trusted_documents = "manifest.json"
[clients.hs]
jwt_secret_env = "HS_SECRET"
issuer = "https://auth.example.com/"
audience = "parley"
leeway_seconds = 0
scopes = ["read"]
providers = ["infobip"]
[clients.rs]
jwt_public_key_file = "key.pem"
scopes = ["subscribe"]
trusted_documents_only = true
[clients.set]
jwks_file = "keys.json"
scopes = ["migrate"]
"""
    hs, rs, jwks = load(tmp_path, text, HS_SECRET="s3cret" * 6).clients
    assert (hs.jwt_secret, hs.issuer, hs.audience, hs.leeway_seconds, hs.providers) == (
        "s3cret" * 6, "https://auth.example.com/", "parley", 0.0, frozenset({"infobip"}))
    assert rs.jwt_public_key is not None and rs.jwt_public_key.startswith("-----BEGIN PUBLIC KEY") and rs.trusted_documents_only
    assert jwks.jwks == {"keys": [OCT_KEY]} and jwks.uses_jwt


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ('scopes = ["read"]', {}, r"clients\.c: give exactly one of api_key_env, .* \(got none\)"),
        ('api_key_env = "K"\njwt_secret_env = "S"\nscopes = ["read"]', {"K": "k", "S": "s"}, r"give exactly one of .*got api_key_env, jwt_secret_env"),
        ('api_key_env = "K"\nscopes = ["read"]', {}, r"clients\.c\.api_key_env: environment variable K is not set"),
        ('api_key_env = "K"', {"K": "k"}, r"clients\.c\.scopes: required"),
        ('api_key_env = "K"\nscopes = ["read", "admin"]', {"K": "k"}, r"clients\.c\.scopes: unknown scope\(s\) admin"),
        ('api_key_env = "K"\nscopes = ["read"]\nproviders = ["nowhere"]', {"K": "k"}, r"clients\.c\.providers: unknown provider\(s\) nowhere"),
        ('api_key_env = "K"\nscopes = ["read"]\naudience = "x"', {"K": "k"}, r"clients\.c: issuer, audience and leeway_seconds are for JWT"),
        ('jwks_file = "missing.json"\nscopes = ["read"]', {}, r"clients\.c\.jwks_file: cannot read"),
        ('api_key_env = "K"\nscopes = ["read"]\npassword = "x"', {"K": "k"}, r"clients\.c: unknown key\(s\) password"),
    ],
)
def test_a_bad_client_is_refused_naming_the_setting(tmp_path: Path, table: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(tmp_path, f"[clients.c]\n{table}\n", **env)


def test_anonymous_is_refused_on_a_reachable_address_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"server\.host '0\.0\.0\.0' .* server\.allow_anonymous = true"):
        load(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    assert load(tmp_path, '[server]\nhost = "0.0.0.0"\nallow_anonymous = true\n').allow_anonymous
    assert load(tmp_path, '[server]\nhost = "0.0.0.0"\n[clients.c]\napi_key_env = "K"\nscopes = ["read"]\n', K="k").clients
    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"):
        check_exposure(Settings(), host)
    with pytest.raises(SettingsError, match="allow_anonymous"):
        check_exposure(Settings(), "192.0.2.10")


def test_cors_origins_are_checked_and_star_is_only_for_a_gateway_without_clients(tmp_path: Path) -> None:
    settings = load(tmp_path, '[server]\ncors_origins = ["https://console.example.com", "http://127.0.0.1:5173"]\n')
    assert settings.cors_origins == ("https://console.example.com", "http://127.0.0.1:5173")
    assert load(tmp_path, '[server]\ncors_origins = ["*"]\n').cors_origins == ("*",)
    with pytest.raises(SettingsError, match=r"server\.cors_origins: 'https://a\.example/path' is not an origin"):
        load(tmp_path, '[server]\ncors_origins = ["https://a.example/path"]\n')
    with pytest.raises(SettingsError, match=r'server\.cors_origins: "\*" is only for a gateway without clients'):
        load(tmp_path, '[server]\ncors_origins = ["*"]\n[clients.c]\napi_key_env = "K"\nscopes = ["read"]\n', K="k")


def test_limits_have_defaults_and_are_read_from_server_and_environment(tmp_path: Path) -> None:
    assert load(tmp_path, "").limits == Limits() and Limits().max_cost == DEFAULT_MAX_COST
    settings = load(tmp_path, '[server]\nmax_cost = 50\nrate_limit = "10/second;100/minute"\ncost_rate_limit = ""\n',
                    PARLEY_MAX_BODY_BYTES="2048", PARLEY_REQUEST_TIMEOUT="2.5")
    assert (settings.limits.max_cost, settings.limits.max_body_bytes, settings.limits.request_timeout) == (50, 2048, 2.5)
    assert (settings.limits.rate_limit, settings.limits.cost_rate_limit) == ("10/second;100/minute", None)
    with pytest.raises(SettingsError, match=r"PARLEY_MAX_COST / server\.max_cost: must be at least 1"):
        load(tmp_path, "[server]\nmax_cost = 0\n")
    with pytest.raises(SettingsError, match=r"server\.rate_limit: expected a rate like"):
        load(tmp_path, '[server]\nrate_limit = "lots"\n')


def test_graphiql_and_introspection_are_on_only_in_the_embedded_default_unless_set(tmp_path: Path) -> None:
    embedded = load(tmp_path, "")
    assert (embedded.graphiql_on, embedded.introspection_on) == (True, True)
    configured = load(tmp_path, '[providers.ib]\nvendor = "infobip"\nbase_url = "http://127.0.0.1:9/"\napi_key_env = "K"\n', K="k")
    assert (configured.graphiql_on, configured.introspection_on) == (False, False)
    opened = load(tmp_path, "[server]\ngraphiql = true\nintrospection = true\n"
                  '[providers.ib]\nvendor = "infobip"\nbase_url = "http://127.0.0.1:9/"\napi_key_env = "K"\n', K="k")
    assert (opened.graphiql_on, opened.introspection_on) == (True, True)


def test_a_trusted_documents_manifest_is_read_and_each_key_must_be_its_documents_hash(tmp_path: Path) -> None:
    document = "query Inbox { conversations(first: 5) { edges { node { id } } } }"
    digest = hashlib.sha256(document.encode()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps({digest: document}))
    assert load(tmp_path, '[server]\ntrusted_documents = "manifest.json"\n').trusted_documents == {digest: document}
    (tmp_path / "manifest.json").write_text(json.dumps({"0" * 64: document}))
    with pytest.raises(SettingsError, match=r"server\.trusted_documents: the document under 0000000000000000… does not hash"):
        load(tmp_path, '[server]\ntrusted_documents = "manifest.json"\n')
