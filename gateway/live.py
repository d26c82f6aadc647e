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
  is the same JSON strawberry writes (`{"id", "type": "next", "payload"}`), then `complete`.
- A member that falls `QUEUE_SIZE` frames behind (its socket does not drain) is cut off with the same
  RATE_LIMITED error as a subscriber the bus cuts off, and `complete`; the others go on.
- A client that asks for the cost (`X-Parley-Cost` on the upgrade) keeps its own stream, which reports it.

A group ends when its last member leaves (the bus subscription goes with it), or when its stream ends
(each member then gets what a subscriber of that stream would: its last result, then `complete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import types
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator
from dataclasses import replace
from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation, _OperationStreamClosed
from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError

from .admission import TransportWSHandler
from .auth import Principal
from .context import Context, make_loaders
from .errors import ErrorCode, client_error
from .events import QUEUE_SIZE, Bus, Event
from .leases import Leases
from .limits import COST_HEADER

OVERFLOW_MESSAGE = f"subscriber fell more than {QUEUE_SIZE} events behind; reconnect with `since` set to your last cursor"
OVERFLOW = object()
_END = object()

GroupKey = tuple[int, str, str, str | None, Principal, tuple[str, ...]]


class JoinSignal:
    """The bus a subscription's own stream sees while it is admitted: `subscribe()` without `since`
    marks it as one that can join a group (and then waits to be cancelled); with `since`, it is the
    real bus's, and the subscription keeps its own stream."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()

    async def publish(self, event: Event) -> Event | None:
        return await self.bus.publish(event)

    async def ping(self) -> None:
        await self.bus.ping()

    def subscribe(self, since: str | None = None) -> AsyncIterator[Event]:
        return self.bus.subscribe(since) if since is not None else self._join()

    def end_subscriptions(self) -> None:
        self.bus.end_subscriptions()

    @property
    def subscriber_count(self) -> int:
        return self.bus.subscriber_count

    def leases(self) -> Leases:
        return self.bus.leases()

    async def _join(self) -> AsyncGenerator[Event, None]:
        if not self.joined.done():
            self.joined.set_result(None)
        await asyncio.get_running_loop().create_future()  # cancelled once the handler has seen `joined`
        yield  # type: ignore[misc]  # unreachable: makes this an async generator, as a bus's subscribe is


class Member:
    """One subscriber of a group. A payload is sent at once when the socket takes it without waiting
    (the usual case: no task switch per subscriber and event); while a send waits for the socket to
    drain, later payloads queue, up to QUEUE_SIZE."""

    def __init__(self, handler: LiveTransportWSHandler, operation: Operation[Context, None]) -> None:
        self.handler, self.operation = handler, operation
        self.prefix = f'{{"id":{orjson.dumps(operation.id).decode()},"type":"next","payload":'
        self.pending: deque[str] | None = None  # created on the first wait: an empty deque is 760 bytes
        self.draining: asyncio.Task[None] | None = None  # sending what waits behind a send that blocked
        self.end: object = None  # _END, a PreExecutionError, OVERFLOW, or the exception a send raised
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def push(self, payload: str | object) -> None:
        if self.end is not None:
            return
        if not isinstance(payload, str):  # the group's stream is over
            self._finish(payload)
        elif self.draining is not None:
            if self.pending is None:
                self.pending = deque()
            if len(self.pending) >= QUEUE_SIZE:
                self._finish(OVERFLOW)
            else:
                self.pending.append(payload)
        else:
            self._send(payload)

    def _send(self, payload: str) -> None:
        send = self.handler.send_text(self.prefix + payload + "}")
        try:
            waiting = send.send(None)
        except StopIteration:
            return
        except Exception as exc:  # the socket is gone
            self._finish(exc)
            return
        self.draining = asyncio.create_task(self._drain(send, waiting))

    async def _drain(self, send: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            await _resumed(send, waiting)
            while self.pending:
                await self.handler.send_text(self.prefix + self.pending.popleft() + "}")
        except Exception as exc:
            self._finish(exc)
        finally:
            self.draining = None
            if self.end is not None and not self.ended.done():
                self.ended.set_result(None)

    def _finish(self, end: object) -> None:
        self.end = end
        if self.draining is None and not self.ended.done():
            self.ended.set_result(None)

    async def run(self) -> None:
        """Holds the operation until the group ends or this member falls behind, then closes it as
        strawberry would."""
        try:
            await self.ended
        finally:
            if self.draining is not None:
                self.draining.cancel()
        if isinstance(self.end, Exception):
            return  # the connection is gone; its handler ends it
        if self.end is OVERFLOW:
            await self.handler.send_text(self.prefix + self.handler.encode(_overflow_payload()) + "}")
        elif isinstance(self.end, PreExecutionError):  # the group's stream refused to start: as strawberry answers it
            await self.operation.send_initial_errors(self.end.errors or [])
            return
        await self.operation.send_operation_message(CompleteMessage(id=self.operation.id, type="complete"))


@types.coroutine
def _resumed(send: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, None, None]:
    """Finishes a coroutine that was started by hand and suspended on `waiting` (what it yielded to
    the event loop): waits for that, then lets the coroutine go on."""
    try:
        yield waiting
    except BaseException:
        send.close()
        raise
    yield from send.__await__()


def _overflow_payload() -> dict[str, Any]:
    """What a subscriber the bus cuts off receives (the subscription resolver's error, as strawberry writes it)."""
    return {"data": None, "errors": [client_error(OVERFLOW_MESSAGE, ErrorCode.RATE_LIMITED).formatted]}


class Group:
    """One strawberry subscription whose results go to every member."""

    def __init__(self, hub: Hub, key: GroupKey, handler: LiveTransportWSHandler, operation: Operation[Context, None],
                 context: Context) -> None:
        self.hub, self.key = hub, key
        self.members: set[Member] = set()
        # its own context: the group outlives the connection that started it, whose request it is not
        self.task = asyncio.create_task(self._run(handler, operation, context), name="parley-live-group",
                                        context=contextvars.Context())

    async def _run(self, handler: LiveTransportWSHandler, operation: Operation[Context, None], context: Context) -> None:
        try:
            source = await handler.schema.stream(
                operation.query, variable_values=operation.variables, context_value=context, operation_name=operation.operation_name,
            )
            async with contextlib.aclosing(source):
                async for result in source:
                    if isinstance(result, PreExecutionError):
                        self._send(result)
                        break
                    if not isinstance(result, ExecutionResult):  # incremental delivery: not over this protocol
                        break
                    self._send(handler.encode(_payload(result)))
        finally:
            self.hub.groups.pop(self.key, None)  # later subscribers start a new group
            self._send(_END)

    def _send(self, payload: str | object) -> None:
        for member in self.members:
            member.push(payload)


def _payload(result: ExecutionResult) -> dict[str, Any]:
    """strawberry's `next` payload of a result (`Operation.send_next`)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


class Hub:
    """The groups of one view."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, Group] = {}

    async def serve(self, handler: LiveTransportWSHandler, operation: Operation[Context, None], context: Context) -> None:
        group = self._group(handler, operation, context)
        member = Member(handler, operation)
        group.members.add(member)
        try:
            await member.run()
        except WebSocketDisconnect:
            pass  # the connection's own handler ends it
        finally:
            group.members.discard(member)
            if not group.members and not group.task.done():
                group.task.cancel()
                self.groups.pop(group.key, None)

    def _group(self, handler: LiveTransportWSHandler, operation: Operation[Context, None], context: Context) -> Group:
        # orjson's bytes keep a 4 KiB buffer: the key holds text
        variables = orjson.dumps(operation.variables, option=orjson.OPT_SORT_KEYS).decode()
        key: GroupKey = (id(handler.schema), operation.query, variables, operation.operation_name, context.principal,
                         tuple(sorted(context.providers)))
        group = self.groups.get(key)
        if group is None:
            # The group's own context: the member's principal and providers, its own loaders, no request
            # limits (each member was admitted under its own).
            own = replace(context, loaders=make_loaders(context.providers, cache=False), guard=None, partial_errors=[], notices=[],
                          shared=True)
            group = self.groups[key] = Group(self, key, handler, operation, own)
        operation.query = group.key[1]  # one copy of the document's text per group, not per member
        return group


def hub_of(view: object) -> Hub:
    hub = getattr(view, "_parley_live_hub", None)
    if hub is None:
        hub = Hub()
        setattr(view, "_parley_live_hub", hub)
    return hub


class LiveTransportWSHandler(TransportWSHandler):
    """graphql-transport-ws with shared fan-out (module docstring); everything else as `TransportWSHandler`."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        context = self.context
        if context.request.headers.get(COST_HEADER, "").lower() in ("1", "true"):
            await super().run_operation(operation)
            return
        try:
            if await self._own_stream(operation):
                await hub_of(self.view).serve(self, operation, context)
        except _OperationStreamClosed:
            return
        except Exception as error:  # as strawberry's run_operation: logged, the operation completed
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def _own_stream(self, operation: Operation[Context, None]) -> bool:
        """Runs the subscription as strawberry's handler does, until it either ends (answered as before:
        False) or its resolver subscribes to the bus without `since` (True: it can join a group). Its own
        stream is closed then; nothing of it outlives this call, so a member holds only what it needs."""
        signal = JoinSignal(self.context.bus)
        source = await self.schema.stream(
            operation.query, variable_values=operation.variables, context_value=replace(self.context, bus=signal),
            root_value=self.root_value, operation_name=operation.operation_name,
        )
        async with contextlib.aclosing(source):
            first: asyncio.Future[Any] = asyncio.ensure_future(anext(source, _END))
            await asyncio.wait((first, signal.joined), return_when=asyncio.FIRST_COMPLETED)
            if not first.done():
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
                return True
            signal.joined.cancel()
            if first.result() is not _END:
                await self._send_result_stream(operation, _starting_with(first.result(), source))
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
        return False

    def encode(self, value: object) -> str:
        encoded = self.view.encode_json(value)
        return encoded if isinstance(encoded, str) else encoded.decode()

    async def send_text(self, text: str) -> None:
        """A frame already encoded (the group's payload under this member's id)."""
        await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]


async def _starting_with(first: Any, rest: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    yield first
    async for result in rest:
        yield result
