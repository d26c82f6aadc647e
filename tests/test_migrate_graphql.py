"""The GraphQL face of migrations against the embedded default (the in-process sandboxes of
`parley serve`): start, read, list, cancel, and watch a migration's progress to its final report
over graphql-transport-ws; typed errors for bad requests; the `migrate` scope and provider scoping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import SCOPES, Principal
from gateway.context import Context, make_loaders
from gateway.migration_settings import MigrationSettings
from gateway.schema import schema
from gateway.settings import Settings

START = """mutation S($input: StartMigrationInput!) { startMigration(input: $input) { __typename
  ... on MigrationPayload { migration { id status from to dryRun limit } }
  ... on Error { code message } ... on InvalidInputError { field } ... on UnsupportedError { operation } } }"""
MIGRATION = """query M($id: ID!) { migration(id: $id) { id status error progress { total done messages failed }
  report { complete handled created messagesWritten fields { field change detail conversations items examples }
  failures { sourceId error } } } }"""
LIST = """query L($first: Int!, $after: String) { migrations(first: $first, after: $after) {
  edges { cursor node { id from to } } pageInfo { hasNextPage endCursor } } }"""
PROGRESS = """subscription P($id: ID!) { migrationProgress(id: $id) { final
  migration { status current progress { phase done total messages } report { complete created messagesWritten } } } }"""
CANCEL = """mutation C($id: ID!) { cancelMigration(id: $id) { __typename ... on MigrationPayload { migration { status } }
  ... on Error { code message } } }"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(demo_conversations=6, graphiql=False, migrations=MigrationSettings(store_path=tmp_path / "jobs.sqlite"))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def post(client: TestClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


def start(client: TestClient, **input: Any) -> dict[str, Any]:
    return post(client, START, {"input": input})["startMigration"]


def finished(client: TestClient, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        migration = post(client, MIGRATION, {"id": job_id})["migration"]
        if migration["status"] not in ("RUNNING", "CANCELLING"):
            return migration
        time.sleep(0.05)
    pytest.fail("the migration did not finish")


def test_progress_is_watched_to_the_final_report_over_graphql_transport_ws(client: TestClient) -> None:
    started = start(client, **{"from": "infobip", "to": "socialboards"})
    assert started["__typename"] == "MigrationPayload", started
    job = started["migration"]
    assert (job["status"], job["from"], job["to"], job["dryRun"]) == ("RUNNING", "infobip", "socialboards", False)
    events = []
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": job["id"]}}})
        while not events or not events[-1]["final"]:
            frame = ws.receive_json()
            assert frame["type"] == "next", frame
            events.append(frame["payload"]["data"]["migrationProgress"])
        assert ws.receive_json()["type"] == "complete"
    last = events[-1]["migration"]
    assert last["status"] == "COMPLETED" and last["report"] == {"complete": True, "created": 6, "messagesWritten": last["progress"]["messages"]}
    assert last["progress"]["done"] == last["progress"]["total"] == 6
    assert all(not e["final"] for e in events[:-1])


def test_a_migration_is_read_and_listed_with_its_report(client: TestClient) -> None:
    first = start(client, **{"from": "infobip", "to": "socialboards", "dryRun": True})["migration"]
    done = finished(client, first["id"])
    report = done["report"]
    assert done["status"] == "COMPLETED" and report["created"] == 6 and report["complete"] is True
    assert {"field": "priority", "change": "DROPPED", "detail": "Socialboards conversations have no priority", "conversations": 6,
            "items": 6} == {k: v for k, v in next(f for f in report["fields"] if f["field"] == "priority").items() if k != "examples"}
    second = start(client, **{"from": "socialboards", "to": "infobip", "dryRun": True, "limit": 2})["migration"]
    assert second["limit"] == 2 and finished(client, second["id"])["report"]["handled"] == 2
    page = post(client, LIST, {"first": 1})["migrations"]
    assert [e["node"]["id"] for e in page["edges"]] == [second["id"]] and page["pageInfo"]["hasNextPage"] is True
    rest = post(client, LIST, {"first": 5, "after": page["pageInfo"]["endCursor"]})["migrations"]
    assert [e["node"]["id"] for e in rest["edges"]] == [first["id"]] and rest["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("input", "typename", "detail"),
    [
        ({"from": "infobip", "to": "clevertap"}, "UnsupportedError", "no CleverTap API creates a conversation"),
        ({"from": "nowhere", "to": "socialboards"}, "InvalidInputError", "no provider named 'nowhere'"),
        ({"from": "infobip", "to": "infobip"}, "InvalidInputError", "from and to name the same provider"),
        ({"from": "infobip", "to": "socialboards", "limit": 0}, "InvalidInputError", "limit must be between 1"),
        ({"from": "infobip", "to": "socialboards", "filter": {"providers": ["infobip"]}}, "InvalidInputError", "providers and vendors do not apply"),
    ],
)
def test_a_bad_start_is_a_typed_error_naming_what_is_wrong(client: TestClient, input: dict[str, Any], typename: str, detail: str) -> None:
    answer = start(client, **input)
    assert answer["__typename"] == typename and detail in answer["message"], answer
    assert post(client, LIST, {"first": 5})["migrations"]["edges"] == []


def test_cancelling_an_unknown_migration_is_not_found(client: TestClient) -> None:
    answer = post(client, CANCEL, {"id": "mig-000000000000"})["cancelMigration"]
    assert answer["__typename"] == "NotFoundError" and answer["code"] == "NOT_FOUND"


def test_a_second_start_between_the_same_providers_is_a_conflict_while_one_runs(client: TestClient) -> None:
    first = start(client, **{"from": "infobip", "to": "socialboards"})
    second = start(client, **{"from": "infobip", "to": "socialboards", "dryRun": True})
    if second["__typename"] == "MigrationPayload":  # the first one had already finished
        assert finished(client, first["migration"]["id"])["status"] == "COMPLETED"
    else:
        assert second["__typename"] == "ConflictError" and first["migration"]["id"] in second["message"]


async def run_as(principal: Principal, query: str, variables: dict[str, Any], tmp_path: Path) -> Any:
    app = create_app(Settings(demo_conversations=2, migrations=MigrationSettings(store_path=tmp_path / "jobs.sqlite")))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        request = Request({"type": "http", "app": app, "method": "POST", "path": "/graphql", "headers": []})
        context = Context(request=request, response=None, providers=runtime.providers, bus=runtime.bus,
                          loaders=make_loaders(runtime.providers, cache=True), principal=principal)
        return await schema.execute(query, variable_values=variables, context_value=context)


async def test_migrations_need_the_migrate_scope(tmp_path: Path) -> None:
    reader = Principal(client="console", scopes=frozenset({"read", "write"}))
    result = await run_as(reader, START, {"input": {"from": "infobip", "to": "socialboards"}}, tmp_path)
    assert result.errors and result.errors[0].extensions == {"code": "FORBIDDEN"} and "`migrate` scope" in result.errors[0].message


async def test_both_providers_must_be_in_the_clients_scope(tmp_path: Path) -> None:
    partner = Principal(client="partner", scopes=SCOPES, providers=frozenset({"infobip"}))
    result = await run_as(partner, START, {"input": {"from": "infobip", "to": "socialboards"}}, tmp_path)
    assert not result.errors and result.data["startMigration"]["__typename"] == "InvalidInputError"
    assert result.data["startMigration"]["field"] == "to"
