"""The schema's extension hooks are found once per extension class (gateway/hooks.py) rather than by
strawberry on every request: the same hooks in the same order, entered the same way, and answers byte
for byte the same as through strawberry's own runner, errors and extensions included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from starlette.testclient import TestClient
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
)

from gateway import hooks
from gateway.app import create_app
from gateway.limit_settings import Limits
from gateway.safety import GatewaySchema
from gateway.schema import schema_for
from gateway.settings import Settings

STAGES = [
    (OperationContextManager, hooks._Operation),
    (ValidationContextManager, hooks._Validation),
    (ParsingContextManager, hooks._Parsing),
    (ExecutingContextManager, hooks._Executing),
]
LIST = "query($f: ConversationFilter) { conversations(first: 3, filter: $f) { edges { node { id topic } } } }"
REQUESTS = {
    "answer": (LIST, {"f": {"providers": ["infobip"]}}),
    "notice": (LIST, {"f": {"campaign": "spring"}}),  # providers without campaigns are left out, with a notice
    "syntax error": ("{ conversations(first: 3) { edges ", {}),
    "unknown field": ("{ conversations(first: 3) { edges { node { nope } } } }", {}),
    "too many aliases": ("{ " + " ".join(f"a{i}: providers {{ name }}" for i in range(40)) + " }", {}),
    "too costly": ("query($n: Int!) { conversations(first: $n) { edges { node { messages(first: 100) { edges { node { id } } } } } } }", {"n": 100}),
    "bad variable": (LIST, {"f": {"providers": "nope"}}),
    "not found": ('query($id: ID!) { conversation(id: $id) { topic } }', {"id": "infobip:no-such-one"}),
    "introspection": ("{ __schema { queryType { name } } }", {}),
}


@pytest.mark.parametrize("introspection", [True, False])
@pytest.mark.parametrize(("strawberrys", "ours"), STAGES)
def test_each_stage_finds_strawberrys_hooks(introspection: bool, strawberrys: Any, ours: Any) -> None:
    schema = schema_for(introspection=introspection)
    assert isinstance(schema.create_extensions_runner(None, []), hooks.KnownHooksRunner)  # type: ignore[arg-type]
    extensions = schema.get_extensions()
    theirs, found = strawberrys(extensions).hooks, ours(extensions).hooks
    assert [(h.extension, h.is_async) for h in found] == [(h.extension, h.is_async) for h in theirs]
    assert [h.hook.args[0] for h in found] == [h.hook.__wrapped__.__func__ for h in theirs]  # type: ignore[attr-defined]
    assert all(type(a.hook()) is type(b.hook()) for a, b in zip(found, theirs))


@pytest.fixture(scope="module", params=[True, False], ids=["embedded", "locked down"])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = Settings(demo_conversations=4, graphiql=False, introspection=request.param, limits=Limits(max_cost=30))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def answers(client: TestClient) -> dict[str, tuple[int, bytes]]:
    found = {}
    for name, (query, variables) in REQUESTS.items():
        body = {"query": query, "variables": variables, "extensions": {"cost": True}}
        response = client.post("/graphql", json=body, headers={"X-Request-Id": f"hooks-{name.replace(' ', '-')}"})
        found[name] = response.status_code, response.content
    return found


def test_answers_are_strawberrys_own(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = answers(client)
    monkeypatch.setattr(GatewaySchema, "create_extensions_runner", strawberry.Schema.create_extensions_runner)
    theirs = answers(client)
    assert ours == theirs
    assert b'"errors"' not in ours["answer"][1] and b'"vendorCalls"' in ours["answer"][1] and b"PROVIDER_SKIPPED" in ours["notice"][1]
    assert b"COST_LIMIT" in ours["too costly"][1]
    assert all(b'"errors"' in ours[name][1] for name in ("syntax error", "unknown field", "too many aliases", "too costly", "bad variable", "not found"))
