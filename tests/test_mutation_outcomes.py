"""Each mutation field of a document answers its own outcome: a vendor failing one write (a top-level
PROVIDER_UNAVAILABLE error) nulls that field only, never the data of the writes that succeeded."""

from __future__ import annotations

import base64

from .embedded import embedded, one_per_provider, sandbox

TWO_WRITES = """mutation($down: ID!, $ok: ID!, $text: String!) {
  down: closeConversation(id: $down) { __typename }
  ok: addMessages(conversationId: $ok, messages: [{text: $text}]) {
    __typename ... on AddMessagesPayload { messages { text } } ... on Error { code message } }
}"""
MESSAGES = "query($id: ID!) { conversation(id: $id) { messages(first: 100) { edges { node { text } } } } }"


async def test_a_write_the_vendor_fails_does_not_hide_a_write_that_succeeded() -> None:
    text = "a write that must happen exactly once"
    async with embedded() as gateway:
        ids = await one_per_provider(gateway, status=["NEW", "OPEN", "PENDING"])
        async with sandbox(gateway, "infobip") as infobip, sandbox(gateway, "socialboards") as socialboards:
            fault = {"status": 503, "times": None, "pathContains": "conversations"}
            assert (await infobip.post("/_sandbox/faults", json=fault)).status_code < 300
            await socialboards.delete("/_sandbox/requests")
            body = await gateway.execute(TWO_WRITES, {"down": ids["infobip"], "ok": ids["socialboards"], "text": text})
            writes = [r for r in (await socialboards.get("/_sandbox/requests")).json()["requests"] if r["method"] == "POST"]
        stored = await gateway.data(MESSAGES, {"id": ids["socialboards"]})
    [error] = body["errors"]
    assert (error["path"], error["extensions"]["code"], error["extensions"]["provider"]) == (["down"], "PROVIDER_UNAVAILABLE", "infobip")
    assert body["data"] == {"down": None, "ok": {"__typename": "AddMessagesPayload", "messages": [{"text": text}]}}
    assert [r["path"] for r in writes if r["path"].endswith("/messages")] == [f"/chat/conversations/{remote_id(ids['socialboards'])}/messages"]
    assert [edge["node"]["text"] for edge in stored["conversation"]["messages"]["edges"]].count(text) == 1


def remote_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().rsplit(":", 1)[1]
