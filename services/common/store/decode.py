"""Stored rows to RecordedEvent objects, fast: loading a long stream is mostly this and the fetch.
(`row_to_event` decodes a single Core row of `select(events)`; `event_to_row` is its inverse, the
event as the columns that hold it.)

Building a frozen dataclass goes through object.__setattr__ once per field (19 for RecordedEvent),
about a third of decoding a stream. The rows hold the stored values, so the decoder fills each
instance's __dict__ at once instead — the same object the constructor makes (equal, hashed
alike, just as immutable) — but only while RecordedEvent is exactly the plain dataclass it knows:
the same fields in the same order, no __slots__, no __post_init__ (checked once, at import).
Otherwise it calls the constructor. Timestamps repeat within a batch (one recorded_at per append),
so each distinct value becomes a datetime once per page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row

from services.common.events import Actor, RecordedEvent, TraceContext, from_micros, to_micros

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = ("event_id", "stream_id", "stream_type", "version", "type", "schema_version", "payload",
           "occurred_at", "recorded_at", "region", "service", "actor", "correlation_id", "causation_id",
           "trace", "prev_hash", "hash", "position", "global_hash")
DICT_FILL = (tuple(getattr(RecordedEvent, "__dataclass_fields__", ())) == _FIELDS
              and "__slots__" not in vars(RecordedEvent) and not hasattr(RecordedEvent, "__post_init__"))


def events_from_tuples(rows: Iterable[Sequence[Any]]) -> list[RecordedEvent]:
    """Decode rows holding every `events` column in table order (driver tuples or Core rows of
    `select(events)`): by index, with each distinct actor and instant built once per page."""
    actors: dict[tuple[Any, ...], Actor] = {}
    instants: dict[int, datetime] = {}
    out: list[RecordedEvent] = []
    append = out.append
    new, set_attribute = object.__new__, object.__setattr__
    for (position, event_id, stream_id, stream_type, version, type_, schema_version, payload, occurred_us,
         recorded_us, region, service, a_kind, a_clerk, a_office, a_region, a_role, correlation_id,
         causation_id, traceparent, tracestate, prev_hash, hash_, global_hash_) in rows:
        key = (a_kind, a_clerk, a_office, a_region, a_role)
        actor = actors.get(key)
        if actor is None:
            actor = actors[key] = Actor(*key)
        recorded_at = instants.get(recorded_us)
        if recorded_at is None:
            recorded_at = instants[recorded_us] = _EPOCH + timedelta(microseconds=recorded_us)
        # sqlite3 and psycopg give int for the integer columns and bytes for the binary ones.
        fields = {
            "event_id": event_id, "stream_id": stream_id, "stream_type": stream_type, "version": version,
            "type": type_, "schema_version": schema_version, "payload": payload,
            "occurred_at": _EPOCH + timedelta(microseconds=occurred_us), "recorded_at": recorded_at,
            "region": region, "service": service, "actor": actor, "correlation_id": correlation_id,
            "causation_id": causation_id, "trace": TraceContext(traceparent, tracestate),
            "prev_hash": prev_hash, "hash": hash_, "position": position, "global_hash": global_hash_,
        }
        if DICT_FILL:
            event = new(RecordedEvent)
            set_attribute(event, "__dict__", fields)
            append(event)
        else:
            append(RecordedEvent(**fields))
    return out


def event_to_row(e: RecordedEvent) -> dict[str, Any]:
    return {
        "position": e.position, "event_id": e.event_id, "stream_id": e.stream_id,
        "stream_type": e.stream_type, "version": e.version, "type": e.type,
        "schema_version": e.schema_version, "payload": e.payload,
        "occurred_at_us": to_micros(e.occurred_at), "recorded_at_us": to_micros(e.recorded_at),
        "region": e.region, "service": e.service,
        "actor_kind": e.actor.kind, "actor_clerk_id": e.actor.clerk_id,
        "actor_office_code": e.actor.office_code, "actor_region": e.actor.region, "actor_role": e.actor.role,
        "correlation_id": e.correlation_id, "causation_id": e.causation_id,
        "traceparent": e.trace.traceparent, "tracestate": e.trace.tracestate,
        "prev_hash": e.prev_hash, "hash": e.hash, "global_hash": e.global_hash,
    }


def row_to_event(r: Row[Any]) -> RecordedEvent:
    return RecordedEvent(
        event_id=r.event_id, stream_id=r.stream_id, stream_type=r.stream_type, version=int(r.version),
        type=r.type, schema_version=int(r.schema_version), payload=bytes(r.payload),
        occurred_at=from_micros(int(r.occurred_at_us)), recorded_at=from_micros(int(r.recorded_at_us)),
        region=r.region, service=r.service,
        actor=Actor(kind=r.actor_kind, clerk_id=r.actor_clerk_id, office_code=r.actor_office_code,
                    region=r.actor_region, role=r.actor_role),
        correlation_id=r.correlation_id, causation_id=r.causation_id,
        trace=TraceContext(r.traceparent, r.tracestate),
        prev_hash=bytes(r.prev_hash), hash=bytes(r.hash), position=int(r.position),
        global_hash=bytes(r.global_hash),
    )
