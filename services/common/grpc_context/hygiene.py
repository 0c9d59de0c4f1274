"""Hostile input answered in one place: every request of every service built by `create_server`
is decoded and checked here before its handler runs (architecture invariant 7).

- `guarded(deserializer)`: bytes that do not decode, or strings that are not UTF-8, become a
  `Refused` request instead of grpc's own INTERNAL "Exception deserializing request!";
- `admitted(request)`: the request as its handler may see it, or InvalidArgument. Walks the
  message by reflection (nested messages, repeated fields, maps), holds each field to its
  `tongban.common.v1.rules` option (proto/tongban/common/v1/validation.proto; defaults when
  unannotated, so nothing is unbounded), writes the normalised text back into the request (what
  is stored is normalised, services/common/text.py), holds every `tongban.common.v1.Date` to a
  real calendar day from 1900-01-01 (an all-zero date is cleared: no date), drops unknown fields,
  and names every problem by its dotted path ("party_a.name", "items[2].code").

The server interceptor (server.py) calls both for every method, so no service writes any of it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from services.common.errors import FieldViolation, InvalidArgument
from services.common.text import DEFAULT_MAX_LENGTH, TextKind, clean
from tongban.common.v1 import validation_pb2

DEFAULT_MAX_BYTES: Final = 256
DATE_TYPE: Final = "tongban.common.v1.Date"
EARLIEST_DATE: Final = date(1900, 1, 1)  # no request names an earlier day (issue 11)
DEFAULT_MAX_ITEMS: Final = 100
WHOLE_REQUEST: Final = "request"  # the field a violation names when no field can be named

_KINDS: Final = {
    validation_pb2.TEXT_KIND_UNSPECIFIED: TextKind.LINE,
    validation_pb2.TEXT_KIND_LINE: TextKind.LINE,
    validation_pb2.TEXT_KIND_FREE_TEXT: TextKind.FREE_TEXT,
    validation_pb2.TEXT_KIND_NAME: TextKind.NAME,
    validation_pb2.TEXT_KIND_CODE: TextKind.CODE,
}
_FLOATS: Final = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


@dataclass(frozen=True)
class Refused:
    """What a guarded deserializer hands on instead of a request that did not decode."""

    error: InvalidArgument


def guarded(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering `Refused` for bytes that are not the request (grpc would log the
    exception and answer INTERNAL, before any interceptor could say otherwise)."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except UnicodeDecodeError:
            return Refused(InvalidArgument.single(WHOLE_REQUEST, "a string field is not valid UTF-8"))
        except DecodeError as exc:
            # protobuf's message names the type and the fault ("String field had bad UTF-8"),
            # never the bytes.
            return Refused(InvalidArgument.single(WHOLE_REQUEST, f"not a valid request: {exc}"))

    return deserialize


def admitted(request: Any) -> Any:
    """The request its handler may see: decoded, every field within its rules, text normalised
    in place. Raises InvalidArgument naming every problem; the handler then never runs."""
    if isinstance(request, Refused):
        raise request.error
    if isinstance(request, Message):
        violations = list(_violations(request, ""))
        if violations:
            raise InvalidArgument(violations)
        request.DiscardUnknownFields()  # what was not checked does not reach the handler
    return request


def admitted_stream(requests: Iterator[Any]) -> Iterator[Any]:
    """A client stream whose every request is `admitted` as the handler pulls it."""
    for request in requests:
        yield admitted(request)


@dataclass(frozen=True)
class _Rules:
    max_length: int
    max_items: int
    kind: TextKind


@functools.cache
def _rules(field: FieldDescriptor) -> _Rules:
    options = field.GetOptions()
    declared = options.Extensions[validation_pb2.rules] if options.HasExtension(validation_pb2.rules) else None
    kind = _KINDS.get(declared.kind, TextKind.LINE) if declared else TextKind.LINE
    if field.type == FieldDescriptor.TYPE_BYTES:
        max_length = (declared and declared.max_length) or DEFAULT_MAX_BYTES
    else:
        max_length = (declared and declared.max_length) or DEFAULT_MAX_LENGTH[kind]
    return _Rules(max_length, (declared and declared.max_items) or DEFAULT_MAX_ITEMS, kind)


def _violations(message: Message, prefix: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():
        if field.is_extension:
            continue
        path = f"{prefix}{field.name}"
        rules = _rules(field)
        if field.is_repeated:
            if len(value) > rules.max_items:
                yield FieldViolation(path, f"at most {rules.max_items} items (got {len(value)})")
                continue
            if _is_map(field):
                yield from _map_violations(field, value, path, rules)
            else:
                for index in range(len(value)):
                    yield from _item_violations(field, value, index, f"{path}[{index}]", rules)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name == DATE_TYPE:
            if not (value.year or value.month or value.day):
                message.ClearField(field.name)  # an empty date is no date: the handler sees it unset
            else:
                yield from (FieldViolation(path, problem) for problem in _date_problems(value))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _violations(value, f"{path}.")
        else:
            problems, normalised = _scalar_problems(field, value, rules)
            if normalised is not None:
                setattr(message, field.name, normalised)
            yield from (FieldViolation(path, problem) for problem in problems)


def _item_violations(field: FieldDescriptor, items: Any, key: Any, path: str,
                     rules: _Rules) -> Iterator[FieldViolation]:
    # One element of a repeated field or one value of a map, written back where it was.
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name == DATE_TYPE:
        yield from (FieldViolation(path, problem) for problem in _date_problems(items[key]))
        return
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        yield from _violations(items[key], f"{path}.")
        return
    problems, normalised = _scalar_problems(field, items[key], rules)
    if normalised is not None:
        items[key] = normalised
    yield from (FieldViolation(path, problem) for problem in problems)


def _map_violations(field: FieldDescriptor, entries: Any, path: str, rules: _Rules) -> Iterator[FieldViolation]:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    for key in list(entries):
        shown = f"{path}[{str(key)[:32]!r}]"
        if key_field.type == FieldDescriptor.TYPE_STRING:
            normalised, problems = clean(key, TextKind.LINE)
            if normalised != key:
                problems.append("a map key must be NFC-normalised text")
            yield from (FieldViolation(f"{shown} (key)", problem) for problem in problems)
        yield from _item_violations(value_field, entries, key, shown, rules)


def _scalar_problems(field: FieldDescriptor, value: Any, rules: _Rules) -> tuple[list[str], Any]:
    """What is wrong with one scalar, and its normalised form when that differs (else None)."""
    if field.type == FieldDescriptor.TYPE_STRING:
        normalised, problems = clean(value, rules.kind, rules.max_length)
        return problems, (normalised if normalised != value else None)
    if field.type == FieldDescriptor.TYPE_BYTES and len(value) > rules.max_length:
        return [f"at most {rules.max_length} bytes (got {len(value)})"], None
    if field.type in _FLOATS and not math.isfinite(value):
        return ["must be a finite number"], None
    return [], None


def _date_problems(value: Any) -> list[str]:
    """A `tongban.common.v1.Date` must be a real calendar day, not before EARLIEST_DATE (issue 11:
    a judgment dated 0001-01-01 was stored). "Not after today" depends on the field and the clock:
    the commands say it."""
    try:
        day = date(value.year, value.month, value.day)
    except ValueError:
        return [f"not a real calendar date ({value.year:04d}-{value.month:02d}-{value.day:02d})"]
    if day < EARLIEST_DATE:
        return [f"must not be before {EARLIEST_DATE.isoformat()}"]
    return []


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
