"""`load_settings`: environment and parley.toml into typed settings; every bad setting is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.pollers import DEFAULT_POLL_INTERVAL
from gateway.settings import (
    DEFAULT_DEMO_CONVERSATIONS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_UPSTREAM_TIMEOUT,
    ProviderSettings,
    Settings,
    SettingsError,
    load_settings,
)

SB_PROVIDER = """
[providers.support-sb]
vendor = "socialboards"
base_url = "https://sb.example.test/api"
client_id = "fake-client-id"
refresh_token_env = "SB_REFRESH_TOKEN"
"""


@pytest.fixture(autouse=True)
def no_parley_toml_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_settings` reads ./parley.toml when present; run each test where there is none."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "parley.toml"
    path.write_text(text)
    return {"PARLEY_CONFIG": str(path)}


# -- defaults and good settings --------------------------------------------------------------------


def test_empty_env_without_config_file_is_embedded_with_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.embedded is True
    assert settings.providers == ()
    assert (settings.host, settings.port, settings.graphiql_on, settings.introspection_on) == (DEFAULT_HOST, DEFAULT_PORT, True, True)
    assert settings.demo_conversations == DEFAULT_DEMO_CONVERSATIONS
    assert settings.upstream_timeout == DEFAULT_UPSTREAM_TIMEOUT


def test_socialboards_provider_from_toml_resolves_env_options(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER + 'webhook_secret_env = "SB_HOOK_SECRET"\ntoken_url = "https://sb.example.test/token"\n')
    env |= {"SB_REFRESH_TOKEN": "fake-refresh-token", "SB_HOOK_SECRET": "fake-hook-secret"}
    settings = load_settings(env)
    assert settings.embedded is False
    assert settings.providers == (
        ProviderSettings(
            name="support-sb",
            vendor="socialboards",
            base_url="https://sb.example.test/api/",
            options={
                "client_id": "fake-client-id",
                "refresh_token": "fake-refresh-token",
                "token_url": "https://sb.example.test/token",
            },
            webhook_secret="fake-hook-secret",
        ),
    )


def test_a_provider_without_webhook_secret_has_none(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, SB_PROVIDER) | {"SB_REFRESH_TOKEN": "fake-refresh-token"})
    assert settings.providers[0].webhook_secret is None
    assert "webhook_secret" not in settings.providers[0].options


def test_parley_toml_in_the_working_directory_is_read_without_parley_config() -> None:
    Path("parley.toml").write_text("[server]\nport = 9001\n")
    assert load_settings({}).port == 9001


def test_server_and_embedded_tables_are_read_and_env_overrides_them(tmp_path: Path) -> None:
    text = """
[server]
host = "0.0.0.0"
allow_anonymous = true
port = 9000
graphiql = false
upstream_timeout = 2.5

[embedded]
demo_conversations = 5
"""
    from_file = load_settings(config(tmp_path, text))
    assert (from_file.host, from_file.port, from_file.graphiql) == ("0.0.0.0", 9000, False)
    assert (from_file.upstream_timeout, from_file.demo_conversations) == (2.5, 5)

    env = config(tmp_path, text) | {
        "PARLEY_HOST": "127.0.0.2",
        "PARLEY_PORT": "9100",
        "PARLEY_GRAPHIQL": "yes",
        "PARLEY_UPSTREAM_TIMEOUT": "0.5",
        "PARLEY_DEMO_CONVERSATIONS": "0",
    }
    overridden = load_settings(env)
    assert (overridden.host, overridden.port, overridden.graphiql) == ("127.0.0.2", 9100, True)
    assert (overridden.upstream_timeout, overridden.demo_conversations) == (0.5, 0)


@pytest.mark.parametrize(("text", "expected"), [("1", True), ("on", True), ("FALSE", False), ("off", False)])
def test_graphiql_accepts_the_usual_boolean_spellings(text: str, expected: bool) -> None:
    assert load_settings({"PARLEY_GRAPHIQL": text}).graphiql is expected


def test_one_socialboards_account_from_env_alone() -> None:
    env = {
        "PARLEY_SOCIALBOARDS_BASE_URL": "http://localhost:8100",
        "PARLEY_SOCIALBOARDS_CLIENT_ID": "fake-client-id",
        "PARLEY_SOCIALBOARDS_REFRESH_TOKEN": "fake-refresh-token",
        "PARLEY_SOCIALBOARDS_WEBHOOK_SECRET": "fake-hook-secret",
    }
    (provider,) = load_settings(env).providers
    assert provider == ProviderSettings(
        "socialboards",
        "socialboards",
        "http://localhost:8100/",
        {"client_id": "fake-client-id", "refresh_token": "fake-refresh-token"},
        "fake-hook-secret",
    )


# -- bad settings ----------------------------------------------------------------------------------


def test_unknown_vendor_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, '[providers.acme]\nvendor = "zendesk"\nbase_url = "https://acme.example.test"\n')
    with pytest.raises(SettingsError, match=r"providers\.acme\.vendor: expected one of socialboards, infobip, clevertap, got 'zendesk'"):
        load_settings(env)


def test_missing_vendor_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, '[providers.acme]\nbase_url = "https://acme.example.test"\n')
    with pytest.raises(SettingsError, match=r"providers\.acme\.vendor: .* got None"):
        load_settings(env)


def test_missing_client_id_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER.replace('client_id = "fake-client-id"\n', "")) | {"SB_REFRESH_TOKEN": "x"}
    with pytest.raises(SettingsError, match=r"providers\.support-sb: missing client_id \(or client_id_env"):
        load_settings(env)


def test_env_option_naming_an_unset_variable_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER)
    with pytest.raises(
        SettingsError, match=r"providers\.support-sb\.refresh_token_env: environment variable SB_REFRESH_TOKEN is not set"
    ):
        load_settings(env)


def test_env_option_naming_an_empty_variable_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER) | {"SB_REFRESH_TOKEN": ""}
    with pytest.raises(SettingsError, match=r"refresh_token_env: environment variable SB_REFRESH_TOKEN is not set"):
        load_settings(env)


def test_env_option_that_is_not_a_variable_name_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER.replace('"SB_REFRESH_TOKEN"', "42"))
    with pytest.raises(SettingsError, match=r"refresh_token_env: expected the name of an environment variable"):
        load_settings(env)


@pytest.mark.parametrize("url", ["ftp://sb.example.test", "sb.example.test", "https://", ""])
def test_bad_base_url_is_named(tmp_path: Path, url: str) -> None:
    env = config(tmp_path, SB_PROVIDER.replace("https://sb.example.test/api", url)) | {"SB_REFRESH_TOKEN": "x"}
    with pytest.raises(SettingsError, match=r"providers\.support-sb\.base_url: expected an http\(s\) URL"):
        load_settings(env)


def test_unknown_vendor_option_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER + 'region = "eu"\n') | {"SB_REFRESH_TOKEN": "x"}
    with pytest.raises(SettingsError, match=r"providers\.support-sb: unknown option\(s\) region for vendor socialboards"):
        load_settings(env)


@pytest.mark.parametrize("name", ["Support", "-sb", "s b", "x" * 64])
def test_bad_provider_name_is_named(tmp_path: Path, name: str) -> None:
    env = config(tmp_path, SB_PROVIDER.replace("[providers.support-sb]", f'[providers."{name}"]'))
    with pytest.raises(SettingsError, match=rf"providers\.{name}: provider names are lowercase"):
        load_settings(env | {"SB_REFRESH_TOKEN": "x"})


def test_provider_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    env = config(tmp_path, 'providers = { acme = "socialboards" }\n')
    with pytest.raises(SettingsError, match=r"providers\.acme: expected a table"):
        load_settings(env)


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("eighty", "expected a whole number, got 'eighty'"),
        ("80.5", "expected a whole number"),
        ("-1", "must not be negative"),
        ("65536", "expected a port number up to 65535, got 65536"),
    ],
)
def test_bad_parley_port_is_named(port: str, message: str) -> None:
    with pytest.raises(SettingsError, match=rf"PARLEY_PORT / server\.port: {message}"):
        load_settings({"PARLEY_PORT": port})


def test_bad_port_in_toml_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"server\.port: expected a whole number, got 'http'"):
        load_settings(config(tmp_path, '[server]\nport = "http"\n'))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PARLEY_GRAPHIQL": "maybe"}, r"PARLEY_GRAPHIQL / server\.graphiql: expected true or false, got 'maybe'"),
        ({"PARLEY_UPSTREAM_TIMEOUT": "0"}, r"PARLEY_UPSTREAM_TIMEOUT / server\.upstream_timeout: must be more than 0"),
        ({"PARLEY_UPSTREAM_TIMEOUT": "soon"}, r"PARLEY_UPSTREAM_TIMEOUT .*expected seconds, got 'soon'"),
        ({"PARLEY_DEMO_CONVERSATIONS": "-3"}, r"PARLEY_DEMO_CONVERSATIONS .*must not be negative"),
    ],
)
def test_other_bad_server_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_parley_config_pointing_to_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "parley.toml"
    with pytest.raises(SettingsError, match=r"PARLEY_CONFIG: no such file '.*nope/parley\.toml'"):
        load_settings({"PARLEY_CONFIG": str(missing)})


def test_parley_config_pointing_to_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"{tmp_path}: cannot read the configuration")):
        load_settings({"PARLEY_CONFIG": str(tmp_path)})


def test_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "parley.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    with pytest.raises(SettingsError, match=r"parley\.toml: cannot read the configuration .*utf-8"):
        load_settings({"PARLEY_CONFIG": str(path)})


def test_invalid_toml_is_named_with_its_path(tmp_path: Path) -> None:
    env = config(tmp_path, "[server\nport = 1\n")
    with pytest.raises(SettingsError, match=r"parley\.toml: not valid TOML"):
        load_settings(env)


def test_table_that_should_be_a_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^server: expected a table"):
        load_settings(config(tmp_path, 'server = "localhost"\n'))


def test_duplicate_provider_names_are_refused(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER.replace("support-sb", "socialboards")) | {
        "SB_REFRESH_TOKEN": "x",
        "PARLEY_SOCIALBOARDS_BASE_URL": "https://sb.example.test",
        "PARLEY_SOCIALBOARDS_CLIENT_ID": "fake-client-id",
        "PARLEY_SOCIALBOARDS_REFRESH_TOKEN": "fake-refresh-token",
    }
    with pytest.raises(SettingsError, match=r"providers: duplicate provider names in \['socialboards', 'socialboards'\]"):
        load_settings(env)


def test_socialboards_base_url_env_without_client_id_is_named() -> None:
    env = {"PARLEY_SOCIALBOARDS_BASE_URL": "https://sb.example.test", "PARLEY_SOCIALBOARDS_REFRESH_TOKEN": "x"}
    with pytest.raises(
        SettingsError,
        match=r"PARLEY_SOCIALBOARDS_CLIENT_ID: required when PARLEY_SOCIALBOARDS_BASE_URL is set",
    ):
        load_settings(env)


def test_socialboards_base_url_env_without_refresh_token_is_named() -> None:
    env = {"PARLEY_SOCIALBOARDS_BASE_URL": "https://sb.example.test", "PARLEY_SOCIALBOARDS_CLIENT_ID": "x"}
    with pytest.raises(SettingsError, match=r"PARLEY_SOCIALBOARDS_REFRESH_TOKEN: required"):
        load_settings(env)


def test_bad_socialboards_base_url_env_is_named() -> None:
    env = {
        "PARLEY_SOCIALBOARDS_BASE_URL": "sb.example.test",
        "PARLEY_SOCIALBOARDS_CLIENT_ID": "x",
        "PARLEY_SOCIALBOARDS_REFRESH_TOKEN": "y",
    }
    with pytest.raises(SettingsError, match=r"PARLEY_SOCIALBOARDS_BASE_URL: expected an http\(s\) URL"):
        load_settings(env)


def test_error_messages_do_not_contain_credentials(tmp_path: Path) -> None:
    env = config(tmp_path, SB_PROVIDER + 'region = "eu"\n') | {"SB_REFRESH_TOKEN": "fake-secret-value"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert "fake-secret-value" not in str(caught.value)


INFOBIP_AND_CLEVERTAP = """
[providers.acme-ib]
vendor = "infobip"
base_url = "https://xyz.api.infobip.test"
api_key_env = "IB_KEY"
create_missing_tags = false
senders = { WHATSAPP = "447860099299" }

[providers.acme-ct]
vendor = "clevertap"
base_url = "https://eu1.api.clevertap.test"
account_id = "948-4KK-444Z"
passcode_env = "CT_PASSCODE"
max_concurrency = 10
"""


def test_infobip_and_clevertap_options_from_the_file(tmp_path: Path) -> None:
    env = config(tmp_path, INFOBIP_AND_CLEVERTAP) | {"IB_KEY": "fake-key", "CT_PASSCODE": "fake-pass"}
    by_name = {p.name: p for p in load_settings(env).providers}
    assert by_name["acme-ib"].options == {
        "api_key": "fake-key",
        "create_missing_tags": False,
        "senders": {"WHATSAPP": "447860099299"},
    }
    assert by_name["acme-ct"].options == {"account_id": "948-4KK-444Z", "passcode": "fake-pass", "max_concurrency": 10}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("create_missing_tags = \"no\"", r"providers\.acme-ib\.create_missing_tags: expected true or false, got str"),
        ("senders = \"447860099299\"", r"providers\.acme-ib\.senders: expected a table, got str"),
        ("senders = { SMS = 4478 }", r"providers\.acme-ib\.senders: expected a table of names to non-empty strings"),
    ],
)
def test_wrongly_typed_vendor_options_are_named(tmp_path: Path, line: str, message: str) -> None:
    text = '[providers.acme-ib]\nvendor = "infobip"\nbase_url = "https://ib.example.test"\napi_key = "k"\n' + line + "\n"
    with pytest.raises(SettingsError, match=message):
        load_settings(config(tmp_path, text))


def test_max_concurrency_must_be_positive(tmp_path: Path) -> None:
    text = INFOBIP_AND_CLEVERTAP.replace("max_concurrency = 10", "max_concurrency = 0")
    with pytest.raises(SettingsError, match=r"providers\.acme-ct\.max_concurrency: must be at least 1"):
        load_settings(config(tmp_path, text) | {"IB_KEY": "k", "CT_PASSCODE": "p"})


def test_each_vendor_can_be_configured_from_the_environment_alone() -> None:
    env = {
        "PARLEY_INFOBIP_BASE_URL": "https://xyz.api.infobip.test",
        "PARLEY_INFOBIP_API_KEY": "fake-key",
        "PARLEY_INFOBIP_SENDERS": "WHATSAPP=447860099299, SMS=InfoSMS",
        "PARLEY_INFOBIP_CREATE_MISSING_TAGS": "off",
        "PARLEY_CLEVERTAP_BASE_URL": "https://eu1.api.clevertap.test",
        "PARLEY_CLEVERTAP_ACCOUNT_ID": "948-4KK-444Z",
        "PARLEY_CLEVERTAP_PASSCODE": "fake-pass",
        "PARLEY_CLEVERTAP_MAX_CONCURRENCY": "5",
        "PARLEY_CLEVERTAP_WEBHOOK_SECRET": "fake-hook",
    }
    by_name = {p.name: p for p in load_settings(env).providers}
    assert by_name["infobip"] == ProviderSettings(
        "infobip", "infobip", "https://xyz.api.infobip.test/",
        {"api_key": "fake-key", "senders": {"WHATSAPP": "447860099299", "SMS": "InfoSMS"}, "create_missing_tags": False},
        poll_interval=DEFAULT_POLL_INTERVAL,  # no webhooks: polled
    )
    assert by_name["clevertap"].options == {"account_id": "948-4KK-444Z", "passcode": "fake-pass", "max_concurrency": 5}
    assert by_name["clevertap"].webhook_secret == "fake-hook" and by_name["clevertap"].poll_interval is None


def test_bad_senders_in_the_environment_are_named() -> None:
    env = {"PARLEY_INFOBIP_BASE_URL": "https://x.test", "PARLEY_INFOBIP_API_KEY": "k", "PARLEY_INFOBIP_SENDERS": "WHATSAPP"}
    with pytest.raises(SettingsError, match=r"PARLEY_INFOBIP_SENDERS: expected KEY=value pairs"):
        load_settings(env)


def test_a_missing_clevertap_passcode_in_the_environment_is_named() -> None:
    env = {"PARLEY_CLEVERTAP_BASE_URL": "https://x.test", "PARLEY_CLEVERTAP_ACCOUNT_ID": "a"}
    with pytest.raises(SettingsError, match=r"PARLEY_CLEVERTAP_PASSCODE: required when PARLEY_CLEVERTAP_BASE_URL is set"):
        load_settings(env)


def test_the_shared_event_bus_is_off_by_default_and_a_redis_url_from_toml_or_env() -> None:
    assert load_settings({}).bus_url is None
    assert load_settings({"PARLEY_BUS_URL": "redis://127.0.0.1:6379/0"}).bus_url == "redis://127.0.0.1:6379/0"


def test_the_bus_url_in_the_server_table_is_read_and_the_environment_overrides_it(tmp_path: Path) -> None:
    env = config(tmp_path, '[server]\nbus_url = "rediss://cache.internal:6380/1"\n')
    assert load_settings(env).bus_url == "rediss://cache.internal:6380/1"
    assert load_settings({**env, "PARLEY_BUS_URL": "unix:///run/redis.sock"}).bus_url == "unix:///run/redis.sock"


@pytest.mark.parametrize("value", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memory"])
def test_a_bus_url_that_is_not_redis_is_named(value: str) -> None:
    with pytest.raises(SettingsError, match=re.escape("PARLEY_BUS_URL / server.bus_url: expected a Redis URL")):
        load_settings({"PARLEY_BUS_URL": value})
