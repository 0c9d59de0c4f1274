"""A case's recorded events as a service's front door answers them (tongban.common.v1.HistoryEntry):
provenance and payload as JSON, so the window CLI, the web console and auditors read any service's
history alike. Pure mapping: no store access."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.events import RecordedEvent
from tongban.common.v1 import types_pb2


def history_entries(events: Iterable[RecordedEvent]) -> list[types_pb2.HistoryEntry]:
    return [history_entry(event) for event in events]


def history_entry(event: RecordedEvent) -> types_pb2.HistoryEntry:
    return types_pb2.HistoryEntry(
        version=event.version, event_id=event.event_id, type=event.type,
        occurred_at=_timestamp(event), recorded_at=_recorded(event), actor=event.actor.to_proto(),
        correlation_id=event.correlation_id, causation_id=event.causation_id, payload_json=payload_json(event))


def payload_json(event: RecordedEvent) -> str:
    try:
        return json_format.MessageToJson(event.message(), preserving_proto_field_name=True, indent=None,
                                         ensure_ascii=False)
    except LookupError:  # a payload type this process cannot decode: say so rather than show nothing
        return f'{{"undecodable_type": "{event.type}"}}'


def _timestamp(event: RecordedEvent) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(event.occurred_at)
    return stamp


def _recorded(event: RecordedEvent) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(event.recorded_at)
    return stamp
