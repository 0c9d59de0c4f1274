"""Every disability event survives the trip to its stored protobuf payload and back, field for
field (a field added to only one side fails here instead of being dropped)."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date
from enum import Enum
from typing import Any

import pytest

from services.common.kit.codec import current_fields, unwrap_optional
from services.disability.adapters.payloads import CODEC, EVENT_CLASSES, VALUE_CLASSES
from tongban.disability.v1 import events_pb2


def _sample(hint: Any, seed: int) -> Any:
    target, _ = unwrap_optional(hint)
    if target is str:
        return f"value-{seed}"
    if target is bool:
        return True
    if target is int:
        return 1000 + seed
    if target is date:
        return date(2026, 1 + seed % 12, 1 + seed % 28)
    if isinstance(target, type) and issubclass(target, Enum):
        return list(target)[-1]
    if dataclasses.is_dataclass(target):
        return _instance(target)
    raise AssertionError(f"no sample for {hint}")


def _instance(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], i) for i, f in enumerate(dataclasses.fields(cls))})


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_event_round_trips_through_its_payload(cls: type) -> None:
    event = _instance(cls)
    message = CODEC.to_message(event)
    assert message.DESCRIPTOR.full_name == f"tongban.disability.v1.{cls.__name__}"
    stored = type(message).FromString(message.SerializeToString(deterministic=True))
    assert CODEC.from_message(stored) == event
    assert current_fields(type(message)) == {f.name for f in dataclasses.fields(cls)}


def test_every_event_message_has_a_domain_event() -> None:
    messages = set(events_pb2.DESCRIPTOR.message_types_by_name)
    assert messages == {cls.__name__ for cls in EVENT_CLASSES + VALUE_CLASSES}
