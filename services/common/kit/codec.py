"""Domain events ↔ stored protobuf payloads, with upcasting on read.

Each event dataclass has a message of the same name in the service's events proto, field for
field, so one generic mapping serves every service: dates become tongban.common.v1.Date, nested
dataclasses nested messages, enumerations their string values, None an unset field.

**Versions.** Every stored event carries the `schema_version` of its payload. When an event's
shape changes, its version goes up and an upcaster is registered that turns a payload of the
version before into the current one (eventsourcing's `class_version` and `upcast_vN_vN+1`).
The fields a new version no longer uses stay in the message, marked `[deprecated = true]`, so
old rows still parse; the upcaster moves their values where the new shape wants them. Rows in
the store are never rewritten (their hashes cover the bytes as written): upcasting happens on
every read, and what is appended is always the current version."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from enum import Enum
from typing import Any, Union

from google.protobuf.message import Message

from services.common.events import NewEvent, RecordedEvent
from services.common.kit.provenance import Provenance
from tongban.common.v1 import types_pb2

# Turns a payload of version N (parsed with the current message type) into version N+1, in place.
Upcaster = Callable[[Message], None]


# Domain events kept decoded per codec (PayloadCodec.decode): some two thousand cases' worth, a few MB.
DECODED_KEPT = 10_000


class UnknownSchemaVersion(LookupError):
    """A stored payload of a version this code cannot read: written by a newer release, or with an
    upcaster missing. Refused rather than guessed."""


class PayloadCodec:
    """The codec of one service's events. `messages` is the generated `*_pb2` module holding a
    message named after each class; `versions` gives the current schema version of the classes
    whose shape changed (1 for the others); `upcasters[(cls, n)]` upcasts version n to n + 1."""

    def __init__(self, messages: types.ModuleType, event_classes: Iterable[type],
                 value_classes: Iterable[type] = (), *, versions: Mapping[type, int] | None = None,
                 upcasters: Mapping[tuple[type, int], Upcaster] | None = None) -> None:
        self.event_classes: tuple[type, ...] = tuple(event_classes)
        self.value_classes: tuple[type, ...] = tuple(value_classes)
        self._proto_of: dict[type, type[Message]] = {
            cls: getattr(messages, cls.__name__) for cls in self.event_classes + self.value_classes}
        self._event_of_type: dict[str, type] = {
            self._proto_of[cls].DESCRIPTOR.full_name: cls for cls in self.event_classes}
        self._versions = dict(versions or {})
        self._upcasters = dict(upcasters or {})
        self._decoded: dict[bytes, Any] = {}  # chain hash → domain event (decode)
        for cls, current in self._versions.items():
            missing = [n for n in range(1, current) if (cls, n) not in self._upcasters]
            if missing:
                raise ValueError(f"{cls.__name__} is at version {current} but has no upcaster from {missing}")
        _LOADED.add(self)

    @staticmethod
    def loaded() -> list[PayloadCodec]:
        """Every codec built in this process: what an auditor's tool replays streams with."""
        return list(_LOADED)

    # -- names and versions ----------------------------------------------------------------------

    def type_name(self, event_class: type) -> str:
        """The stored type name (full protobuf name) of an event class."""
        return self._proto_of[event_class].DESCRIPTOR.full_name

    def owns(self, type_name: str) -> bool:
        return type_name in self._event_of_type

    def schema_version(self, event_class: type) -> int:
        return self._versions.get(event_class, 1)

    # -- writing ---------------------------------------------------------------------------------

    def to_message(self, obj: Any) -> Message:
        message = self._proto_of[type(obj)]()
        _fill(message, obj)
        return message

    def new_event(self, obj: Any, provenance: Provenance) -> NewEvent:
        """The NewEvent that records `obj` with `provenance`, at the current schema version of its
        class."""
        return provenance.new_event(self.to_message(obj), schema_version=self.schema_version(type(obj)))

    # -- reading ---------------------------------------------------------------------------------

    def from_message(self, message: Message) -> Any:
        """A current-version message (an event's, or a value's) as its dataclass."""
        cls = self._event_of_type.get(message.DESCRIPTOR.full_name)
        if cls is None:
            cls = next(c for c, p in self._proto_of.items() if p.DESCRIPTOR is message.DESCRIPTOR)
        return _build(cls, message)

    def decode(self, event: RecordedEvent) -> Any:
        """A stored event as its current domain event, upcast from the version it was written in.

        Kept by the event's chain hash, which covers its type, version and payload: a case is
        loaded by each of the decisions and steps that follow it, and decoding its events again
        each time was half of loading it. Sharing is safe because domain events are frozen and hold
        only values (`_build` makes no containers); bounded, and emptied whole when full."""
        key: bytes = getattr(event, "hash", b"")  # anything with a type, version and payload decodes
        found = self._decoded.get(key) if key else None
        if found is not None:
            return found
        cls = self._event_of_type.get(event.type)
        if cls is None:
            raise LookupError(f"{event.type} is not an event of this service "
                              f"(stream {event.stream_id} v{event.version})")
        built = _build(cls, self.upcast(cls, event.schema_version, self._proto_of[cls].FromString(event.payload)))
        if key:
            if len(self._decoded) >= DECODED_KEPT:
                self._decoded.clear()
            self._decoded[key] = built
        return built

    def upcast(self, cls: type, version: int, message: Message) -> Message:
        current = self.schema_version(cls)
        if not 1 <= version <= current:
            raise UnknownSchemaVersion(f"{cls.__name__} payload of schema version {version}; this code reads "
                                       f"versions 1 to {current}")
        for n in range(version, current):
            self._upcasters[(cls, n)](message)
        return message


_LOADED: weakref.WeakSet[PayloadCodec] = weakref.WeakSet()


# -- the generic mapping ---------------------------------------------------------------------------


def _fill(message: Message, obj: Any) -> None:
    for name in _field_names(type(obj)):
        value = getattr(obj, name)
        if value is None:
            continue
        kind = _KIND.get(type(value)) or _kind_of(type(value))
        if kind is _PLAIN:
            setattr(message, name, value)
        elif kind is _ENUM:
            setattr(message, name, value.value)
        elif kind is _DATE:
            getattr(message, name).CopyFrom(types_pb2.Date(year=value.year, month=value.month, day=value.day))
        else:
            _fill(getattr(message, name), value)


# How a field's value goes into its message, decided once per value type: asking `dataclasses`
# for every field of every event it records was a tenth of a registration's CPU (issue 15).
_PLAIN, _ENUM, _DATE, _NESTED = "plain", "enum", "date", "nested"
_KIND: dict[type, str] = {}


def _kind_of(value_type: type) -> str:
    if issubclass(value_type, date):
        kind = _DATE
    elif dataclasses.is_dataclass(value_type):
        kind = _NESTED
    elif issubclass(value_type, Enum):
        kind = _ENUM
    else:
        kind = _PLAIN
    _KIND[value_type] = kind
    return kind


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _build(cls: type, message: Message) -> Any:
    kwargs: dict[str, Any] = {}
    for name, hint in _hints(cls).items():
        target, optional = unwrap_optional(hint)
        if target is date:
            kwargs[name] = _date(getattr(message, name)) if message.HasField(name) else None
        elif dataclasses.is_dataclass(target):
            kwargs[name] = _build(target, getattr(message, name)) if message.HasField(name) else None
        elif isinstance(target, type) and issubclass(target, Enum):
            raw = getattr(message, name)
            kwargs[name] = target(raw) if raw or not optional else None
        else:
            kwargs[name] = getattr(message, name)
    return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None was allowed)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def current_fields(message_type: type[Message]) -> set[str]:
    """The fields of a message that the current version uses (deprecated ones are only read by
    upcasters)."""
    return {f.name for f in message_type.DESCRIPTOR.fields if not f.GetOptions().deprecated}


def _date(message: types_pb2.Date) -> date:
    return date(message.year, message.month, message.day)
