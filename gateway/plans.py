"""Plans: one function per selected value that completes it in one pass (`gateway.execution` builds them
from graphql-core's field collection, once per document).

A plan returns the completed value, or `FALLBACK` when it cannot complete it (a null in a non-null
field, a value the type refuses): then graphql-core completes that value itself, with its own errors.

An object's plan is compiled to Python source, one block per selected field with its leaves coerced in
line: the closure per field it replaces, called from a loop over the steps, was half the cost of
completing a message (a nested page of 20 conversations completes 1,000 messages, 1,000 authors and
1,000 edges). The generated function does what the loop did, in the same order: read the attribute,
coerce a leaf (a `str` is its own coercion for String and ID, as graphql-core's `serialize_string`
and `serialize_id` return it; a `bool` for Boolean), or call the value's own plan.
"""

from __future__ import annotations

import binascii
import enum
import functools
import keyword
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any, NamedTuple

from graphql import GraphQLBoolean, GraphQLEnumType, GraphQLID, GraphQLString

Plan = Callable[[Any], Any]  # value -> completed value, or FALLBACK
FALLBACK = object()
KEPT_CODE = 512  # compiled object plans kept by their source; past this many, the store starts again
# Leaf types whose coercion returns a value of this exact class as it is (graphql-core's serializers).
EXACT = {id(GraphQLString): str, id(GraphQLID): str, id(GraphQLBoolean): bool}


class Leaf(NamedTuple):
    coerce: Callable[[Any], Any]  # the type's output coercion (None: it refuses the value)
    required: bool  # non-null: a null falls back
    exact: type | None  # a value of this very class needs no coercion
    names: Mapping[int, str] | None  # an enum's names by the id of its members, looked up before `coerce`


class Step(NamedTuple):
    """One selected field of an object: its response key and what fills it."""

    key: str
    attribute: str | None  # the attribute read; None for a constant
    plan: Plan | None  # the completion of the value read (a sub-object, a list)
    leaf: Leaf | None = None  # or a leaf, coerced in line
    constant: str | None = None  # or a constant (`__typename`)
    node_type: str | None = None  # or the relay id of a node of this GraphQL type, from its node id


def leaf_of(leaf_type: Any, required: bool) -> Leaf:
    return Leaf(leaf_type.coerce_output_value, required, EXACT.get(id(leaf_type)), _enum_names(leaf_type))


def coercion(leaf: Leaf) -> Callable[[Any], Any]:
    """The leaf's coercion as one function."""
    names, coerce = leaf.names, leaf.coerce
    if names is None:
        return coerce
    return lambda value: names.get(id(value)) or coerce(value)


@functools.cache
def _enum_names(leaf_type: Any) -> Mapping[int, str] | None:
    """For strawberry's enums, a table of names (strawberry scans every value of the enum for each one it
    writes). Keyed by identity: Enum.__hash__ is Python code, and members live as long as their class,
    so an object with a member's id is that member."""
    wrapped = getattr(leaf_type, "wrapped_cls", None)
    if not isinstance(leaf_type, GraphQLEnumType) or not isinstance(wrapped, type) or not issubclass(wrapped, enum.Enum):
        return None
    return {id(member): name for member in wrapped for name, value in leaf_type.values.items() if value.value == member.value}


def leaf_plan(leaf: Leaf) -> Plan:
    coerce, required = coercion(leaf), leaf.required

    def complete(value: Any) -> Any:
        if value is None:
            return FALLBACK if required else None
        coerced = coerce(value)
        return FALLBACK if coerced is None else coerced

    return complete


def list_plan(item: Plan, required: bool) -> Plan:
    def complete(values: Any) -> Any:
        if values is None:
            return FALLBACK if required else None
        done = [item(value) for value in values]
        return FALLBACK if FALLBACK in done else done  # identity first: no value equals FALLBACK

    return complete


def constant_step(key: str, value: str) -> Step:
    return Step(key, None, None, constant=value)


def global_id_step(key: str, attribute: str, type_name: str) -> Step:
    """The relay id of a node: base64 of "<GraphQL type>:<node id>", as strawberry's `to_base64` writes it
    (`base64.b64encode` is `b2a_base64` without the newline)."""
    return Step(key, attribute, None, node_type=type_name)


def object_plan(steps: Sequence[Step], required: bool) -> Plan:
    """The plan of an object with `steps`, compiled (see the module's docstring). A field whose value is
    itself an object with a compiled plan is completed in line, to `INLINE_DEPTH` levels: a message edge,
    its node and the node's author are one call instead of three, for each of a nested page's 1,000."""
    namespace: dict[str, Any] = {"FALLBACK": FALLBACK, "b2a": binascii.b2a_base64}
    body = _block(steps, "source", "result", "", namespace, 0)
    lines = ["def complete(source):", "    if source is None:", f"        return {'FALLBACK' if required else 'None'}"]
    lines += [f"    {line}" for line in body] + ["    return result"]
    exec(_compiled("\n".join(lines)), namespace)  # noqa: S102 - source built above from names checked by _read
    plan: Plan = namespace["complete"]
    _INLINABLE[plan] = (tuple(steps), required)
    return plan


INLINE_DEPTH = 3
# The steps of each compiled object plan, so a parent's plan can complete its values in line. Weak: a plan
# lives as long as the executors' stores keep it.
_INLINABLE: weakref.WeakKeyDictionary[Plan, tuple[tuple[Step, ...], bool]] = weakref.WeakKeyDictionary()


def _block(steps: Sequence[Step], source: str, out: str, tag: str, namespace: dict[str, Any], depth: int) -> list[str]:
    """Lines (unindented) that complete `source` (a non-None object) into the dict `out`, or return
    FALLBACK. `tag` makes the names of this block's values and namespace entries unique."""
    lines: list[str] = []
    for index, step in enumerate(steps):
        name = f"{tag}{index}"
        value = f"v{name}"
        if step.constant is not None:
            namespace[f"k{name}"] = step.constant
            lines.append(f"{value} = k{name}")
            continue
        assert step.attribute is not None
        read = _read(step.attribute, source, name, namespace)
        if step.node_type is not None:
            namespace[f"k{name}"] = f"{step.node_type}:"
            lines.append(f'{value} = b2a(f"{{k{name}}}{{{read}}}".encode(), newline=False).decode()')
            continue
        if step.leaf is None:
            inner = _INLINABLE.get(step.plan) if depth < INLINE_DEPTH and step.plan is not None else None
            if inner is not None:
                inner_steps, inner_required = inner
                lines += [f"s{name} = {read}", f"if s{name} is None:", f"    {'return FALLBACK' if inner_required else f'{value} = None'}", "else:"]
                lines += [f"    {line}" for line in _block(inner_steps, f"s{name}", value, f"{name}_", namespace, depth + 1)]
                continue
            namespace[f"p{name}"] = step.plan
            lines += [f"{value} = p{name}({read})", f"if {value} is FALLBACK:", "    return FALLBACK"]
            continue
        namespace[f"c{name}"] = step.leaf.coerce
        lines += [f"{value} = {read}", f"if {value} is None:", f"    {'return FALLBACK' if step.leaf.required else 'pass'}"]
        if step.leaf.exact is not None:
            namespace[f"t{name}"] = step.leaf.exact
            lines.append(f"elif {value}.__class__ is not t{name}:")
        else:
            lines.append("else:")
        if step.leaf.names is not None:
            namespace[f"n{name}"] = step.leaf.names.get
            lines.append(f"    {value} = n{name}(id({value})) or c{name}({value})")
        else:
            lines.append(f"    {value} = c{name}({value})")
        lines += [f"    if {value} is None:", "        return FALLBACK"]
    lines.append(f"{out} = {{" + ", ".join(f"{step.key!r}: v{tag}{index}" for index, step in enumerate(steps)) + "}")
    return lines


def _read(attribute: str, source: str, name: str, namespace: dict[str, Any]) -> str:
    """The expression reading `attribute` of `source`: `source.name`, or getattr for any other name."""
    if attribute.isidentifier() and not keyword.iskeyword(attribute):
        return f"{source}.{attribute}"
    namespace[f"a{name}"] = attribute
    return f"getattr({source}, a{name})"


_CODE: dict[str, CodeType] = {}


def _compiled(source: str) -> CodeType:
    """Plans of documents with directives are built per request: their code is compiled once per shape."""
    code = _CODE.get(source)
    if code is None:
        if len(_CODE) >= KEPT_CODE:
            _CODE.clear()
        code = _CODE[source] = compile(source, "<gateway.plans>", "exec")
    return code
