"""Domain events ↔ their stored protobuf payloads (proto/tongban/marriage/v1/events.proto).

Each event dataclass has a message of the same name with the same field names, so one generic
mapping serves all: dates become tongban.common.v1.Date, nested dataclasses nested messages,
enumerations their string values, None an unset field. A field added to one side only fails the
round-trip test (tests/unit/marriage/test_payloads.py) instead of being dropped silently."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import date
from enum import Enum
from typing import Any, Union

from google.protobuf.message import Message

from services.common.events import RecordedEvent
from services.marriage.domain import events as ev
from services.marriage.domain import values
from tongban.common.v1 import types_pb2
from tongban.marriage.v1 import events_pb2

EVENT_CLASSES: tuple[type, ...] = (
    ev.MarriageApplicationReceived, ev.PartyClaimGranted, ev.PartyClaimDenied, ev.PartyClaimReleased,
    ev.MarriageRegistered, ev.MarriageRefused, ev.DivorceProceedingOpened, ev.DivorceProceedingClosed,
    ev.MarriageDissolvedByDivorce, ev.CourtJudgmentRecorded,
    ev.DivorceApplicationReceived, ev.DivorceWithdrawn, ev.CoolingOffEnded, ev.DivorcePeriodEndRescheduled,
    ev.DivorceCertificateRequested, ev.DivorceRegistered, ev.DivorceDeemedWithdrawn, ev.DivorceTerminated,
    ev.CertificateReissued, ev.MaritalStatusQueried, ev.CertificateNumberIssued,
    ev.ReissueRequested, ev.ArchiveExtractReceived, ev.ReissueRefused,
)
VALUE_CLASSES: tuple[type, ...] = (
    values.MarriageDeclaration, values.PartyRecord, values.Spouse, values.DivorceAgreement, ev.ArchiveExtract,
)

_PROTO_OF: dict[type, type[Message]] = {cls: getattr(events_pb2, cls.__name__) for cls in EVENT_CLASSES + VALUE_CLASSES}
_EVENT_OF_TYPE: dict[str, type] = {_PROTO_OF[cls].DESCRIPTOR.full_name: cls for cls in EVENT_CLASSES}


def type_name(event_class: type) -> str:
    """The stored type name (full protobuf name) of an event class."""
    return _PROTO_OF[event_class].DESCRIPTOR.full_name


def is_marriage_payload(type_name_: str) -> bool:
    return type_name_ in _EVENT_OF_TYPE


def to_message(obj: Any) -> Message:
    message = _PROTO_OF[type(obj)]()
    _fill(message, obj)
    return message


def from_message(message: Message) -> Any:
    cls = _EVENT_OF_TYPE.get(message.DESCRIPTOR.full_name)
    if cls is None:
        cls = next(c for c, p in _PROTO_OF.items() if p.DESCRIPTOR is message.DESCRIPTOR)
    return _build(cls, message)


def decode(event: RecordedEvent) -> Any:
    """A stored event's domain event."""
    cls = _EVENT_OF_TYPE.get(event.type)
    if cls is None:
        raise LookupError(f"{event.type} is not a marriage event (stream {event.stream_id} v{event.version})")
    return _build(cls, _PROTO_OF[cls].FromString(event.payload))


def _fill(message: Message, obj: Any) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, date):
            getattr(message, f.name).CopyFrom(types_pb2.Date(year=value.year, month=value.month, day=value.day))
        elif dataclasses.is_dataclass(value):
            _fill(getattr(message, f.name), value)
        elif isinstance(value, Enum):
            setattr(message, f.name, value.value)
        else:
            setattr(message, f.name, value)


def _build(cls: type, message: Message) -> Any:
    kwargs: dict[str, Any] = {}
    for name, hint in _hints(cls).items():
        target, optional = _unwrap(hint)
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


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None was allowed)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _date(message: types_pb2.Date) -> date:
    return date(message.year, message.month, message.day)
