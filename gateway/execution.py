"""An executor that completes plain parts of a response directly.

Most of a Parley response is plain data: model attributes copied onto strawberry objects
(`Message.text`, `Participant.name`, an enum, a datetime), with no resolver, arguments or extensions.
graphql-core spends about 10 µs on each such field (resolve info, strawberry's resolver wrappers,
awaitable checks, completion); a by-id query with 50 messages has about 400 of them. Here:

- a plain leaf is `getattr` plus the type's output coercion, which is what those layers end up doing;
- a value whose whole selection is plain (e.g. a `MessageConnection`: edges, cursors, messages with
  their relay ids and authors) is completed in one pass by a plan (`gateway.plans`, objects compiled)
  built once per document from graphql-core's own field collection (so aliases, fragments, @skip and
  @include are its rules).

Anything else, and any null or value the plan cannot complete (a null in a non-null field, a value
the type refuses, whose coercion raises), takes graphql-core's normal path, so errors, their paths and
nullability are exactly its own.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    get_nullable_type,
    is_leaf_type,
    is_object_type,
)
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from .plans import FALLBACK, Plan, Step, coercion, constant_step, global_id_step, leaf_of, leaf_plan, list_plan, object_plan

Reader = tuple[str, Callable[[Any], Any]]  # (attribute, output coercion)
NOT_PLAIN = ("", repr)


SHARED_PLANS = 2048  # plans kept across requests; past this many, the store starts again


class PlainExecutor(StrawberryGraphQLCoreExecutionContext):
    _leaves: dict[tuple[GraphQLObjectType, str], Reader] = {}  # depends on the schema only
    # Plans by (type, ids of the selecting field nodes), each with those nodes: a plan depends on the
    # document and, through @skip/@include, on variables. The parser cache hands every request with the
    # same text the same document, so an operation without directives shares its plans across requests
    # (building them was a tenth of a by-id request). The nodes are kept and compared, so an id a new
    # document reuses after the old one was dropped never finds the old plan.
    _shared: dict[tuple[Any, ...], tuple[tuple[Any, ...], Plan | None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_of(weakref.ref(self))
        shared = not _has_directives(self.operation, self.fragments.values())
        self._plans = self._shared if shared else {}
        # No schema extension resolves fields (strawberry always passes a manager, often empty).
        self._direct = self.middleware_manager is None or not self.middleware_manager.middlewares

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Any, position_context: Any
    ) -> Any:
        node = field_details_list[0].node
        reader = self._leaf(parent_type, node.name.value)
        if reader is not NOT_PLAIN and not node.arguments and self._direct:
            value = getattr(source, reader[0], None)
            if value is not None:
                try:
                    coerced = reader[1](value)
                except Exception:  # refused: graphql-core's path reports it
                    coerced = None
                if coerced is not None:
                    return coerced
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_value(
        self, return_type: GraphQLOutputType, field_details_list: Any, info: Any, path: Any, result: Any, position_context: Any
    ) -> Any:
        if result is not None and not isinstance(result, Exception) and self._direct:
            plan = self._plan_for(return_type, field_details_list)
            if plan is not None:
                try:
                    completed = plan(result)
                except Exception:  # a value its type refuses: graphql-core's path reports it at its own path
                    completed = FALLBACK
                if completed is not FALLBACK:
                    return completed
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    # ---- plans ----------------------------------------------------------------------------------

    def _plan_for(self, return_type: GraphQLOutputType, field_details_list: Any) -> Plan | None:
        nodes = tuple(details.node for details in field_details_list)
        key = (return_type, *map(id, nodes))
        known = self._plans.get(key)
        if known is not None and all(a is b for a, b in zip(known[0], nodes, strict=True)):
            return known[1]
        if len(self._plans) >= SHARED_PLANS:
            self._plans.clear()
        plan = self._plan(return_type, field_details_list)
        self._plans[key] = (nodes, plan)
        return plan

    def _plan(self, type_: GraphQLOutputType, field_details_list: Any) -> Plan | None:
        """A plan for values of `type_` selected by `field_details_list`, or None when not plain."""
        nullable = get_nullable_type(type_)
        required = isinstance(type_, GraphQLNonNull)
        if is_leaf_type(nullable):
            return leaf_plan(leaf_of(nullable, required))
        if isinstance(nullable, GraphQLList):
            item = self._plan(nullable.of_type, field_details_list)
            return None if item is None else list_plan(item, required)
        if is_object_type(nullable):
            steps = self._object_steps(nullable, field_details_list)
            return None if steps is None else object_plan(steps, required)
        return None  # interfaces and unions: graphql-core resolves the concrete type

    def _object_steps(self, object_type: GraphQLObjectType, field_details_list: Any) -> list[Step] | None:
        """A step per selected field (`plans.Step`); None when a selected field is not plain."""
        fields = self.collect_subfields(object_type, field_details_list).grouped_field_set
        steps: list[Step] = []
        for response_key, details in fields.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                steps.append(constant_step(response_key, object_type.name))
                continue
            field_def = self.schema.get_field(object_type, name)
            definition = (field_def.extensions or {}).get("strawberry-definition") if field_def else None
            if field_def is None or definition is None or node.arguments or field_def.args:
                return None
            origin = getattr((object_type.extensions or {}).get("strawberry-definition"), "origin", None)
            if _is_relay_id(definition, origin):
                id_attr = origin._id_attr  # type: ignore[union-attr]
                steps.append(global_id_step(response_key, id_attr, object_type.name))
                continue
            if not _plain(definition):
                return None
            nullable = get_nullable_type(field_def.type)
            if is_leaf_type(nullable):
                leaf = leaf_of(nullable, isinstance(field_def.type, GraphQLNonNull))
                steps.append(Step(response_key, definition.python_name, None, leaf=leaf))
                continue
            sub = self._plan(field_def.type, details)
            if sub is None:
                return None
            steps.append(Step(response_key, definition.python_name, sub))
        return steps

    # ---- leaves ---------------------------------------------------------------------------------

    def _leaf(self, parent_type: GraphQLObjectType, name: str) -> Reader:
        key = (parent_type, name)
        reader = self._leaves.get(key)
        if reader is None:
            reader = self._leaves[key] = self._leaf_reader(parent_type, name)
        return reader

    def _leaf_reader(self, parent_type: GraphQLObjectType, name: str) -> Reader:
        field_def = self.schema.get_field(parent_type, name)
        if field_def is None or field_def.args or not is_leaf_type(get_nullable_type(field_def.type)):
            return NOT_PLAIN
        definition = (field_def.extensions or {}).get("strawberry-definition")
        if definition is None or not _plain(definition):
            return NOT_PLAIN
        return definition.python_name, _coercer(get_nullable_type(field_def.type))


def _helpers_of(executor: weakref.ref[PlainExecutor]) -> GraphQLResolveInfoHelpers:
    """graphql-core's helpers for resolvers, without the reference cycle its own make (executor ->
    helpers -> bound method -> executor): with it, every request's executor, context, loaders and
    every vendor row they read lived until a full collection found them (about 300 objects per request,
    1,400 for 20 conversations of 50 messages, and most of the GC's work). Resolvers call the helpers
    only while the executor runs."""

    def gather(values: Any) -> Any:
        alive = executor()
        assert alive is not None
        return alive.gather_async_work(values)

    def track(values: Any) -> None:
        alive = executor()
        assert alive is not None
        alive.track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


def _has_directives(operation: Any, fragments: Any) -> bool:
    """Whether any directive appears in the operation or its fragments (then what is selected may depend
    on the variables)."""
    pending = [operation, *fragments]
    while pending:
        node = pending.pop()
        if getattr(node, "directives", None):
            return True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            pending.extend(selection_set.selections)
    return False


def _plain(definition: Any) -> bool:
    """A strawberry field that is an attribute: no resolver, field extensions or permissions."""
    return definition.base_resolver is None and not definition.extensions and not definition.permission_classes


@functools.cache
def _coercer(leaf_type: Any) -> Callable[[Any], Any]:
    return coercion(leaf_of(leaf_type, required=False))


def _is_relay_id(definition: Any, origin: Any) -> bool:
    """The `id` of a relay Node (class `origin`) that keeps the default id and type name resolution:
    its value is base64 of "<GraphQL type>:<the NodeID attribute>"."""
    return (
        definition.python_name == "_id"
        and isinstance(origin, type)
        and issubclass(origin, relay.Node)
        and origin._id_attr is not None
        and origin.resolve_id.__func__ is relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
    )
