"""What the garbage collector is left to do: a request's objects die by reference counting (no cycle
through the executor), and `parley serve` alone freezes what start-up made (gateway/tuning.py)."""

from __future__ import annotations

import base64
import gc
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway import tuning
from gateway.app import create_app
from gateway.context import Context, make_loaders
from gateway.settings import Settings

from .test_execution import FAST, FakeProvider, message

QUERY = """query($id: ID!) { conversation(id: $id) { id topic customer { name }
  messages(first: 10) { edges { cursor node { id text author { name role } } } } } }"""


async def test_a_query_leaves_no_reference_cycle_behind() -> None:
    providers = {"fake": FakeProvider([message(i) for i in range(10)])}
    variables = {"id": base64.b64encode(b"Conversation:fake:42").decode()}

    async def run() -> None:
        context = Context(request=None, response=None, providers=providers, bus=None,  # type: ignore[arg-type]
                          loaders=make_loaders(providers, cache=True))
        result = await FAST.execute(QUERY, variable_values=variables, context_value=context)
        assert not result.errors and len(result.data["conversation"]["messages"]["edges"]) == 10  # type: ignore[index]

    await run()  # parser and validation caches, executor plans: kept on purpose
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await run()
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    assert not left & {"PlainExecutor", "Context", "Loaders", "DataLoader", "Message", "Conversation", "Page"}, left


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    tuning._enabled = False
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_only_parley_serve_freezes_start_up_and_collects_the_young_less_often(restored_collector: None) -> None:
    settings = Settings(demo_conversations=1, graphiql=False)
    frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    with TestClient(create_app(settings)):
        assert (gc.get_freeze_count(), gc.get_threshold()) == (frozen, threshold)  # an app made by a test or an embedder
    tuning.enable()  # what `parley serve` and each of its workers do
    with TestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > 10_000 and gc.get_threshold()[0] == tuning.YOUNG_THRESHOLD
        assert client.post("/graphql", json={"query": "{ providers { name } }"}).status_code == 200
