"""A client's mistake is an INVALID_INPUT naming what was wrong, never INTERNAL, and never costs the
other providers' part of a list: times without an offset, times at the ends of the calendar, forged
cursors. Over HTTP against the embedded default (all three vendors' sandboxes)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from providers.cursors import encode_cursor

from .embedded import PROVIDERS, embedded, one_per_provider

LIST = """query($f: ConversationFilter, $after: String) {
  conversations(first: 100, filter: $f, after: $after) { edges { node { provider remoteId updatedAt } } } }"""
HISTORY = """mutation($id: ID!, $at: DateTime) {
  addMessages(conversationId: $id, asContext: true, messages: [{text: "from the old system", createdAt: $at}]) {
    __typename ... on AddMessagesPayload { messages { createdAt } } ... on Error { code message } } }"""


def rows(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["node"]["provider"], e["node"]["remoteId"]) for e in body["data"]["conversations"]["edges"]}


def codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("provider")) for e in body.get("errors", [])]


async def test_a_filter_time_without_an_offset_is_taken_as_utc() -> None:
    async with embedded() as gateway:
        everything = (await gateway.data(LIST))["conversations"]["edges"]
        times = sorted(datetime.fromisoformat(e["node"]["updatedAt"]) for e in everything)
        later, earlier = times[len(times) // 2], times[len(times) // 2 - 1]
        middle = earlier + (later - earlier) / 2  # between two rows: no row sits on the bound
        naive = middle.astimezone(UTC).replace(tzinfo=None).isoformat()
        body = await gateway.execute(LIST, {"f": {"updatedAfter": naive}})
    assert "errors" not in body, body["errors"]
    expected = {(e["node"]["provider"], e["node"]["remoteId"]) for e in everything
                if datetime.fromisoformat(e["node"]["updatedAt"]) > middle}
    assert expected and len(expected) < len(everything)  # the bound cuts the list: the case proves something
    assert rows(body) == expected


@pytest.mark.parametrize(("given", "stored"), [
    ("2024-01-01T10:00:00", "2024-01-01T10:00:00.000000Z"),  # no offset: UTC
    ("2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00.000000Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),  # the first instant there is
])
async def test_a_history_time_is_stored_as_the_utc_instant_it_names(given: str, stored: str) -> None:
    async with embedded() as gateway:
        ids = await one_per_provider(gateway, status=["NEW", "OPEN"])
        body = await gateway.execute(HISTORY, {"id": ids["socialboards"], "at": given})
    assert "errors" not in body, body["errors"]
    assert body["data"]["addMessages"]["messages"] == [{"createdAt": stored}]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
async def test_a_time_with_no_utc_equivalent_is_invalid_input_naming_the_field(value: str) -> None:
    async with embedded() as gateway:
        ids = await one_per_provider(gateway)
        as_variable = await gateway.execute(LIST, {"f": {"updatedAfter": value}})
        as_literal = await gateway.execute(f'{{ conversations(filter: {{createdBefore: "{value}"}}) {{ edges {{ cursor }} }} }}')
        in_a_message = await gateway.execute(HISTORY, {"id": ids["socialboards"], "at": value})
    for body in (as_variable, as_literal, in_a_message):
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT", error
        assert f"DateTime: '{value}' lies outside years 1 to 9999" in error["message"]
    assert ".updatedAfter" in as_variable["errors"][0]["message"]
    assert "$at" in in_a_message["errors"][0]["message"]


async def test_an_unreadable_time_is_invalid_input_not_internal() -> None:
    async with embedded() as gateway:
        body = await gateway.execute(LIST, {"f": {"updatedAfter": "yesterday"}})
        wrong_type = await gateway.execute(LIST, {"f": {"updatedAfter": 1704067200}})
    assert codes(body) == [("INVALID_INPUT", None)] and "'yesterday' is not an ISO-8601 date and time" in body["errors"][0]["message"]
    assert codes(wrong_type) == [("INVALID_INPUT", None)] and "expected an ISO-8601 string" in wrong_type["errors"][0]["message"]


async def test_the_first_and_last_instants_list_every_vendor_or_name_the_one_that_cannot_take_them() -> None:
    async with embedded() as gateway:
        since_year_one = await gateway.execute(LIST, {"f": {"updatedAfter": "0001-01-01T00:00:00Z"}})
        before_the_end = await gateway.execute(LIST, {"f": {"updatedBefore": "9999-12-31T23:59:59.999Z"}})
        past_the_last_millisecond = await gateway.execute(LIST, {"f": {"updatedBefore": "9999-12-31T23:59:59.9999Z"}})
    for body in (since_year_one, before_the_end):
        assert "errors" not in body, body["errors"]
        assert {provider for provider, _ in rows(body)} == set(PROVIDERS)
    # Infobip's wire rounds a `…Before` bound up to the millisecond, which lies past year 9999: it
    # alone refuses, naming the field; the other two still answer.
    assert codes(past_the_last_millisecond) == [("INVALID_INPUT", "infobip")]
    assert "updatedBefore" in past_the_last_millisecond["errors"][0]["message"]
    assert {provider for provider, _ in rows(past_the_last_millisecond)} == {"socialboards", "clevertap"}


def inbox_cursor(**state: Any) -> str:
    return encode_cursor("parley", "inbox", **{"o": "UPDATED_DESC", "pos": {}, "done": [], "mark": {}, **state})


@pytest.mark.parametrize("cursor", [
    inbox_cursor(mark={"socialboards": ["2024-01-01T00:00:00", []]}),  # a mark without an offset
    inbox_cursor(mark={"socialboards": ["2024-01-01T00:00:00Z", [1]]}),
    inbox_cursor(pos={"socialboards": 7}),
    inbox_cursor(done=[{"a": 1}]),
    inbox_cursor(pos=[]),
])
async def test_a_forged_list_cursor_is_invalid_input(cursor: str) -> None:
    async with embedded() as gateway:
        body = await gateway.execute(LIST, {"after": cursor})
    assert codes(body) == [("INVALID_INPUT", "parley")], body  # the gateway's own list cursor
    assert body["errors"][0]["path"] == ["conversations"]


async def test_a_forged_vendor_position_costs_only_that_vendor_its_part_of_the_list() -> None:
    far = encode_cursor("infobip", "conversations", o="UPDATED_DESC", t=10**18, ids=["x"])  # past year 9999
    async with embedded() as gateway:
        body = await gateway.execute(LIST, {"after": inbox_cursor(pos={"infobip": far})})
    assert codes(body) == [("INVALID_INPUT", "infobip")]
    assert {provider for provider, _ in rows(body)} == {"socialboards", "clevertap"}



async def test_assigning_without_saying_whom_is_invalid_input_not_an_unassign() -> None:
    query = "mutation($id: ID!) { assignConversation(id: $id) { __typename ... on InvalidInputError { field message } } }"
    async with embedded() as gateway:
        ids = await one_per_provider(gateway)
        answer = await gateway.data(query, {"id": ids["infobip"]})
    assert answer["assignConversation"] == {
        "__typename": "InvalidInputError", "field": "agentId", "message": "agentId: give the agent to assign, or null to unassign",
    }


@pytest.mark.parametrize("query", [
    "{ conversations(first: 1) { edges { nope } } }",  # a field the schema has not
    "{ conversations(first: ",  # not GraphQL
    '{ conversations(first: "one") { edges { cursor } } }',  # a value of another type
])
async def test_a_document_the_schema_refuses_is_invalid_input_and_no_error_in_the_log(
    query: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with embedded(demo_conversations=1) as gateway:
        body = await gateway.execute(query)
    assert codes(body) == [("INVALID_INPUT", None)], body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert any(r.name == "parley.errors" and r.levelno == logging.INFO for r in caplog.records)
