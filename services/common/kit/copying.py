"""Copying an aggregate's state before events are applied to it (`Aggregate.applied`), as cheaply
as its fields allow.

`applied` must leave the loaded state untouched (it is the base of the expected version), so it
used `copy.deepcopy`: a tenth of a registry decision's CPU, most of it walking values that can
never change (strings, dates, frozen dataclasses). `when` only assigns: to a field, or to an item
of a dict, list or set field. So for a class whose fields are all values, or dicts, lists and sets
of values, a copy of the object with each such container copied once is as independent as a deep
copy. Which kind a class is, is read once from its type hints; a class with anything else (a
mutable object in a field, a container of containers) is deep-copied as before."""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

_VALUES = (str, int, bool, float, bytes, date, datetime, Decimal, type(None))
_CONTAINERS = (dict, list, set)


def copied(state: T) -> T:
    """A copy of `state` that `when` can assign into without changing `state`."""
    containers = _containers(type(state))
    if containers is None:
        return copy.deepcopy(state)
    clone = copy.copy(state)
    fields = clone.__dict__
    for name in containers:
        value = fields[name]
        if value is not None:
            fields[name] = value.copy()
    return clone


@functools.cache
def _containers(cls: type) -> tuple[str, ...] | None:
    """The fields of `cls` to copy one level deep, or None when only a deep copy will do."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__slots__"):
        return None
    hints = typing.get_type_hints(cls)
    containers: list[str] = []
    for f in dataclasses.fields(cls):
        if is_value(hints[f.name]):
            continue
        hint = _without_none(hints[f.name])
        if typing.get_origin(hint) in _CONTAINERS and all(is_value(a) for a in typing.get_args(hint)):
            containers.append(f.name)
            continue
        return None
    return tuple(containers)


def is_value(hint: Any) -> bool:
    """Whether a field of this type can never change once made: immutable scalars, enums, literals,
    tuples and frozensets of values, frozen dataclasses of values, unions of values."""
    origin = typing.get_origin(hint)
    if hint in _VALUES or origin is Literal or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        return True
    if origin in (Union, types.UnionType):
        return all(is_value(a) for a in typing.get_args(hint))
    if origin in (tuple, frozenset):
        return all(is_value(a) for a in typing.get_args(hint) if a is not Ellipsis)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return bool(hint.__dataclass_params__.frozen) and all(  # type: ignore[attr-defined]
            is_value(hints[f.name]) for f in dataclasses.fields(hint))
    return False


def _without_none(hint: Any) -> Any:
    """The type inside `X | None` (a container that may be absent is still a container)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
