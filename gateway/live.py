"""Live fan-out over graphql-transport-ws: subscribers of the same subscription share one execution per event.

Without this, every subscriber runs its own copy of everything for every event: its own bus queue,
resolver, graphql-core execution, strawberry's result hooks and JSON encoding; about 0.2 ms each, so
1,000 subscribers of one event cost a fifth of a second of CPU. Here subscribers of the same
document, variables and operation name, acting as the same principal over the same providers, form a
*group*: the group runs one ordinary strawberry subscription (its own bus subscriber, its own
execution of each event, as one subscriber would), encodes each result's payload once, and each
member sends it under its own operation id.

What each subscriber gets is unchanged:

- Admission is its own: each subscription first runs as before (rate limit, trusted documents, sizes,
  validation, cost, scopes, the resolver's checks of its arguments) with a bus that tells when the
  resolver subscribes. A refusal is answered exactly as before. Only a subscription that reaches the
  bus without `since` joins a group; one with `since` (its own replay) keeps its own stream.
- Results are those of the same execution, so equal to what its own would have produced; the frame
  is the same JSON strawberry writes (`{"id", "type": "next", "payload"}`, errors with the member's
  own `requestId`), then `complete`.
- A member that falls `QUEUE_SIZE` frames behind (its socket does not drain) is cut off with the same
  RATE_LIMITED error as a subscriber the bus cuts off, and `complete`; the others go on.
- Its accounting is its own (`access.SubscriptionAccount`): one access-line entry and operation outcome
  when it leaves, counted among the live subscriptions while a member, each event counted as delivered
  to it, the vendor calls made for what it received on its connection's line.
- A client that asks for the cost (`X-Parley-Cost` on the upgrade) keeps its own stream, which reports it.

A member (gateway/live_members.py) holds no task and nothing of its admission: the group calls it for
each event, and it writes the event's frame to its socket. A group ends when its last member
leaves (the bus subscription goes with it), or when its stream ends (each member then gets what a
subscriber of that stream would: its last result, then `complete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation, _OperationStreamClosed
from strawberry.types.execution import ExecutionResult, PreExecutionError

from .access import AccessRecord, SubscriptionAccount, codes_of, shared_record
from .admission import TransportWSHandler
from .auth import Principal
from .context import Context, make_loaders
from .events import Bus, Event
from .leases import Leases
from .limits import COST_HEADER
from .live_members import END, FRAMES, FrameWriter, Member
from .metrics import MeteredBus

logger = logging.getLogger("parley.live")

GroupKey = tuple[int, str, str, str | None, Principal, tuple[str, ...]]


class _BusView:
    """`bus`, seen by one stream."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()

    async def publish(self, event: Event) -> Event | None:
        return await self.bus.publish(event)

    async def ping(self) -> None:
        await self.bus.ping()

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        return self.bus.subscribe(since)

    def end_subscriptions(self) -> None:
        self.bus.end_subscriptions()

    @property
    def subscriber_count(self) -> int:
        return self.bus.subscriber_count

    def leases(self) -> Leases:
        return self.bus.leases()


class JoinSignal(_BusView):
    """The bus a subscription's own stream sees while it is admitted: `subscribe()` without `since`
    marks it as one that can join a group (and then waits to be cancelled); with `since`, it is the
    real bus's, and the subscription keeps its own stream."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        return self.bus.subscribe(since) if since is not None else self._join()

    async def _join(self) -> AsyncGenerator[Event, None]:
        if not self.joined.done():
            self.joined.set_result(None)
        await asyncio.get_running_loop().create_future()  # cancelled once the handler has seen `joined`
        yield  # type: ignore[misc]  # unreachable: makes this an async generator, as a bus's subscribe is


class SharedBus(_BusView):
    """The bus a group's stream sees: each event counted as delivered to each member."""

    def __init__(self, bus: Bus, members: set[Member]) -> None:
        super().__init__(bus)
        self.members = members

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        if isinstance(self.bus, MeteredBus):
            return self.bus.subscribe(since, shared_by=self.members)
        return self.bus.subscribe(since)


def _payload(result: ExecutionResult) -> dict[str, Any]:
    """strawberry's `next` payload of a result (`Operation.send_next`)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


class Group:
    """One strawberry subscription whose results go to every member."""

    def __init__(self, hub: Hub, key: GroupKey, schema: BaseSchema, operation: Operation[Context, None], context: Context) -> None:
        self.hub, self.key = hub, key
        self.members: set[Member] = set()
        # The group's own context: the member's principal and providers, its own loaders, no request
        # limits (each member was admitted under its own), its bus counting each event once per member.
        own = replace(context, bus=SharedBus(context.bus, self.members), loaders=make_loaders(context.providers, cache=False),
                      guard=None, partial_errors=[], notices=[], shared=True, account=None)
        # its own contextvars too: the group outlives the connection that started it, whose request it is not
        self.task = asyncio.create_task(self._run(schema, operation.operation_name, own), name="parley-live-group",
                                        context=contextvars.Context())

    async def _run(self, schema: BaseSchema, operation_name: str | None, context: Context) -> None:
        end: object = END
        record = shared_record()
        try:
            source = await schema.stream(self.key[1], variable_values=orjson.loads(self.key[2]), context_value=context,
                                         operation_name=operation_name)
            async with contextlib.aclosing(source):
                async for result in source:
                    if isinstance(result, PreExecutionError):
                        end = result
                        break
                    if not isinstance(result, ExecutionResult):  # incremental delivery: not over this protocol
                        break
                    self._deliver(result, record)
        finally:
            if self.hub.groups.get(self.key) is self:
                del self.hub.groups[self.key]  # later subscribers start a new group
            for member in list(self.members):
                member.finish(end)

    def _deliver(self, result: ExecutionResult, record: AccessRecord) -> None:
        payload = _payload(result)
        calls, record.vendor_calls = record.vendor_calls, 0
        members = list(self.members)  # one whose socket is gone leaves while this runs
        if result.errors or calls:
            codes = codes_of(result.errors)
            for member in members:
                member.account.note(codes, calls)
        if result.errors:
            for member in members:
                member.deliver_own(payload)
            return
        encoded = orjson.dumps(payload)
        frames: dict[bytes, bytes] = {}
        for member in members:
            member.deliver(encoded, frames)

    def remove(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members and not self.task.done() and asyncio.current_task() is not self.task:
            self.task.cancel()
            if self.hub.groups.get(self.key) is self:
                del self.hub.groups[self.key]


class Hub:
    """The groups of one view."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, Group] = {}

    def join(self, handler: LiveTransportWSHandler, operation: Operation[Context, None], context: Context,
             account: SubscriptionAccount) -> Member:
        # orjson's bytes keep a 4 KiB buffer: the key holds text
        variables = orjson.dumps(operation.variables, option=orjson.OPT_SORT_KEYS).decode()
        key: GroupKey = (id(handler.schema), operation.query, variables, operation.operation_name, context.principal,
                         tuple(sorted(context.providers)))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(self, key, handler.schema, operation, context)
        operation.query = group.key[1]  # one copy of the document's text per group, not per member
        member = Member(handler, operation, group, account)
        group.members.add(member)
        account.open()
        return member


def hub_of(view: object) -> Hub:
    hub = getattr(view, "_parley_live_hub", None)
    if hub is None:
        hub = Hub()
        setattr(view, "_parley_live_hub", hub)
    return hub


class LiveTransportWSHandler(TransportWSHandler):
    """graphql-transport-ws with shared fan-out (module docstring); everything else as `TransportWSHandler`."""

    members: dict[str, Member] | None = None  # by operation id, once one has joined a group

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if self.context.request.headers.get(COST_HEADER, "").lower() in ("1", "true"):
            await super().run_operation(operation)
            return
        own = replace(self.context, bus=JoinSignal(self.context.bus))
        try:
            if await self._own_stream(operation, own):
                member = hub_of(self.view).join(self, operation, self.context, own.account)
                if self.members is None:
                    self.members = {}
                self.members[operation.id] = member
                return
        except _OperationStreamClosed:
            return
        except Exception as error:  # as strawberry's run_operation: logged, the operation completed
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            if own.account is not None and operation.id not in (self.members or {}):
                own.account.settle()  # stopped while it was joining: counted as its own stream would have been
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _own_stream(self, operation: Operation[Context, None], own: Context) -> bool:
        """Runs the subscription as strawberry's handler does, until it either ends (answered as before:
        False) or its resolver subscribes to the bus without `since` (True: it can join a group). Its own
        stream is closed then; nothing of it outlives this call, so a member holds only what it needs."""
        signal: JoinSignal = own.bus  # type: ignore[assignment]
        source = await self.schema.stream(operation.query, variable_values=operation.variables, context_value=own,
                                          root_value=self.root_value, operation_name=operation.operation_name)
        async with contextlib.aclosing(source):
            first: asyncio.Future[Any] = asyncio.ensure_future(anext(source, END))
            try:
                await asyncio.wait((first, signal.joined), return_when=asyncio.FIRST_COMPLETED)
                if not first.done():
                    own.account = SubscriptionAccount()  # before the stream closes: OperationMetrics fills it in
                    return True
            finally:
                if not first.done():
                    first.cancel()
                    await asyncio.wait((first,))
            signal.joined.cancel()
            if first.result() is not END:
                await self._send_result_stream(operation, _starting_with(first.result(), source))
        return False

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self.members.pop(operation_id, None) if self.members else None
        if member is not None:
            member.leave()
        await super().cleanup_operation(operation_id)

    def forget_member(self, member: Member) -> None:
        if self.members and self.members.get(member.operation.id) is member:
            del self.members[member.operation.id]

    def frame_writer(self) -> FrameWriter | None:
        scope = getattr(getattr(self.websocket, "ws", None), "scope", None) or {}
        writer: FrameWriter | None = (scope.get("extensions") or {}).get(FRAMES)
        return writer

    async def send_text(self, text: str) -> None:
        """A message already encoded (the group's payload under this member's id)."""
        await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]


async def _starting_with(first: Any, rest: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    yield first
    async for result in rest:
        yield result
