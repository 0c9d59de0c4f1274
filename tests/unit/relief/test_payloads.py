"""Every relief event survives the trip to its stored protobuf payload and back, field for field."""

from __future__ import annotations

import dataclasses

import pytest

from services.common.kit.codec import current_fields
from services.relief.adapters.payloads import CODEC
from services.relief.domain.events import ALL_EVENTS
from tests.unit.marriage.test_payloads import _instance
from tongban.relief.v1 import events_pb2


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_event_round_trips_through_its_payload(cls: type) -> None:
    event = _instance(cls)
    message = CODEC.to_message(event)
    assert message.DESCRIPTOR.full_name == f"tongban.relief.v1.{cls.__name__}"
    stored = type(message).FromString(message.SerializeToString(deterministic=True))
    assert CODEC.from_message(stored) == event
    assert current_fields(type(message)) == {f.name for f in dataclasses.fields(cls)}


def test_every_event_message_has_a_domain_event() -> None:
    assert set(events_pb2.DESCRIPTOR.message_types_by_name) == {cls.__name__ for cls in ALL_EVENTS}
