"""A client scoped to Infobip learns nothing of Socialboards or CleverTap: no object, event, name or
count, on any root field, and no request of its reaches their vendors.

Every Query, Mutation and Subscription field of the live schema must have a case here
(`test_every_root_field_has_a_scoping_case`), so a field added later cannot be forgotten. A case asks
about the hidden providers and about a provider that does not exist, and the two answers must be the
same (names substituted): a hidden provider is indistinguishable from none.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.schema import schema

from .auth_kit import api_client, data, post, running, sandbox_call, upstream

ADMIN, IB = "admin-key-0123456789", "ib-key-0123456789"
SEEN, HIDDEN, NOWHERE = "infobip", ("socialboards", "clevertap"), "nowhere"
CONVERSATION = """id provider vendor remoteId topic status vendorStatus tags customer { name } vendorData
  lastMessage { id text provider vendorData } messages(first: 3) { edges { cursor node { id provider text } } }"""


def global_id(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def swap(gid: str, provider: str) -> str:
    """The same id on another provider."""
    type_name, node_id = base64.b64decode(gid).decode().split(":", 1)
    return global_id(type_name, provider + ":" + node_id.split(":", 1)[1])


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        for text in (value, value + "=" * (-len(value) % 4)):
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    yield decode(text.encode()).decode("utf-8", "ignore")
                except (binascii.Error, ValueError):
                    pass
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(value: Any) -> list[str]:
    """Hidden provider names in `value`, plainly or inside base64 (ids, cursors)."""
    return sorted({name for text in strings(value) for name in HIDDEN if name in text.lower()})


@dataclass
class Harness:
    client: TestClient
    conversations: dict[str, str] = field(default_factory=dict)  # vendor -> a conversation taking messages
    messages: dict[str, str] = field(default_factory=dict)  # vendor -> a message id
    counter: int = 0

    def as_ib(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = post(self.client, IB, query, variables)
        assert response.status_code == 200, response.text
        return response.json()

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def same_as_nowhere(self, query: str, variables: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Asks as the Infobip client about each hidden provider and about one that does not exist:
        equal answers with the name substituted (so a hidden name in an answer is only the client's own
        input echoed), nothing hidden in the answer about nowhere, no hidden vendor called."""
        upstream(self.client)
        expected = self.as_ib(query, variables(NOWHERE))
        assert not leaks(expected), expected
        for hidden in HIDDEN:
            answer = self.as_ib(query, variables(hidden))
            assert json.loads(json.dumps(answer).replace(hidden, NOWHERE)) == expected, (hidden, answer, expected)
        counts = upstream(self.client)
        assert [counts[h] for h in HIDDEN] == [0, 0], counts
        return expected


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    clients = (api_client("admin", ADMIN), api_client("ib", IB, providers=frozenset({SEEN})))
    with running(*clients) as client:
        h = Harness(client)
        listing = data(client, ADMIN, "{ conversations(first: 100) { edges { node { id provider messages(first: 1) { edges { node { id } } } } } } }")
        for edge in listing["conversations"]["edges"]:
            node = edge["node"]
            if node["messages"]["edges"]:
                h.messages.setdefault(node["provider"], node["messages"]["edges"][0]["node"]["id"])
            if node["provider"] not in h.conversations and admin_says(h, node["id"], "taken") == "AddMessagesPayload":
                h.conversations[node["provider"]] = node["id"]
        assert set(h.conversations) == set(h.messages) == {SEEN, *HIDDEN}
        yield h


ADD = "mutation A($id: ID!, $text: String!) { addMessages(conversationId: $id, messages: [{text: $text}]) { __typename } }"


def admin_says(h: Harness, conversation: str, text: str) -> str:
    return str(data(h.client, ADMIN, ADD, {"id": conversation, "text": text})["addMessages"]["__typename"])


# ---- the cases, one per root field ---------------------------------------------------------------

CASES: dict[tuple[str, str], Callable[[Harness], None]] = {}


def case(*fields: tuple[str, str]) -> Callable[[Callable[[Harness], None]], Callable[[Harness], None]]:
    def register(function: Callable[[Harness], None]) -> Callable[[Harness], None]:
        for item in fields:
            CASES[item] = function
        return function

    return register


@case(("Query", "node"), ("Query", "conversation"))
def by_id(h: Harness) -> None:
    for field_name in ("node", "conversation"):
        query = f"query($id: ID!) {{ {field_name}(id: $id) {{ ... on Conversation {{ {CONVERSATION} }} }} }}"
        if field_name == "conversation":
            query = f"query($id: ID!) {{ conversation(id: $id) {{ {CONVERSATION} }} }}"
        answer = h.same_as_nowhere(query, lambda p: {"id": swap(h.conversations[SEEN], p)})
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["NOT_FOUND"]
        thin = f"query($id: ID!) {{ {field_name}(id: $id) {{ id ... on Conversation {{ provider }} }} }}"  # answered without a read
        h.same_as_nowhere(thin, lambda p: {"id": swap(h.conversations[SEEN], p)})
    message = "query($id: ID!) { node(id: $id) { id ... on Message { text provider conversation { id } } } }"
    answer = h.same_as_nowhere(message, lambda p: {"id": swap(h.messages[SEEN], p)})
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["NOT_FOUND"]
    assert h.as_ib(message, {"id": h.messages[SEEN]})["data"]["node"]["provider"] == SEEN


@case(("Query", "conversations"))
def listing(h: Harness) -> None:
    everything = f"query($f: ConversationFilter) {{ conversations(first: 100, filter: $f) {{ edges {{ cursor node {{ {CONVERSATION} }} }} pageInfo {{ endCursor }} }} }}"
    upstream(h.client)
    page = h.as_ib(everything)
    assert "errors" not in page and not leaks(page)
    seen = {e["node"]["id"] for e in page["data"]["conversations"]["edges"]}
    own = data(h.client, ADMIN, everything, {"f": {"providers": [SEEN]}})["conversations"]["edges"]
    assert seen == {e["node"]["id"] for e in own} and seen  # every Infobip conversation, and only those
    assert [upstream(h.client)[p] for p in HIDDEN] == [0, 0]
    unknown = h.same_as_nowhere(everything, lambda p: {"f": {"providers": [p]}})
    assert unknown["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    for hidden in HIDDEN:
        by_vendor = h.as_ib(everything, {"f": {"vendors": [hidden]}})
        assert by_vendor["data"]["conversations"]["edges"] == [] and "errors" not in by_vendor and not leaks(by_vendor)
    skipped = h.as_ib(everything, {"f": {"campaign": "Spring Sale"}})  # a filter only CleverTap can apply
    assert [n["provider"] for n in skipped.get("extensions", {}).get("notices", [])] == [SEEN] and not leaks(skipped), skipped
    for hidden in HIDDEN:  # a hidden vendor failing is no partial error of the Infobip client's
        assert sandbox_call(h.client, hidden, "POST", "/_sandbox/faults", json={"status": 503, "times": 50}).status_code < 300
    try:
        failing = h.as_ib(everything)
        assert "errors" not in failing and {e["node"]["id"] for e in failing["data"]["conversations"]["edges"]} == seen
    finally:
        for hidden in HIDDEN:
            sandbox_call(h.client, hidden, "DELETE", "/_sandbox/faults")
    assert [upstream(h.client)[p] for p in HIDDEN] == [0, 0]


@case(("Query", "providers"))
def providers(h: Harness) -> None:
    upstream(h.client)
    answer = h.as_ib("{ providers { name vendor capabilities healthy } }")
    assert [(p["name"], p["healthy"]) for p in answer["data"]["providers"]] == [(SEEN, True)] and not leaks(answer)
    assert [upstream(h.client)[p] for p in HIDDEN] == [0, 0]


MUTATIONS: dict[str, str] = {  # each mutation that takes a conversation id, as selected in the case
    "addMessages": "addMessages(conversationId: $id, messages: [{text: \"hi\"}])",
    "updateConversation": "updateConversation(id: $id, input: {status: CLOSED})",
    "assignConversation": "assignConversation(id: $id, agentId: \"agent-1\")",
    "routeConversation": "routeConversation(id: $id)",
    "addTags": "addTags(id: $id, tags: [\"vip\"])",
    "removeTags": "removeTags(id: $id, tags: [\"vip\"])",
    "setBotActive": "setBotActive(id: $id, active: true)",
    "setFeedback": "setFeedback(id: $id, positive: true)",
    "setLatestPageUrl": "setLatestPageUrl(id: $id, url: \"https://example.test/\")",
    "closeConversation": "closeConversation(id: $id)",
}


def on_an_id(name: str) -> Callable[[Harness], None]:
    def run(h: Harness) -> None:
        selection = MUTATIONS[name]
        query = f"mutation($id: ID!) {{ result: {selection} {{ __typename ... on Error {{ code message }} ... on NotFoundError {{ provider }} }} }}"
        answer = h.same_as_nowhere(query, lambda p: {"id": swap(h.conversations[SEEN], p)})
        assert answer["data"]["result"] == {"__typename": "NotFoundError", "code": "NOT_FOUND", "message": "id: no such conversation", "provider": None}

    return run


for _name in MUTATIONS:
    case(("Mutation", _name))(on_an_id(_name))


@case(("Mutation", "createConversation"))
def create(h: Harness) -> None:
    query = """mutation($p: String!) { createConversation(input: {provider: $p, customer: {name: "Scoped", externalId: "s-1"}}) {
      __typename ... on Error { code message } ... on InvalidInputError { field provider } } }"""
    answer = h.same_as_nowhere(query, lambda p: {"p": p})
    assert answer["data"]["createConversation"]["message"] == "no provider named 'nowhere'; configured providers: infobip"


# ---- subscriptions -------------------------------------------------------------------------------

MESSAGES = """subscription($since: String, $providers: [String!], $id: ID) { messageAdded(since: $since, providers: $providers, conversationId: $id) {
  cursor message { id text provider vendorData conversation { id provider } } } }"""
CHANGES = """subscription($since: String, $f: ConversationFilter) { conversationChanged(since: $since, filter: $f) {
  cursor conversation { id provider topic vendorData } } }"""


def subscribed(h: Harness, query: str, variables: dict[str, Any], until: Callable[[dict[str, Any]], bool], trigger: Callable[[], None]) -> list[dict[str, Any]]:
    """The frames the Infobip client receives, over graphql-transport-ws, up to the one `until` accepts."""
    frames: list[dict[str, Any]] = []
    with h.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {IB}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        trigger()
        while not frames or not until(frames[-1]):
            frames.append(ws.receive_json())
    return frames


def first_frame(h: Harness, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return subscribed(h, query, variables, lambda frame: True, lambda: None)[0]


def replay_from_the_start(h: Harness) -> str:
    return f"{h.client.app.state.runtime.bus.epoch}.0"  # type: ignore[attr-defined]


@case(("Subscription", "messageAdded"))
def message_added(h: Harness) -> None:
    sentinel = h.unique("for-infobip")

    def trigger() -> None:
        for hidden in HIDDEN:
            assert admin_says(h, h.conversations[hidden], h.unique("hidden")) == "AddMessagesPayload"
        assert admin_says(h, h.conversations[SEEN], sentinel) == "AddMessagesPayload"

    def is_sentinel(frame: dict[str, Any]) -> bool:
        return frame["payload"]["data"]["messageAdded"]["message"]["text"] == sentinel

    live = subscribed(h, MESSAGES, {}, is_sentinel, trigger)
    assert len(live) == 1 and not leaks(live)  # the hidden messages came first on the bus, and never here
    replayed = subscribed(h, MESSAGES, {"since": replay_from_the_start(h)}, is_sentinel, lambda: None)
    assert {f["payload"]["data"]["messageAdded"]["message"]["provider"] for f in replayed} == {SEEN} and not leaks(replayed)
    for variables in (lambda p: {"providers": [p]}, lambda p: {"id": swap(h.conversations[SEEN], p)}):
        answers = {p: first_frame(h, MESSAGES, variables(p)) for p in (NOWHERE, *HIDDEN)}
        assert not leaks(answers[NOWHERE]) and answers[NOWHERE]["payload"]["errors"]
        for hidden in HIDDEN:
            assert json.loads(json.dumps(answers[hidden]).replace(hidden, NOWHERE)) == answers[NOWHERE]


CHANGE = "mutation U($id: ID!, $input: UpdateConversationInput!) { updateConversation(id: $id, input: $input) { __typename } }"
BOT = "mutation B($id: ID!) { setBotActive(id: $id, active: true) { __typename } }"


@case(("Subscription", "conversationChanged"))
def conversation_changed(h: Harness) -> None:
    sentinel = h.unique("topic")

    def trigger() -> None:
        assert data(h.client, ADMIN, BOT, {"id": h.conversations["socialboards"]})["setBotActive"]["__typename"] == "ConversationPayload"
        changed = data(h.client, ADMIN, CHANGE, {"id": h.conversations["clevertap"], "input": {"status": "PENDING"}})
        assert changed["updateConversation"]["__typename"] == "ConversationPayload"
        changed = data(h.client, ADMIN, CHANGE, {"id": h.conversations[SEEN], "input": {"topic": sentinel}})
        assert changed["updateConversation"]["__typename"] == "ConversationPayload"

    def is_sentinel(frame: dict[str, Any]) -> bool:
        return frame["payload"]["data"]["conversationChanged"]["conversation"]["topic"] == sentinel

    live = subscribed(h, CHANGES, {}, is_sentinel, trigger)
    assert len(live) == 1 and not leaks(live)
    replayed = subscribed(h, CHANGES, {"since": replay_from_the_start(h)}, is_sentinel, lambda: None)
    assert {f["payload"]["data"]["conversationChanged"]["conversation"]["provider"] for f in replayed} == {SEEN}
    assert not leaks(replayed)
    answers = {p: first_frame(h, CHANGES, {"f": {"providers": [p]}}) for p in (NOWHERE, *HIDDEN)}
    assert "unknown provider(s) 'nowhere'" in answers[NOWHERE]["payload"]["errors"][0]["message"] and not leaks(answers[NOWHERE])
    for hidden in HIDDEN:
        assert json.loads(json.dumps(answers[hidden]).replace(hidden, NOWHERE)) == answers[NOWHERE]


# ---- the tests -----------------------------------------------------------------------------------


def test_every_root_field_has_a_scoping_case() -> None:
    fields = {
        (root, f.graphql_name or re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f.name))
        for root in ("Query", "Mutation", "Subscription")
        for f in schema.get_type_by_name(root).fields  # type: ignore[union-attr]
    }
    assert fields - set(CASES) == set(), "root fields without a provider-scoping case: add one here"
    assert set(CASES) - fields == set(), "cases for fields the schema no longer has"


@pytest.mark.parametrize("root_field", sorted(CASES), ids=lambda f: ".".join(f))
def test_a_client_scoped_to_infobip_learns_nothing_of_the_other_providers(harness: Harness, root_field: tuple[str, str]) -> None:
    CASES[root_field](harness)


# ---- migrations: a job is visible only to a client that may touch both its providers -------------

MIGRATION_FIELDS = "id from to status"
START = f"""mutation($from: String!, $to: String!) {{ startMigration(input: {{from: $from, to: $to, dryRun: true}}) {{
  __typename ... on MigrationPayload {{ migration {{ {MIGRATION_FIELDS} }} }} ... on Error {{ code message }} }} }}"""


def hidden_job(h: Harness) -> str:
    """A dry run between two providers the Infobip client cannot see, started by the admin."""
    started = data(h.client, ADMIN, START, {"from": "clevertap", "to": "socialboards"})
    return str(started["startMigration"]["migration"]["id"])


@case(("Mutation", "startMigration"))
def start_migration(h: Harness) -> None:
    answer = h.same_as_nowhere(START, lambda p: {"from": SEEN, "to": p})
    assert answer["data"]["startMigration"]["code"] == "INVALID_INPUT"
    answer = h.same_as_nowhere(START, lambda p: {"from": p, "to": SEEN})
    assert answer["data"]["startMigration"]["code"] == "INVALID_INPUT"


@case(("Query", "migration"), ("Query", "migrations"), ("Mutation", "cancelMigration"), ("Subscription", "migrationProgress"))
def migration_jobs(h: Harness) -> None:
    job = hidden_job(h)
    read = f"query($id: ID!) {{ migration(id: $id) {{ {MIGRATION_FIELDS} }} }}"
    assert h.as_ib(read, {"id": job}) == h.as_ib(read, {"id": "mig-000000000000"}) == {"data": {"migration": None}}
    listed = h.as_ib(f"{{ migrations(first: 50) {{ edges {{ node {{ {MIGRATION_FIELDS} }} }} }} }}")
    assert job not in json.dumps(listed) and not leaks(listed)
    cancel = f"mutation($id: ID!) {{ cancelMigration(id: $id) {{ __typename ... on Error {{ code }} }} }}"
    assert h.as_ib(cancel, {"id": job}) == h.as_ib(cancel, {"id": "mig-000000000000"})
    assert h.as_ib(cancel, {"id": job})["data"]["cancelMigration"]["code"] == "NOT_FOUND"
    progress = "subscription($id: ID!) { migrationProgress(id: $id) { final } }"
    hidden, unknown = first_frame(h, progress, {"id": job}), first_frame(h, progress, {"id": "mig-000000000000"})
    assert json.loads(json.dumps(hidden).replace(job, "mig-000000000000")) == unknown and not leaks(hidden)
