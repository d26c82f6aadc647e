"""Checks that a vendor's JSON has the types its docs give, field by field, before it is mapped.

Mappers read REST answers leniently (a missing field is `None`), but a webhook body is pushed at
Parley by whoever knows the URL: a number where the vendor sends a string id, or an object where it
sends a list, must be refused naming the field, not mapped into a wrong event or a crash later.

A shape is a tuple of Python types (a leaf: `bool` is never taken for `int`), a dict of field shapes
(an object; fields it does not name are not checked), or a one-item list (a list of that shape).
`null` and absent fields pass: which fields must be there is the mapper's to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

Shape: TypeAlias = tuple[type, ...] | Mapping[str, Any] | list[Any]

TEXT: Shape = (str,)
WHOLE: Shape = (int,)
NUMBER: Shape = (int, float)
FLAG: Shape = (bool,)
SCALAR: Shape = (str, int, float, bool)

KIND_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


class ShapeError(ValueError):
    """A field of another type than the vendor documents; the message names the field, not its value."""


def check(value: object, shape: Shape, where: str) -> None:
    if value is None:
        return
    if isinstance(shape, Mapping):
        if not isinstance(value, Mapping):
            raise _wrong(where, "an object", value)
        for name, inner in shape.items():
            check(value.get(name), inner, f"{where}.{name}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        for index, item in enumerate(value):
            check(item, shape[0], f"{where}[{index}]")
    elif not isinstance(value, shape) or (isinstance(value, bool) and bool not in shape):
        raise _wrong(where, " or ".join(KIND_NAMES[kind] for kind in shape if not (kind is int and float in shape)), value)


def _wrong(where: str, expected: str, value: object) -> ShapeError:
    return ShapeError(f"{where}: expected {expected}, got {_kind(value)}")


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return next((name for kind, name in reversed(KIND_NAMES.items()) if isinstance(value, kind)), type(value).__name__)
