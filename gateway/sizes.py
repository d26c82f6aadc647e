"""Size limits of a request: its body (`BodyLimit`, before anything reads it), its document's tokens
(`too_many_tokens`, before it is parsed), and the lists and strings it carries in variables and in
document literals (`oversized_variable`, `oversized_literal`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLSyntaxError,
    ListValueNode,
    Node,
    ObjectValueNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)
from graphql.language import Lexer, Source, TokenKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ErrorCode

TOKEN_CACHE = 1024  # documents whose token count is remembered (clients send the same few again and again)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 to a request on one of `paths` whose body is over `limit` bytes: from its
    Content-Length before reading any of it, and for a body without one (chunked) as it streams in, so
    the application never holds more than `limit` bytes of it."""

    def __init__(self, app: ASGIApp, *, limit: int, paths: tuple[str, ...]) -> None:
        self.app, self.limit, self.paths = app, limit, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        declared, chunked = None, False
        for name, value in scope["headers"]:
            if name == b"content-length" and declared is None:
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await self._refuse(send)
                return
            if not chunked:
                # The server reads exactly the declared bytes (HTTP/1.1 framing), so there is nothing to count
                await self.app(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:  # cannot happen with the gateway's endpoints, which read the body before answering
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"errors": [{
            "message": f"the request body is over {self.limit} bytes (server.max_body_bytes)",
            "extensions": {"code": ErrorCode.REQUEST_TOO_LARGE.value},
        }]})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def too_many_tokens(source: str, limit: int) -> bool:
    """Whether the document has more than `limit` lexical tokens, comments included (a token is at
    least one character, so a short document is not lexed at all)."""
    return len(source) > limit and _tokens_over(source, limit)


@lru_cache(maxsize=TOKEN_CACHE)
def _tokens_over(source: str, limit: int) -> bool:
    lexer = Lexer(Source(source))
    token = lexer.token
    for _ in range(limit + 1):
        try:
            token = lexer.read_next_token(token.end)
        except GraphQLSyntaxError:
            return False  # the parser reports it
        if token.kind is TokenKind.EOF:
            return False
    return True


def oversized_variable(variables: dict[str, Any] | None, max_list: int, max_string: int) -> str | None:
    """What is wrong with the first list or string in the variables over its limit, naming its path."""
    for path, value in _json_values(variables or {}):
        problem = _oversized(value, max_list, max_string)
        if problem:
            return f"variable ${path}: {problem}"
    return None


def oversized_literal(document: DocumentNode, max_list: int, max_string: int) -> str | None:
    """The same for the values written in the document (field arguments, directive arguments, defaults)."""
    for path, node in _document_values(document):
        if isinstance(node, ListValueNode):
            problem = _oversized(node.values, max_list, max_string)
        elif isinstance(node, StringValueNode):
            problem = _oversized(node.value, max_list, max_string)
        else:
            continue
        if problem:
            return f"{path}: {problem}"
    return None


def _oversized(value: Any, max_list: int, max_string: int) -> str | None:
    if isinstance(value, str) and len(value) > max_string:
        return f"a string of {len(value)} characters; at most {max_string} are accepted (server.max_string_length)"
    if isinstance(value, list | tuple) and len(value) > max_list:
        return f"a list of {len(value)} items; at most {max_list} are accepted (server.max_list_length)"
    return None


def _json_values(variables: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, value) of every value in the variables, without recursion (nesting may be deep)."""
    stack: list[tuple[str, Any]] = [(name, value) for name, value in reversed(list(variables.items()))]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))


def _document_values(document: DocumentNode) -> Iterator[tuple[str, ValueNode]]:
    """(path, value node) of every value written in the document; the path names the fields by
    response key, then the argument and the fields and indices inside its value."""
    stack: list[tuple[str, Node]] = [(_definition_name(d), d) for d in reversed(document.definitions)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, ListValueNode):
            yield path, node
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node.values))))
        elif isinstance(node, ObjectValueNode):
            stack.extend((f"{path}.{f.name.value}", f.value) for f in reversed(node.fields))
        elif isinstance(node, StringValueNode):
            yield path, node
        else:
            stack.extend(reversed(list(_children(path, node))))


def _children(path: str, node: Node) -> Iterator[tuple[str, Node]]:
    """The parts of a definition, selection or directive that hold values, with their paths."""
    for definition in getattr(node, "variable_definitions", None) or ():
        if definition.default_value is not None:
            yield f"${definition.variable.name.value}", definition.default_value
    if isinstance(node, FieldNode):
        path = _join(path, (node.alias or node.name).value)
    for directive in getattr(node, "directives", None) or ():
        yield from _arguments(f"{path}@{directive.name.value}", directive.arguments)
    if isinstance(node, FieldNode):
        yield from _arguments(path, node.arguments)
    selection_set = getattr(node, "selection_set", None)
    if isinstance(selection_set, SelectionSetNode):
        yield from ((path, selection) for selection in selection_set.selections)


def _arguments(path: str, arguments: tuple[ArgumentNode, ...] | None) -> Iterator[tuple[str, Node]]:
    for argument in arguments or ():
        yield f"{path}({argument.name.value}:)", argument.value


def _definition_name(definition: Node) -> str:
    name = getattr(definition, "name", None)
    return f"fragment {name.value}:" if getattr(definition, "type_condition", None) is not None and name else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and not path.endswith(":") else (f"{path} {key}" if path else key)
