"""Events as the store and the wire see them: what a handler asks to append (NewEvent) and what
the store hands back (RecordedEvent), with the provenance of architecture invariant 2.

Payloads are protobuf messages from proto/, kept as bytes plus their full type name so a
store never needs to import a service's code to verify or relay an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, message_factory, symbol_database
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.envelope_wire import envelope_bytes
from tongban.common.v1 import envelope_pb2, types_pb2

ACTOR_KINDS = ("clerk", "system", "auditor")


@dataclass(frozen=True)
class Actor:
    """Who issued a command: a clerk at an office of a region, or the region's system."""

    kind: str
    clerk_id: str
    office_code: str
    region: str
    role: str

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {ACTOR_KINDS}, not {self.kind!r}")

    @classmethod
    def system(cls, region: str, component: str) -> Actor:
        return cls(kind="system", clerk_id=component, office_code="", region=region, role="system")

    def to_proto(self) -> types_pb2.Actor:
        return types_pb2.Actor(
            kind=types_pb2.Actor.Kind.Value("KIND_" + self.kind.upper()),
            clerk_id=self.clerk_id,
            office_code=self.office_code,
            region=types_pb2.RegionCode(code=self.region),
            role=self.role,
        )

    @classmethod
    def from_proto(cls, message: types_pb2.Actor) -> Actor:
        return cls(
            kind=types_pb2.Actor.Kind.Name(message.kind).removeprefix("KIND_").lower(),
            clerk_id=message.clerk_id,
            office_code=message.office_code,
            region=message.region.code,
            role=message.role,
        )


@dataclass(frozen=True)
class TraceContext:
    """W3C trace context captured with an event, carried to Kafka headers."""

    traceparent: str = ""
    tracestate: str = ""


@dataclass(frozen=True)
class NewEvent:
    """An event a handler wants appended. Ids and times are decided before it is made, so
    folding it is pure (the store adds version, recorded_at and hashes)."""

    event_id: str
    type: str
    payload: bytes
    actor: Actor
    correlation_id: str
    occurred_at: datetime
    causation_id: str = ""
    schema_version: int = 1
    trace: TraceContext = field(default_factory=TraceContext)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    @classmethod
    def from_message(
        cls,
        message: Message,
        *,
        event_id: str,
        actor: Actor,
        correlation_id: str,
        occurred_at: datetime,
        causation_id: str = "",
        schema_version: int = 1,
        trace: TraceContext | None = None,
    ) -> NewEvent:
        return cls(
            event_id=event_id,
            type=message.DESCRIPTOR.full_name,
            payload=message.SerializeToString(deterministic=True),
            actor=actor,
            correlation_id=correlation_id,
            occurred_at=occurred_at,
            causation_id=causation_id,
            schema_version=schema_version,
            trace=trace or TraceContext(),
        )


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: NewEvent plus its place in the stream and the store's log."""

    event_id: str
    stream_id: str
    stream_type: str
    version: int
    type: str
    schema_version: int
    payload: bytes
    occurred_at: datetime
    recorded_at: datetime
    region: str
    service: str
    actor: Actor
    correlation_id: str
    causation_id: str
    trace: TraceContext
    prev_hash: bytes
    hash: bytes
    position: int
    global_hash: bytes

    def message(self) -> Message:
        """The payload decoded as its protobuf type (the type's module must be imported)."""
        return decode_payload(self.type, self.payload)

    def payload_json(self) -> dict[str, Any]:
        return json_format.MessageToDict(self.message(), preserving_proto_field_name=True)

    def to_envelope(self) -> envelope_pb2.EventEnvelope:
        return envelope_pb2.EventEnvelope(
            event_id=self.event_id,
            stream_id=self.stream_id,
            stream_type=self.stream_type,
            version=self.version,
            type=self.type,
            schema_version=self.schema_version,
            payload=self.payload,
            occurred_at=_timestamp(self.occurred_at),
            recorded_at=_timestamp(self.recorded_at),
            region=types_pb2.RegionCode(code=self.region),
            service=self.service,
            actor=self.actor.to_proto(),
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            trace=envelope_pb2.TraceContext(
                traceparent=self.trace.traceparent, tracestate=self.trace.tracestate
            ),
            prev_hash=self.prev_hash,
            hash=self.hash,
            position=self.position,
            global_hash=self.global_hash,
        )

    def to_bytes(self) -> bytes:
        """The envelope's deterministic protobuf bytes, written directly (envelope_wire.py)."""
        return envelope_bytes(self)

    @classmethod
    def from_envelope(cls, env: envelope_pb2.EventEnvelope) -> RecordedEvent:
        return cls(
            event_id=env.event_id,
            stream_id=env.stream_id,
            stream_type=env.stream_type,
            version=env.version,
            type=env.type,
            schema_version=env.schema_version,
            payload=env.payload,
            occurred_at=from_micros(micros_of_timestamp(env.occurred_at)),
            recorded_at=from_micros(micros_of_timestamp(env.recorded_at)),
            region=env.region.code,
            service=env.service,
            actor=Actor.from_proto(env.actor),
            correlation_id=env.correlation_id,
            causation_id=env.causation_id,
            trace=TraceContext(env.trace.traceparent, env.trace.tracestate),
            prev_hash=env.prev_hash,
            hash=env.hash,
            position=env.position,
            global_hash=env.global_hash,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> RecordedEvent:
        env = envelope_pb2.EventEnvelope()
        env.ParseFromString(data)
        return cls.from_envelope(env)


def decode_payload(type_name: str, payload: bytes) -> Message:
    try:
        descriptor = symbol_database.Default().pool.FindMessageTypeByName(type_name)
    except KeyError as exc:
        raise LookupError(f"unknown payload type {type_name!r}: import its *_pb2 module first") from exc
    message = message_factory.GetMessageClass(descriptor)()
    message.ParseFromString(payload)
    return message


# Times are kept as whole microseconds since the Unix epoch (UTC) in the store and in hashes:
# exact on every backend, so a hash computed on SQLite verifies on PostgreSQL and on Kafka.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: Tongban only stores timezone-aware instants")
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=micros)


def micros_of_timestamp(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def _timestamp(instant: datetime) -> Timestamp:
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
