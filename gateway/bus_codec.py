"""Events as JSON for the shared bus. Events are frozen dataclasses of the provider models; the JSON
follows their field types, so a decoded event equals the published one. Vendor data stays the JSON it
came as."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset):
        return [encode(item) for item in (sorted(value) if isinstance(value, frozenset) else value)]
    if isinstance(value, Mapping):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(kind: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return decode(inner, raw)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{name: decode(hints[name], value) for name, value in raw.items()})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw)
    if kind is datetime:
        return datetime.fromisoformat(raw)
    if origin is tuple:
        return tuple(decode(typing.get_args(kind)[0], item) for item in raw)
    if origin is frozenset:
        return frozenset(decode(typing.get_args(kind)[0], item) for item in raw)
    return raw


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    if kind not in _HINTS:
        _HINTS[kind] = typing.get_type_hints(kind)
    return _HINTS[kind]
