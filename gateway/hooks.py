"""Strawberry's extension hooks, found once per extension class instead of on every request.

For each stage of each request strawberry looks every extension's hook up on its class, asks `inspect`
what kind of function it is, and wraps it with `contextlib.contextmanager` (an `update_wrapper` each):
about a tenth of a small query's time, for an answer that depends only on the class. Here the answer
is kept per (class, stage), and a generator hook is entered through the very context manager class
`contextmanager` would have made, so hook order, exceptions and results are strawberry's own. Hooks
of other kinds (plain or async functions), and stream results, go through strawberry's own code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

# contextmanager(f)() and asynccontextmanager(f)() are instances of these (private, unchanged since 3.7)
_SYNC_CM: Any = contextlib._GeneratorContextManager
_ASYNC_CM: Any = contextlib._AsyncGeneratorContextManager
_NONE, _SYNC, _ASYNC, _OTHER = range(4)


_kinds: dict[tuple[object, str], tuple[int, Any]] = {}  # extension classes are a bounded few


def hook_kind(cls: type, name: str) -> tuple[int, Any]:
    """What strawberry's `get_hook` would find for stage `name` on `cls`: no hook, a generator, an async
    generator, or anything else (left to strawberry), with the function."""
    found = _kinds.get((cls, name))
    if found is None:
        found = _kinds[(cls, name)] = _kind(cls, name)
    return found


def _kind(cls: type, name: str) -> tuple[int, Any]:
    hook = getattr(cls, name)
    if hook is getattr(SchemaExtension, name):
        return _NONE, None
    if inspect.isgeneratorfunction(hook):
        return _SYNC, hook
    if inspect.isasyncgenfunction(hook):
        return _ASYNC, hook
    return _OTHER, hook


class _KnownHooks(ExtensionContextManagerBase):
    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        kind, hook = hook_kind(type(extension), self.HOOK_NAME)
        if kind == _NONE:
            return None
        if kind == _SYNC:
            return WrappedHook(extension, functools.partial(_SYNC_CM, hook, (extension,), {}), False)
        if kind == _ASYNC:
            return WrappedHook(extension, functools.partial(_ASYNC_CM, hook, (extension,), {}), True)
        return super().get_hook(extension)


class _Operation(_KnownHooks, OperationContextManager):
    pass


class _Validation(_KnownHooks, ValidationContextManager):
    pass


class _Parsing(_KnownHooks, ParsingContextManager):
    pass


class _Executing(_KnownHooks, ExecutingContextManager):
    pass


class KnownHooksRunner(SchemaExtensionsRunner):
    """strawberry's runner, with each stage's hooks found through `hook_kind`."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
