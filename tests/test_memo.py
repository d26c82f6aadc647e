"""gateway.memo: what is kept is found only for the same objects and equal values, and variables that
JSON cannot stand for exactly are never a key."""

from __future__ import annotations

from gateway.identity import MISSING, Memo
from gateway.memo import MAX_VARIABLES_BYTES, round_trips, variables_key


def test_a_result_is_found_for_the_same_objects_and_values_only() -> None:
    memo = Memo(2)
    a, b = object(), object()
    memo.put((a,), ("x", b"1"), 1)
    assert memo.get((a,), ("x", b"1")) == 1
    assert memo.get((b,), ("x", b"1")) is MISSING and memo.get((a,), ("y", b"1")) is MISSING
    memo.put((b,), ("x", b"1"), 2)
    memo.get((a,), ("x", b"1"))  # used: the entry for b is now the oldest
    memo.put((b,), ("z", b"1"), 3)
    assert memo.get((b,), ("x", b"1")) is MISSING and memo.get((a,), ("x", b"1")) == 1


def test_variables_that_json_would_blur_are_not_keys() -> None:
    assert variables_key({"b": 1, "a": [True, None]}) == variables_key({"a": [True, None], "b": 1})
    assert variables_key({"a": 1}) != variables_key({"a": 1.0}) != variables_key({"a": True})
    for blurred in ({"a": float("nan")}, {"a": (1, 2)}):
        key = variables_key(blurred)
        assert key is None or not round_trips(key, blurred)
    assert variables_key({"a": object()}) is None
    assert variables_key({"a": "x" * MAX_VARIABLES_BYTES}) is None
    key = variables_key({"a": [1, "x"]})
    assert key is not None and round_trips(key, {"a": [1, "x"]})
