"""The hash chains (architecture invariant 3).

Per stream:  hash        = SHA-256("tongban.event.v1\\0" || prev_hash || canonical_bytes(event))
Per store:   global_hash = SHA-256("tongban.global.v1\\0" || prev_global_hash || position (8 bytes, big
             endian) || hash)

The first event of a stream, and the first of a store, chain to 32 zero bytes. canonical_bytes is
compact JSON with sorted keys over every provenance field and the payload (base64), so an auditor
can recompute it with any JSON library; it deliberately excludes the store-assigned position and
both hashes.

`canonical_bytes_of` writes those bytes directly from the twenty stored fields, in the order of
CANONICAL_FIELDS (the order of the `events` columns), with the string encoder `json.dumps` itself
uses: the same bytes as `json.dumps(canonical_document(...))`, about four times faster, and the one
path both appends and verification take (tests/unit/test_canonical_bytes.py holds the two equal)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from services.common.events import RecordedEvent, to_micros

GENESIS = bytes(32)
_EVENT_DOMAIN = b"tongban.event.v1\x00"
_GLOBAL_DOMAIN = b"tongban.global.v1\x00"


def canonical_document(event: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "stream_id": event.stream_id,
        "stream_type": event.stream_type,
        "version": event.version,
        "type": event.type,
        "schema_version": event.schema_version,
        "payload": base64.b64encode(event.payload).decode("ascii"),
        "occurred_at_us": to_micros(event.occurred_at),
        "recorded_at_us": to_micros(event.recorded_at),
        "region": event.region,
        "service": event.service,
        "actor": {
            "kind": event.actor.kind,
            "clerk_id": event.actor.clerk_id,
            "office_code": event.actor.office_code,
            "region": event.actor.region,
            "role": event.actor.role,
        },
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "trace": {"traceparent": event.trace.traceparent, "tracestate": event.trace.tracestate},
    }


def canonical_json(event: RecordedEvent) -> bytes:
    """The reference definition: compact, sorted-key JSON of `canonical_document`."""
    return json.dumps(
        canonical_document(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


# The stored fields that make up the canonical document, in the `events` table's column order.
CANONICAL_FIELDS = (
    "event_id", "stream_id", "stream_type", "version", "type", "schema_version", "payload",
    "occurred_at_us", "recorded_at_us", "region", "service", "actor_kind", "actor_clerk_id",
    "actor_office_code", "actor_region", "actor_role", "correlation_id", "causation_id",
    "traceparent", "tracestate",
)


def canonical_bytes_of(fields: Sequence[Any], e: Any = encode_basestring, b64: Any = binascii.b2a_base64) -> bytes:
    """canonical_json's bytes from the fields named by CANONICAL_FIELDS, in that order. Keys are
    written in sorted order; strings through json's own encoder (`ensure_ascii=False`); integers as
    json writes them (`int.__repr__`, which is what an f-string gives an int)."""
    (event_id, stream_id, stream_type, version, type_, schema_version, payload, occurred_us,
     recorded_us, region, service, a_kind, a_clerk, a_office, a_region, a_role, correlation_id,
     causation_id, traceparent, tracestate) = fields
    return (
        f'{{"actor":{{"clerk_id":{e(a_clerk)},"kind":{e(a_kind)},"office_code":{e(a_office)},'
        f'"region":{e(a_region)},"role":{e(a_role)}}},"causation_id":{e(causation_id)},'
        f'"correlation_id":{e(correlation_id)},"event_id":{e(event_id)},'
        f'"occurred_at_us":{occurred_us},'
        f'"payload":"{b64(payload, newline=False).decode()}",'
        f'"recorded_at_us":{recorded_us},"region":{e(region)},'
        f'"schema_version":{schema_version},"service":{e(service)},'
        f'"stream_id":{e(stream_id)},"stream_type":{e(stream_type)},'
        f'"trace":{{"traceparent":{e(traceparent)},"tracestate":{e(tracestate)}}},'
        f'"type":{e(type_)},"version":{version}}}'
    ).encode()


def canonical_fields(event: RecordedEvent) -> tuple[Any, ...]:
    """An event's CANONICAL_FIELDS, in order."""
    a, t = event.actor, event.trace
    return (event.event_id, event.stream_id, event.stream_type, event.version, event.type,
            event.schema_version, event.payload, to_micros(event.occurred_at), to_micros(event.recorded_at),
            event.region, event.service, a.kind, a.clerk_id, a.office_code, a.region, a.role,
            event.correlation_id, event.causation_id, t.traceparent, t.tracestate)


def canonical_bytes(event: RecordedEvent) -> bytes:
    return canonical_bytes_of(canonical_fields(event))


def hash_of(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(_EVENT_DOMAIN + prev_hash + canonical).digest()


def event_hash(prev_hash: bytes, event: RecordedEvent) -> bytes:
    return hash_of(prev_hash, canonical_bytes(event))


def global_hash(prev_global_hash: bytes, position: int, hash_: bytes) -> bytes:
    return hashlib.sha256(_GLOBAL_DOMAIN + prev_global_hash + position.to_bytes(8, "big") + hash_).digest()
