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
from collections.abc import Callable, Sequence
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


# Row encoders remember at most this many combinations of the repeating fields, then start over.
_MEMO_LIMIT = 4_096


def stored_row_hasher() -> Callable[[Sequence[Any]], bytes]:
    """A function giving hash_of(row[21], canonical_bytes_of(row[1:21])) for a whole stored row
    (every `events` column in table order: position, the CANONICAL_FIELDS, prev_hash, hash,
    global_hash), faster over a log. The ten fields that repeat from event to event (the actor's
    five, region, service, stream type, tracestate, type) are encoded once per distinct
    combination and remembered. Only strings are remembered (json's encoder refuses anything else,
    raising as canonical_bytes_of does), so a remembered combination is used only when every one of
    the row's ten values equals its string, and the bytes hashed are canonical_bytes_of's.
    tests/unit/test_canonical_bytes.py holds the two equal."""
    memo: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}
    e, b64, start = encode_basestring, binascii.b2a_base64, _EVENT_SHA.copy

    def row_hash(row: Sequence[Any]) -> bytes:
        (_, event_id, stream_id, stream_type, version, type_, schema_version, payload, occurred_us,
         recorded_us, region, service, a_kind, a_clerk, a_office, a_region, a_role, correlation_id,
         causation_id, traceparent, tracestate, prev_hash, _, _) = row
        key = (a_clerk, a_kind, a_office, a_region, a_role, region, service, stream_type, tracestate, type_)
        parts = memo.get(key)
        if parts is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            parts = memo[key] = _repeating_parts(*key)
        actor, region_, service_, stream_type_, trace_ = parts
        h = start()
        h.update(prev_hash)
        h.update((
            f'{actor}{e(causation_id)},"correlation_id":{e(correlation_id)},"event_id":{e(event_id)},'
            f'"occurred_at_us":{occurred_us},"payload":"{b64(payload, newline=False).decode()}",'
            f'"recorded_at_us":{recorded_us}{region_}{schema_version}{service_}{e(stream_id)}{stream_type_}'
            f'{e(traceparent)}{trace_}{version}}}'
        ).encode())
        return h.digest()

    return row_hash


def _repeating_parts(a_clerk: str, a_kind: str, a_office: str, a_region: str, a_role: str, region: str,
                     service: str, stream_type: str, tracestate: str, type_: str,
                     e: Any = encode_basestring) -> tuple[str, str, str, str, str]:
    """The text around the per-event fields in canonical_bytes_of's layout, in order: up to the
    causation id's value, region to schema_version's value, service to stream_id's value,
    stream_type to traceparent's value, tracestate to version's value."""
    return (f'{{"actor":{{"clerk_id":{e(a_clerk)},"kind":{e(a_kind)},"office_code":{e(a_office)},'
            f'"region":{e(a_region)},"role":{e(a_role)}}},"causation_id":',
            f',"region":{e(region)},"schema_version":',
            f',"service":{e(service)},"stream_id":',
            f',"stream_type":{e(stream_type)},"trace":{{"traceparent":',
            f',"tracestate":{e(tracestate)}}},"type":{e(type_)},"version":')


# SHA-256 states that have already taken each chain's domain prefix: a copy and two or three
# updates cost less than concatenating the input first.
_EVENT_SHA = hashlib.sha256(_EVENT_DOMAIN)
_GLOBAL_SHA = hashlib.sha256(_GLOBAL_DOMAIN)


def hash_of(prev_hash: bytes, canonical: bytes) -> bytes:
    h = _EVENT_SHA.copy()
    h.update(prev_hash)
    h.update(canonical)
    return h.digest()


def event_hash(prev_hash: bytes, event: RecordedEvent) -> bytes:
    return hash_of(prev_hash, canonical_bytes(event))


def global_hash(prev_global_hash: bytes, position: int, hash_: bytes) -> bytes:
    h = _GLOBAL_SHA.copy()
    h.update(prev_global_hash)
    h.update(position.to_bytes(8, "big"))
    h.update(hash_)
    return h.digest()
