"""An aggregate's state ↔ snapshot bytes, and the digest of its code's shape.

The state is encoded as compact JSON, guided by the dataclass's type hints on the way back (no
pickle: a store's bytes must never be able to run code). What it handles is what aggregates hold:
str, int, bool, float, None, Decimal, bytes, date, datetime, Enum, dataclasses, and lists, tuples,
sets and dicts of those. Anything else raises TypeError, and the kit then takes no snapshot of
that aggregate (a snapshot is only a cache; the log replays without it).

`shape_of` digests the field names and types, recursively, so a snapshot written by code whose
aggregate had another shape is never decoded into the new one; `Aggregate.snapshot_version` is
bumped by hand when `when` changes meaning without changing shape."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Union


def encode_state(state: Any) -> bytes:
    return json.dumps(_plain(state), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode_state(cls: type, data: bytes) -> Any:
    """The `cls` instance `data` encodes; raises (ValueError, TypeError, KeyError) when it does not."""
    return _typed(json.loads(data), cls)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, (bool, int, str, float)) and not isinstance(value, Enum)):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime):  # before date: a datetime is a date
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return [[_plain(k), _plain(v)] for k, v in value.items()]
    raise TypeError(f"a snapshot cannot hold a {type(value).__name__}")


def _typed(data: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return data
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        if len(arms) != 1:
            raise TypeError(f"a snapshot cannot tell the arms of {hint} apart")
        return _typed(data, arms[0])
    if origin is list:
        return [_typed(v, args[0] if args else Any) for v in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(v, args[0]) for v in data)
        return tuple(_typed(v, a) for v, a in zip(data, args, strict=True)) if args else tuple(data)
    if origin in (set, frozenset):
        return origin(_typed(v, args[0] if args else Any) for v in data)
    if origin is dict:
        key, val = args or (Any, Any)
        return {_typed(k, key): _typed(v, val) for k, v in data}
    if origin is not None:
        raise TypeError(f"a snapshot cannot hold a {hint}")
    if dataclasses.is_dataclass(hint):
        return _dataclass(data, hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is date:
        return date.fromisoformat(data)
    if hint is Decimal:
        return Decimal(data)
    if hint is bytes:
        return base64.b64decode(data)
    if hint in (str, int, bool, float) and isinstance(data, hint):
        return data
    if hint is float and isinstance(data, int):
        return float(data)
    raise TypeError(f"a snapshot value {data!r} is not a {hint}")


def _dataclass(data: dict[str, Any], cls: type) -> Any:
    # Every field is in the bytes: set them as they were, without running __init__ (init=False
    # fields and default factories would otherwise be rebuilt, not restored).
    if not isinstance(data, dict):
        raise TypeError(f"a snapshot of {cls.__name__} is not an object")
    hints = _hints(cls)
    obj = object.__new__(cls)
    for name, hint in hints.items():
        object.__setattr__(obj, name, _typed(data[name], hint))
    return obj


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@functools.cache
def shape_of(cls: type) -> str:
    """A digest of `cls`'s fields and their types, nested dataclasses and enum members included."""
    return hashlib.sha256(_describe(cls, frozenset()).encode()).hexdigest()[:16]


def _describe(hint: Any, seen: frozenset[Any]) -> str:
    if hint in seen:
        return f"<{getattr(hint, '__qualname__', hint)}>"
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        inner = seen | {hint}
        fields = ",".join(f"{n}:{_describe(h, inner)}" for n, h in _hints(hint).items())
        return f"{hint.__module__}.{hint.__qualname__}({fields})"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return f"{hint.__qualname__}[{','.join(repr(m.value) for m in hint)}]"
    args = typing.get_args(hint)
    if args:
        origin = typing.get_origin(hint)
        return f"{getattr(origin, '__name__', origin)}[{','.join(_describe(a, seen) for a in args)}]"
    return getattr(hint, "__qualname__", repr(hint))
