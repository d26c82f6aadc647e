"""The vendor calls a valid operation may make, estimated from its document and variables before any
is made (`estimate`).

Each provider declares what its operations cost (`providers.CallCosts`); this walks the operation
with graphql-core's types and argument coercion (aliases, fragments, inline fragments, variables and
@skip/@include as execution would read them) and adds up:

- `conversations(first)`: per provider in scope (the client's providers, narrowed by a `providers` or
  `vendors` filter) its listing calls, times the listing rounds when the filter is applied after
  fetching (then the rows those rounds read, with the fields the filter needs), times 1 + the
  refill rounds when a cursor is given; plus `first` rows at the costliest provider's reads for the
  fields selected, plus what each row's selection costs (`messages`, ...).
- `conversation(id)` / `node(id)`: the provider named by the id (every provider in scope when the id
  does not say), one read with the selected fields' reads (an id alone too: an unknown one is
  NOT_FOUND), none when only the id's own parts and messages are selected (the page tells an unknown
  id); a Message id scans its conversation's messages.
- `messages(first)`: a page per conversation, plus `first` times what each message selects;
  `Message.conversation` is one full read per page, not per message (the request's loader reads a
  conversation once).
- each mutation: its provider's declared calls plus those per message or tag given, plus what its
  payload selects (`lastMessage` of a written conversation is a page read).
- `providers { healthy }`: a probe per provider; a sign-in per provider touched.

Subscriptions cost nothing here: they call vendors per event, not per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values, get_variable_values
from strawberry.relay import GlobalID, GlobalIDValueError

from providers import Capability, Provider, call_costs
from providers.costs import CallCosts

from .inbox import REFILL_ROUNDS
from .queries import MAX_MESSAGE_SCAN, WITHOUT_READING
from .selection import model_field
from .types import MAX_PAGE_SIZE

NATIVE_FILTERS = {  # ConversationFilter field -> the capability of applying it at the vendor
    "status": Capability.FILTER_STATUS,
    "priority": Capability.FILTER_PRIORITY,
    "channel": Capability.FILTER_CHANNEL,
    "tags": Capability.FILTER_TAGS,
    "assigneeId": Capability.FILTER_ASSIGNEE,
    "queueId": Capability.FILTER_QUEUE,
    "remoteId": Capability.FILTER_IDS,
    "campaign": Capability.FILTER_CAMPAIGN,
    "search": Capability.FILTER_SEARCH,
    "active": Capability.FILTER_ACTIVE,
    "createdAfter": Capability.FILTER_CREATED_AFTER,
    "createdBefore": Capability.FILTER_CREATED_BEFORE,
    "updatedAfter": Capability.FILTER_UPDATED_AFTER,
    "updatedBefore": Capability.FILTER_UPDATED_BEFORE,
}
FILTER_READS = {  # the Conversation fields a filter applied after fetching needs read
    "tags": {"tags"}, "search": {"customer", "last_message"}, "assigneeId": {"assignee"}, "queueId": {"queue"},
    "campaign": {"campaign"}, "active": {"active"}, "channel": {"channel"}, "priority": {"priority"}, "status": {"status"},
}
# Mutation -> (Provider method, argument naming the conversation or provider, argument counted per item)
MUTATIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...] | None]] = {
    "createConversation": ("create_conversation", ("input", "provider"), ("input", "messages")),
    "addMessages": ("add_messages", ("conversationId",), ("messages",)),
    "updateConversation": ("update_conversation", ("id",), None),
    "assignConversation": ("assign", ("id",), None),
    "routeConversation": ("route", ("id",), None),
    "addTags": ("add_tags", ("id",), ("tags",)),
    "removeTags": ("remove_tags", ("id",), ("tags",)),
    "setBotActive": ("set_bot_active", ("id",), None),
    "setFeedback": ("set_feedback", ("id",), None),
    "setLatestPageUrl": ("set_latest_page_url", ("id",), None),
    "closeConversation": ("close", ("id",), None),
}
QUERIES = frozenset({"conversations", "conversation", "node", "providers"})  # the root queries costed here
# Root fields that call no vendor within the request: migrations are read from the store, and a job's
# vendor calls run in the background under its own pacing (gateway/migrate), not the request's.
NO_VENDOR_CALLS = frozenset({"migration", "migrations", "startMigration", "cancelMigration"})


@dataclass(frozen=True)
class Cost:
    """`each`: calls per object; `once`: calls per conversation whose messages these are (its read)."""

    each: int = 0
    once: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.each + other.each, self.once + other.once)

    def total(self, count: int = 1) -> int:
        return self.each * count + self.once


NOTHING = Cost()


@dataclass(frozen=True)
class Scope:
    """Where the objects being costed may come from; `whole`: conversations already read in full."""

    providers: tuple[Provider, ...]
    whole: bool = False

    def narrowed(self, names: Iterable[str]) -> Scope:
        wanted = set(names)
        return Scope(tuple(p for p in self.providers if p.name in wanted), self.whole)

    def most(self, of: Callable[[CallCosts], int]) -> int:
        """The largest `of(costs)` across the providers (0 when none)."""
        return max((of(call_costs(p)) for p in self.providers), default=0)


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    providers: Sequence[Provider],
) -> int | None:
    """The vendor calls the operation may make with `providers` in scope; None when its variables do not
    coerce (execution then refuses it before any call)."""
    operation = _operation(document, operation_name)
    if operation is None or operation.operation is OperationType.SUBSCRIPTION:
        return 0
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables or {}))
    if isinstance(coerced, list):
        return None
    walker = _Walker(schema, document, coerced)
    root = schema.mutation_type if operation.operation is OperationType.MUTATION else schema.query_type
    assert root is not None
    cost = walker.selections(operation.selection_set, root, Scope(tuple(providers))).total()
    return cost + sum(call_costs(p).session for p in providers if p.name in walker.touched)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


class _Walker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.touched: set[str] = set()

    # ---- selections -----------------------------------------------------------------------------

    def fields(self, selection_set: SelectionSetNode | None, type_: GraphQLObjectType) -> list[FieldNode]:
        """The fields selected on an object of `type_` (fragments that apply to it followed, skipped ones left)."""
        found: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition.name.value if selection.type_condition else None, type_):
                    found.extend(self.fields(selection.selection_set, type_))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and self._applies(fragment.type_condition.name.value, type_):
                    found.extend(self.fields(fragment.selection_set, type_))
        return found

    def selections(self, selection_set: SelectionSetNode | None, type_: GraphQLObjectType, scope: Scope) -> Cost:
        cost = NOTHING
        for node in self.fields(selection_set, type_):
            definition = type_.fields.get(node.name.value)
            if definition is not None:
                cost += self.field(type_, node, definition, scope)
        return cost

    def field(self, parent: GraphQLObjectType, node: FieldNode, definition: GraphQLField, scope: Scope) -> Cost:
        name, args = node.name.value, self._arguments(definition, node)
        if parent is self.schema.query_type and name in QUERIES:
            return Cost(self._query(name, node, definition, args, scope))
        if parent is self.schema.mutation_type:
            return Cost(self._mutation(name, node, definition, args, scope))
        if parent.name == "Conversation" and name == "messages":
            return Cost(self._messages(node, definition, args, scope))
        if parent.name == "Conversation" and name == "lastMessage":
            page = scope.most(lambda c: c.messages) if scope.whole else 0
            self._touch(scope, page)
            return Cost(page + self.value(node, definition, scope).total())
        if parent.name == "Message" and name == "conversation":
            read = scope.most(lambda c: c.by_id(None))
            self._touch(scope, read)
            return Cost(0, read + self.value(node, definition, Scope(scope.providers, whole=True)).total())
        if parent.name == "Provider" and name == "healthy":
            self._touch(scope, 1)
            return Cost(scope.most(lambda c: c.probe))
        return self.value(node, definition, scope)

    def value(self, node: FieldNode, definition: GraphQLField, scope: Scope) -> Cost:
        """What the selection under a field costs per object it returns (the most of an abstract type's kinds)."""
        named = get_named_type(definition.type)
        if isinstance(named, GraphQLObjectType):
            return self.selections(node.selection_set, named, scope)
        if is_abstract_type(named):
            kinds = self.schema.get_possible_types(named)
            costs = (self.selections(node.selection_set, kind, scope) for kind in kinds)
            return max(costs, key=lambda c: c.total(), default=NOTHING)
        return NOTHING

    # ---- fields that call vendors -----------------------------------------------------------------

    def _query(self, name: str, node: FieldNode, definition: GraphQLField, args: dict[str, Any], scope: Scope) -> int:
        if name == "conversations":
            return self._conversations(node, definition, args, scope)
        if name == "providers":
            return sum(self.value(node, definition, Scope((p,))).total() for p in scope.providers)
        return self._by_id(node, args.get("id"), scope, node_field=name == "node")

    def _conversations(self, node: FieldNode, definition: GraphQLField, args: dict[str, Any], scope: Scope) -> int:
        first = args.get("first")  # coerced with the schema's default
        if not isinstance(first, int) or not 1 <= first <= MAX_PAGE_SIZE:
            return 0  # refused before listing
        filter = args.get("filter") or {}
        chosen = self._filtered(scope, filter)
        if not chosen.providers:
            return 0
        rows, per_row = self._page_items(node, definition, chosen)
        wanted = _selected(rows)
        listing = 0
        for provider in chosen.providers:
            costs = call_costs(provider)
            listing += _listing(costs, provider, filter, first, wanted, refills=args.get("after") is not None)
        reads = chosen.most(lambda c: c.row_reads(wanted))
        self._touch(chosen, listing + reads)
        return listing + first * (reads + per_row.total())

    def _by_id(self, node: FieldNode, raw_id: Any, scope: Scope, *, node_field: bool) -> int:
        kind, provider = _id_parts(raw_id)
        if provider is not None:
            scope = scope.narrowed([provider])
        kinds = [k for k in ("Conversation", "Message") if (node_field or k == "Conversation") and kind in (None, k)]
        costs = []
        for kind_name in kinds:
            type_ = self.schema.get_type(kind_name)
            assert isinstance(type_, GraphQLObjectType)
            fields = self.fields(node.selection_set, type_)
            below = self.selections(node.selection_set, type_, scope).total()
            if kind_name == "Conversation":
                selected = _selected([fields])
                # Even an id alone is read (an unknown one is NOT_FOUND), unless a messages page tells it.
                paged = not node_field and any(f.name.value == "messages" for f in fields)
                read = 0 if selected <= WITHOUT_READING and paged else scope.most(lambda c: c.by_id(selected))
            else:
                read = scope.most(lambda c: c.messages) * (MAX_MESSAGE_SCAN // MAX_PAGE_SIZE)
            self._touch(scope, read + below)
            costs.append(read + below)
        return max(costs, default=0)

    def _messages(self, node: FieldNode, definition: GraphQLField, args: dict[str, Any], scope: Scope) -> int:
        first = args.get("first")
        if not isinstance(first, int) or not 1 <= first <= MAX_PAGE_SIZE:
            return 0
        page = scope.most(lambda c: c.messages)
        _, per_message = self._page_items(node, definition, Scope(scope.providers))
        self._touch(scope, page)
        return page + per_message.total(first)

    def _mutation(self, name: str, node: FieldNode, definition: GraphQLField, args: dict[str, Any], scope: Scope) -> int:
        if name not in MUTATIONS:
            return 0
        operation, target, counted = MUTATIONS[name]
        named = _dig(args, target)
        provider = named if target == ("input", "provider") else _id_parts(named)[1]
        if not isinstance(provider, str):
            return 0  # refused as invalid input before any call
        scope = Scope(scope.narrowed([provider]).providers, whole=True)
        items = _dig(args, counted) if counted else None
        count = len(items) if isinstance(items, list | tuple) else 0
        write = scope.most(lambda c: c.write(operation, count))
        payload = self.value(node, definition, scope).total()
        self._touch(scope, write + payload)
        return write + payload

    # ---- helpers --------------------------------------------------------------------------------

    def _page_items(self, node: FieldNode, definition: GraphQLField, scope: Scope) -> tuple[list[list[FieldNode]], Cost]:
        """A connection's item selections (`edges { node }`), and what one item's selection costs."""
        connection = get_named_type(definition.type)
        assert isinstance(connection, GraphQLObjectType)
        selections: list[list[FieldNode]] = []
        cost = NOTHING
        for edges in self.fields(node.selection_set, connection):
            if edges.name.value != "edges":
                continue
            edge = get_named_type(connection.fields["edges"].type)
            assert isinstance(edge, GraphQLObjectType)
            for inner in self.fields(edges.selection_set, edge):
                if inner.name.value == "node":
                    item_type = get_named_type(edge.fields["node"].type)
                    assert isinstance(item_type, GraphQLObjectType)
                    selections.append(self.fields(inner.selection_set, item_type))
                    cost += self.selections(inner.selection_set, item_type, scope)
        return selections, cost

    def _filtered(self, scope: Scope, filter: Mapping[str, Any]) -> Scope:
        """The providers a `providers` or `vendors` filter leaves."""
        names, vendors = filter.get("providers"), filter.get("vendors")
        return scope.narrowed(
            p.name for p in scope.providers if (names is None or p.name in names) and (vendors is None or p.vendor in vendors)
        )

    def _touch(self, scope: Scope, calls: int) -> None:
        if calls:
            self.touched.update(p.name for p in scope.providers)

    def _arguments(self, definition: GraphQLField, node: FieldNode) -> dict[str, Any]:
        try:
            return get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return {}  # execution reports it, before this field calls anything

    def _included(self, node: Any) -> bool:
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
            include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        except GraphQLError:
            return True
        return not (skip and skip.get("if")) and not (include and include.get("if") is False)

    def _applies(self, condition: str | None, type_: GraphQLObjectType) -> bool:
        if condition is None or condition == type_.name:
            return True
        abstract = self.schema.get_type(condition)
        return isinstance(abstract, GraphQLInterfaceType | GraphQLUnionType) and self.schema.is_sub_type(abstract, type_)


def _listing(
    costs: CallCosts, provider: Provider, filter: Mapping[str, Any], first: int, wanted: frozenset[str], *, refills: bool
) -> int:
    """One provider's listing calls for a page of `first` (and the reads a filter applied after fetching needs)."""
    given = [name for name in NATIVE_FILTERS if filter.get(name) is not None]
    scanned = [name for name in given if NATIVE_FILTERS[name] not in provider.capabilities]
    rounds = 1 + REFILL_ROUNDS if refills else 1
    if not scanned:
        return costs.listing(first) * rounds
    rows = max(first, costs.scan_rows)
    needs = frozenset().union(*(FILTER_READS.get(name, set()) for name in scanned)) | wanted
    return costs.scan_rounds * (costs.listing(rows) * rounds + rows * costs.row_reads(needs))


def _selected(selections: Iterable[list[FieldNode]]) -> frozenset[str]:
    return frozenset(name for fields in selections for f in fields if (name := model_field(f.name.value)) is not None)


def _id_parts(raw: Any) -> tuple[str | None, str | None]:
    """(type name, provider) an id names; (None, None) when it names neither."""
    if not isinstance(raw, str):
        return None, None
    try:
        gid = GlobalID.from_id(raw)
    except GlobalIDValueError:
        return None, None
    provider, sep, rest = gid.node_id.partition(":")
    return gid.type_name, provider if sep and provider and rest else None


def _dig(args: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = args
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)
    return value
